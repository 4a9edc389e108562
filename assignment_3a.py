"""Assignment 3a: fine-tune AlexNet (or VGG16) on WikiArt styles and watch it in TensorBoard.

    python assignment_3a.py --remove-fc 1      # replace fc8 by a 10-way classifier, train it + fc7
    python assignment_3a.py --remove-fc 2      # replace fc7+fc8, train the classifier + fc6
    python assignment_3a.py --model squeezenet # replace conv10 by a 10-way 1x1 conv, train it + fire9
    tensorboard --logdir logs                  # compare the runs (Scalars, Histograms, HParams)

Ctrl-C (or a kill) loses at most the current epoch: `--resume` continues the newest run of
the same --model/--remove-fc (or the one named by --run-name) with the same step numbers.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

# 3: TensorFlow's C++ log stays quiet, also libjpeg's "Premature end of JPEG data" for images the
# run then reports as skipped (errors still arrive as Python exceptions; set TF_VERBOSE=1 to see all).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if os.environ.get("TF_VERBOSE") else "3")

EXIT_ERROR = 1
EXIT_NONFINITE = 3
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    from utilities.finetune.distribute import STRATEGY_CHOICES
    from utilities.finetune.experiment import (
        CACHE_MODES,
        CACHE_PRECISIONS,
        DEFAULT_TRAIN_LIST,
        DEFAULT_VAL_LIST,
        PRECISIONS,
        ExperimentConfig,
    )
    d = ExperimentConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("alexnet", "vgg16", "squeezenet"), default=d.model,
                   help="network (default %(default)s; squeezenet: its 1x1 conv10 is the classifier, 227 px)")
    p.add_argument("--remove-fc", type=int, choices=(1, 2), default=d.remove_fc,
                   help="how many of the last FC layers to replace by a new classifier (default %(default)s; "
                        "squeezenet: 1 only)")
    p.add_argument("--train-layers", type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                   help="comma-separated layers to fine-tune (default: classifier + the FC layer below it)")
    p.add_argument("--weights", default=d.weights,
                   help="imagenet (downloaded once), random, or a weight file path (default %(default)s)")
    p.add_argument("--train-list", type=Path, default=DEFAULT_TRAIN_LIST, help='"path label" list')
    p.add_argument("--val-list", type=Path, default=DEFAULT_VAL_LIST, help='"path label" list')
    p.add_argument("--num-classes", type=int, default=d.num_classes,
                   help="classes of the new classifier (default %(default)s)")
    p.add_argument("--epochs", type=int, default=d.epochs,
                   help="total epochs (with --resume: up to this many) (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="images per step (global, over all devices) (default %(default)s)")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate,
                   help="plain SGD step size (default %(default)s)")
    p.add_argument("--dropout", type=float, default=d.dropout, help="dropout rate after the hidden FC layers")
    p.add_argument("--display-step", type=int, default=d.display_step,
                   help="log scalars and histograms every N batches (default %(default)s)")
    p.add_argument("--logdir", type=Path, default=d.logdir, help="TensorBoard root (default %(default)s)")
    p.add_argument("--checkpoint-dir", type=Path, default=d.checkpoint_dir,
                   help="checkpoints go to <checkpoint-dir>/<run-name> (default %(default)s)")
    p.add_argument("--run-name", help="default <model>_fc<N>_<YYYYmmdd-HHMMSS>")
    p.add_argument("--resume", action="store_true",
                   help="continue the newest run of this --model/--remove-fc (or --run-name)")
    p.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints,
                   help="epoch checkpoints kept per run (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="shuffling, flips, dropout, new layers' initialisation (default %(default)s)")
    p.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                   help="mixed_bfloat16: bf16 compute, float32 variables and logits (default %(default)s)")
    p.add_argument("--cache-features", choices=CACHE_MODES, default=d.cache_features,
                   help="reuse the frozen layers' output across epochs (auto: when only FC layers train)")
    p.add_argument("--cache-precision", choices=CACHE_PRECISIONS, default=d.cache_precision,
                   help="the cache's pass through the frozen layers: bfloat16 (faster on AMX / AVX-512 BF16 "
                        "CPUs and recent GPUs, kept only if its features agree with float32's on the first "
                        "batch), float32, or auto: bfloat16 where such hardware is found (default %(default)s)")
    p.add_argument("--lrn-order", choices=("bvlc", "assignment"),
                   help="AlexNet: LRN before pooling (bvlc, default) or after (the assignment's file)")
    p.add_argument("--no-flip", dest="flip", action="store_false", help="no random horizontal flips")
    p.add_argument("--distribute", choices=STRATEGY_CHOICES, default=d.distribute,
                   help="auto: multi-worker from TF_CONFIG, mirrored over several GPUs, else one device")
    p.add_argument("--explain-every", default=d.explain_every, metavar="{auto,N}",
                   help="Grad-CAM and saliency of a few validation images in TensorBoard before training "
                        "and after every N epochs' validation (0: off; auto: as often as stays within 5%% "
                        "of the training time, before training only when it fits; the last epoch always) "
                        "(default %(default)s)")
    p.add_argument("--explain-images", type=int, default=d.explain_images,
                   help="validation images explained, chosen seeded and stratified by class "
                        "(default %(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return p


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()  # the parser's defaults come from TF-importing modules
    args = build_parser().parse_args(argv)
    import models
    from utilities.finetune import distribute
    from utilities.finetune.checkpointing import CheckpointError
    from utilities.finetune.experiment import Experiment, ExperimentConfig, ExperimentError
    from utilities.finetune.training import NonFiniteLossError

    config = ExperimentConfig(**vars(args))
    experiment = None
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main_thread else None
    try:
        strategy = distribute.select_strategy(config.distribute)
        experiment = Experiment(config, strategy=strategy)
        result = experiment.run()
        print(result.report)
        return 0
    except (ExperimentError, CheckpointError, distribute.DistributeError, models.WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except NonFiniteLossError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NONFINITE
    except distribute.PEER_FAILURES as exc:
        print(f"error: {distribute.peer_failure_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        hint = (f" with: python assignment_3a.py ... --resume --run-name {experiment.run_name}"
                if experiment else "")
        print(f"\ninterrupted: finished epochs are checkpointed; continue{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)


if __name__ == "__main__":
    sys.exit(main())

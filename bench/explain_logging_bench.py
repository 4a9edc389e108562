"""What `assignment_3a.py --explain-every` costs, as a share of the epoch.

    .venv/bin/python bench/explain_logging_bench.py [--train 160] [--val 40] [--epochs 3] [--full]

Three in-process runs of the 3a experiment at its defaults (AlexNet, remove-fc 1, batch 32,
feature cache auto = on, 8 explained images), on generated JPEGs with synthetic
bvlc_alexnet.npy weights in the real format: `--explain-every 1`, the default `auto`, and
`--explain-every 0`. For the steady epochs (2..N; the first one traces the steps) it prints
  epoch          median wall seconds of an epoch with and without explanations (training,
                 validation, explanations, checkpoint: what the user waits for)
  explanations   median seconds of one explanation call after validation, and its share of
                 the epoch with explanations; the end-to-end ratio of the two runs' epochs
  parts          the share of that call spent in the maps (one compiled forward + backward
                 pass), the deletion/insertion curves, and drawing + writing the images
  full lists     the same share extrapolated to the full 3a lists (~3204 training / 801
                 validation images; an epoch's cost is linear in the list sizes, the
                 explanation's is constant), with --full measured instead
  auto           the default: the epochs it explained and what all its explanation calls
                 (before training included) cost as a share of the run's training time
Numbers depend on the machine and its load (compare the ratios).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FULL_TRAIN, FULL_VAL, CLASSES = 3204, 801, 10


def run(work: Path, name: str, weights: Path, train: Path, val: Path, epochs: int, explain_every: int):
    """(steady epoch seconds, the ExplanationLogger or None) of one experiment."""
    import keras

    from utilities.finetune import experiment as experiment_module
    from utilities.finetune.experiment import Experiment, ExperimentConfig

    loggers, schedules = [], []

    class Recorded(experiment_module.ExplanationLogger):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            loggers.append(self)

    class RecordedSchedule(experiment_module.ExplainSchedule):
        def __post_init__(self):
            super().__post_init__()
            schedules.append(self)

    stamps = []

    def echo(line: str) -> None:
        if line.startswith("epoch "):
            stamps.append(time.perf_counter())
        print(f"  [{name}] {line}")

    originals = experiment_module.ExplanationLogger, experiment_module.ExplainSchedule
    experiment_module.ExplanationLogger, experiment_module.ExplainSchedule = Recorded, RecordedSchedule
    try:
        config = ExperimentConfig(weights=str(weights), train_list=train, val_list=val, epochs=epochs,
                                  logdir=work / "logs", checkpoint_dir=work / "ckpt", run_name=name,
                                  progress=False, explain_every=explain_every)
        Experiment(config, echo=echo).run()
    finally:
        experiment_module.ExplanationLogger, experiment_module.ExplainSchedule = originals
        keras.backend.clear_session()
    return ([b - a for a, b in zip(stamps, stamps[1:], strict=False)], (loggers[0] if loggers else None),
            (schedules[0] if schedules else None))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=160, help="generated training images (default %(default)s)")
    parser.add_argument("--val", type=int, default=40, help="generated validation images (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run, >= 2 (default %(default)s)")
    parser.add_argument("--full", action="store_true",
                        help=f"the full 3a list sizes ({FULL_TRAIN} / {FULL_VAL} images) instead")
    parser.add_argument("--auto-only", action="store_true",
                        help="only the default `auto` run (e.g. a 30-epoch run at --full)")
    args = parser.parse_args(argv)
    if args.full:
        args.train, args.val = FULL_TRAIN, FULL_VAL
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch traces the steps)")
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tests.synthetic_weights import alexnet_arrays, write_pickled_npy

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        weights = write_pickled_npy(work / "bvlc_alexnet.npy", alexnet_arrays())
        from bench._images import write_jpegs

        train, val = (write_jpegs(work, count, name=name, seed=seed, size=(400, 300), cells=(6, 8), classes=CLASSES)
                      for count, name, seed in ((args.train, "train", 0), (args.val, "val", 1)))
        _, auto_logger, auto = run(work, "auto", weights, train, val, args.epochs, "auto")
        if not args.auto_only:
            with_epochs, logger, _ = run(work, "explain", weights, train, val, args.epochs, 1)
            without_epochs, _, _ = run(work, "plain", weights, train, val, args.epochs, 0)
    summary = auto.describe().rsplit("; --explain", 1)[0]
    print(f"\nauto            {summary}; {auto.explaining_seconds:.1f} s of explanations (before training included)"
          f" against {auto.training_seconds:.1f} s of training "
          f"({args.train} / {args.val} images, {args.epochs} epochs)")
    for seconds, call_parts in zip(auto_logger.seconds, auto_logger.parts, strict=True):
        print(f"  auto call     {seconds:.2f} s: " + ", ".join(f"{k} {v:.2f} s" for k, v in call_parts.items()))
    if args.auto_only:
        return 0
    epoch_with, epoch_without = statistics.median(with_epochs), statistics.median(without_epochs)
    call = statistics.median(logger.seconds[2:] or logger.seconds[1:])   # [0]: before training, [1]: epoch 1
    parts = {k: statistics.median(p[k] for p in logger.parts[1:]) for k in logger.parts[0]}
    print(f"lists: {args.train} training / {args.val} validation images; AlexNet remove-fc 1, batch 32, "
          f"feature cache on; {len(logger.images)} explained images; steady epochs 2..{args.epochs}")
    print(f"epoch           {epoch_with:.2f} s with explanations, {epoch_without:.2f} s without")
    print(f"explanations    {call:.2f} s per epoch = {100 * call / epoch_with:.1f} % of the epoch "
          f"(end to end: epochs {100 * (epoch_with / epoch_without - 1):+.1f} %)")
    total = sum(parts.values())
    print("parts           " + ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in parts.items()))
    if not args.full:
        scale = (FULL_TRAIN + FULL_VAL) / (args.train + args.val)
        full_epoch = (epoch_with - call) * scale + call
        print(f"full lists      ~{100 * call / full_epoch:.1f} % of an epoch (extrapolated: epoch cost linear in "
              f"the list sizes; measure with --full)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A real pointing game on the real SqueezeNet: the cat on one side, the coffee cup on the other.

`python -m tests.explain_real_table [--weights imagenet|random|PATH] [--methods a,b] [--layout wide|square]`
prints, for every registered explanation method, the share of its map's (non-negative) mass on
the cat's half when explaining a cat class, and on the cup's half when explaining espresso (967),
on two canvases: cat left / cup right, and the mirror arrangement (so a method that simply
prefers one side cannot score). The "peak" column is the pointing game proper (Zhang et al. 2016,
the map's maximum on its object's half), over the same 2 canvases x 2 classes.

Canvases (skimage's chelsea and coffee, read by the project's loader, utilities/explain/images):
- wide (default, and what tests/test_explain_real.py uses): the two 227x227 network inputs side by
  side, 227x454 (SqueezeNet is fully convolutional: each photo is seen at the scale the network
  was trained on; the Grad-CAM map of fire9 is 13x27);
- square: both photos shrunk to 113x113 on a grey 227x227 input (the assignment's input size).

A method that ignores the class scores about the same for the two classes, so its two shares add
up to about 1 and the smaller is at most ~0.5; explaining the model's *class* needs both high.

`--randomisation` prints the model-randomisation sanity check instead (Adebayo et al. 2018,
utilities/explain/metrics/randomisation.py): Spearman correlation of each method's maps of
chelsea (tabby) and coffee (espresso) with its maps on the intact network, as the layers are
randomised top-down (cascade, 4 stages).
"""
from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tests.real_weights import EGYPTIAN_CAT, ESPRESSO, TABBY, TIGER_CAT, photo_file

INPUT = 227
CAT_CLASSES = (TABBY, TIGER_CAT, EGYPTIAN_CAT)
# Per-method settings for the table (cheaper than the CLI defaults; the maps change little).
TABLE_OPTIONS = {"smoothgrad": {"samples": 16}, "smoothgrad_sq": {"samples": 16}, "vargrad": {"samples": 16},
                 "integrated_gradients": {"steps": 16}, "scorecam": {"max_channels": 64}}


def photos(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """skimage's chelsea (cat) and coffee (cup) as 227x227 RGB [0, 1] network inputs."""
    from utilities.explain.images import load_image
    return tuple(load_image(photo_file(name, folder), INPUT).network_input.astype(np.float32)
                 for name in ("chelsea", "coffee"))


def canvases(cat: np.ndarray, cup: np.ndarray, layout: str = "wide") -> np.ndarray:
    """(2, H, W, 3): [cat left | cup right], [cup left | cat right]."""
    if layout == "wide":
        return np.stack([np.concatenate([cat, cup], axis=1), np.concatenate([cup, cat], axis=1)])
    if layout != "square":
        raise ValueError(f"layout must be 'wide' or 'square', got {layout!r}")
    import cv2
    half = INPUT // 2
    small = [cv2.resize(p, (half, half), interpolation=cv2.INTER_AREA) for p in (cat, cup)]
    top = (INPUT - half) // 2
    out = np.full((2, INPUT, INPUT, 3), 0.5, np.float32)
    for k, (left, right) in enumerate((small, small[::-1])):
        out[k, top:top + half, :half] = left
        out[k, top:top + half, INPUT - half:] = right
    return out


def side_shares(maps: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Maps (N, K, h, w) resized to the canvas width -> (share of the positive mass on the left
    half, whether the peak is on the left half), each (N, K). The middle column of an odd width
    counts for neither side."""
    from utilities.explain.base import resize_maps
    maps = np.maximum(np.asarray(maps, np.float32), 0.0)
    n, k, h, _ = maps.shape
    height = max(1, round(h * width / maps.shape[-1]))
    full = resize_maps(maps.reshape(n * k, h, -1), (height, width)).reshape(n, k, height, width)
    full = np.maximum(full, 0.0)
    left = full[..., :width // 2].sum(axis=(-2, -1))
    right = full[..., width - width // 2:].sum(axis=(-2, -1))
    share = left / np.maximum(left + right, 1e-30)
    peak_column = full.reshape(n, k, -1).argmax(axis=-1) % width
    return share, peak_column < width // 2


def localisation(model, methods: Sequence[str], images: np.ndarray, cat_class: int,
                 options: Mapping[str, Mapping] | None = None) -> dict[str, dict[str, float]]:
    """Per method: 'cat' (mean share of the cat class's map on the cat's half over both canvases),
    'cup' (espresso's on the cup's half), 'worst' (the smallest of the four shares), 'peak'
    (fraction of the 4 maps whose maximum is on the right half)."""
    import models
    from utilities.explain.images import unit_rgb_preprocess
    from utilities.explain.registry import build_explainers

    spec = models.get_spec("squeezenet")
    explainers = build_explainers(model, list(methods), unit_rgb_preprocess(spec.preprocess), spec.gradcam_layer,
                                  batch_size=len(images), method_options=options or {})
    classes = np.array([[cat_class, ESPRESSO]] * len(images), np.int32)
    cat_on_left = np.array([True, False])[:len(images)]
    rows = {}
    for name in methods:
        maps = explainers[name].explain(images, classes).maps
        left_share, peak_left = side_shares(maps, images.shape[2])
        # share of each map on its object's half: cat class -> the cat's side, espresso -> the cup's
        on_object = np.stack([np.where(cat_on_left, left_share[:, 0], 1 - left_share[:, 0]),
                              np.where(cat_on_left, 1 - left_share[:, 1], left_share[:, 1])], axis=1)
        peak_hit = np.stack([peak_left[:, 0] == cat_on_left, peak_left[:, 1] != cat_on_left], axis=1)
        rows[name] = {"cat": float(on_object[:, 0].mean()), "cup": float(on_object[:, 1].mean()),
                      "worst": float(on_object.min()), "peak": float(peak_hit.mean())}
    return rows


def format_table(rows: Mapping[str, Mapping[str, float]], cat_class: int) -> str:
    from utilities.common.imagenet_classes import class_names
    names = class_names()
    lines = [f"| method | {names[cat_class]} ({cat_class}) mass on the cat | espresso (967) mass on the cup "
             "| worst of the 4 maps | peak on its object's half |", "|---|---|---|---|---|"]
    lines += [f"| {m} | {r['cat']:.2f} | {r['cup']:.2f} | {r['worst']:.2f} | {r['peak'] * 4:.0f}/4 |"
              for m, r in rows.items()]
    return "\n".join(lines)


def localisation_figure(model, methods: Sequence[str], images: np.ndarray, cat_class: int, dest: Path,
                        options: Mapping[str, Mapping] | None = None) -> Path:
    """The first canvas with each method's map for the cat class and for espresso, overlaid."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    import models
    from utilities.common.figures import save_figure
    from utilities.common.imagenet_classes import class_names
    from utilities.explain.base import normalise_maps, resize_maps
    from utilities.explain.images import unit_rgb_preprocess
    from utilities.explain.registry import build_explainers

    spec, names = models.get_spec("squeezenet"), class_names()
    explainers = build_explainers(model, list(methods), unit_rgb_preprocess(spec.preprocess), spec.gradcam_layer,
                                  batch_size=1, method_options=options or {})
    canvas = images[:1]
    fig = Figure(figsize=(7.2, 1.9 * len(methods)))
    for row, name in enumerate(methods):
        maps = explainers[name].explain(canvas, np.array([[cat_class, ESPRESSO]], np.int32)).maps[0]
        shares, _ = side_shares(maps[None], canvas.shape[2])
        maps = normalise_maps(resize_maps(np.maximum(maps, 0.0), canvas.shape[1:3]))
        for col, (index, share) in enumerate(zip((cat_class, ESPRESSO), (shares[0, 0], 1 - shares[0, 1]),
                                                 strict=True)):
            ax = fig.add_subplot(len(methods), 2, 2 * row + col + 1)
            heat = colormaps["jet"](maps[col])[..., :3]
            ax.imshow(0.5 * canvas[0] + 0.5 * heat)
            side = "cat" if col == 0 else "cup"
            ax.set_title(f"{explainers[name].title}: {names[index]} ({index})\n{share:.0%} of the mass on the {side}",
                         fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, dest)


def randomisation_table(model, methods: Sequence[str], stages: int = 4) -> str:
    """Mean Spearman correlation (chelsea/tabby, coffee/espresso) per method and cascade stage."""
    import models
    from utilities.explain.images import load_image, unit_rgb_preprocess
    from utilities.explain.metrics.randomisation import model_randomisation
    from utilities.explain.registry import explainer_factory

    spec = models.get_spec("squeezenet")
    with tempfile.TemporaryDirectory() as folder:
        images = np.stack([load_image(photo_file(n, Path(folder)), INPUT).network_input
                           for n in ("chelsea", "coffee")])
    factory = explainer_factory(methods, unit_rgb_preprocess(spec.preprocess), spec.gradcam_layer, batch_size=2,
                                method_options=TABLE_OPTIONS)
    result = model_randomisation(model, images, factory, [TABBY, ESPRESSO], stages=stages, seed=0)
    lines = ["| method | " + " | ".join(f"down to {s}" for s in result.stages) + " |",
             "|---" * (len(result.stages) + 1) + "|"]
    lines += [f"| {m} | " + " | ".join(f"{v:.2f}" for v in result.mean(m)) + " |" for m in result.correlations]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    from utilities.common.quiet_tf import import_tensorflow_quietly
    import_tensorflow_quietly()
    import keras

    import models
    from utilities.explain.registry import METHODS

    parser = argparse.ArgumentParser(prog="python -m tests.explain_real_table", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--layout", choices=("wide", "square"), default="wide")
    parser.add_argument("--cat-classes", default=",".join(map(str, CAT_CLASSES)))
    parser.add_argument("--randomisation", action="store_true", help="the sanity check instead")
    parser.add_argument("--figure", type=Path, default=None,
                        help="instead: write the [cat | cup] canvas with each method's maps for the first "
                             "cat class and espresso (PNG)")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    model = models.build_model("squeezenet", args.weights, input_size=None)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.randomisation:
        print(randomisation_table(model, methods))
        return
    with tempfile.TemporaryDirectory() as folder:
        images = canvases(*photos(Path(folder)), layout=args.layout)
    from utilities.explain.images import unit_rgb_preprocess
    probabilities = keras.ops.softmax(model(unit_rgb_preprocess(models.get_spec("squeezenet").preprocess)(images)))
    top = np.argsort(-np.asarray(probabilities), axis=1)[:, :5]
    if args.figure is not None:
        cat_class = int(args.cat_classes.split(",")[0])
        print(localisation_figure(model, methods, images, cat_class, args.figure, TABLE_OPTIONS))
        return
    print(f"SqueezeNet 1.1, weights {args.weights}, {args.layout} canvases {images.shape[1]}x{images.shape[2]}; "
          f"top-5 per canvas: {top.tolist()}")
    for cat_class in (int(c) for c in args.cat_classes.split(",")):
        print()
        print(format_table(localisation(model, methods, images, cat_class, TABLE_OPTIONS), cat_class))


if __name__ == "__main__":
    main()

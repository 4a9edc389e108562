"""The base classes of every explanation method: a model in, one map per (image, class) out.

`Explainer` is the root; `Saliency` is the base of the input-attribution methods (gradients
w.r.t. the input pixels, reduced over channels) and `CAM` the base of the class-activation-map
family (a conv layer's maps weighted per channel). A method subclasses one of them and
overrides one hook (`attribute` or `channel_weights`), as in pytorch-grad-cam.

The assignment's skeleton had `Saliency(graph, session, y, x)` with a `Mask_GEN` method (the
PAIR-code `saliency` library's `CoreSaliency.GetMask`): a tiny base holding the graph and
tensors, one subclass per method. In TF2/Keras 3 there is no graph or session to hold, so
`Explainer(model, preprocess)` holds the model, and

    skeleton                            here
    Saliency(graph, session, y, x)      Explainer(model, preprocess=...)  (y = logits, x = input)
    Mask_GEN(x_value, class)            get_mask(image, class_index) -> (h, w)
    (one tape per image and class)      explain(images, classes | top_k) -> Explanation, batched

`explain` computes the maps of N images x K classes in one traced (tf.function) call per
chunk of `batch_size` images: one forward pass, then the K per-class gradients vectorised
(`GradientTape.batch_jacobian`), never a Python loop of tapes. A subclass implements
`_explain_batch(x, classes)`; `classes` may hold `RANKED` placeholders that the subclass
resolves from its own forward pass (`resolve_classes`), so "explain the top-3" costs no
extra prediction pass. Models must output logits (un-normalised class scores).

Methods that can work from one shared pass say what they need (`needs`: a conv layer's
activations and/or their class gradients, or the class gradient w.r.t. the input) and turn a
`Record` of that pass into maps (`maps_from`); `utilities/explain/engine.py` then explains a
batch with several methods from one forward pass and one backward pass to the input.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from utilities.explain._graph import last_spatial_layer, tap_model


class ExplainSetupError(ValueError):
    """Bad folder, method list or layer: nothing was explained; str() is a one-line reason."""


RANKED = -1
"""Placeholder class index: "the k-th ranked class" for column k of `classes`."""

Preprocess = Callable[[tf.Tensor], tf.Tensor]


@dataclass
class Explanation:
    """What `Explainer.explain` returns, all numpy: N images, K classes each."""

    logits: np.ndarray   # (N, num_classes) float32, from the same forward pass as the maps
    classes: np.ndarray  # (N, K) int32, the explained classes (ranked when top_k was used)
    maps: np.ndarray     # (N, K, h, w) float32, raw: not resized, not normalised


@dataclass(frozen=True)
class Needs:
    """What a method takes from a shared pass (see `utilities/explain/engine.py`)."""

    layer: str | None = None          # record this layer's activations (N, h, w, c)
    layer_gradients: bool = False     # and d score_k / d activations for every explained class
    input_gradients: bool = False     # d score / d input for the top-1 class


@dataclass(frozen=True)
class Record:
    """Tensors of one shared forward/backward pass over a batch, all float32."""

    x: tf.Tensor                             # (N, H, W, C) what the user passed
    logits: tf.Tensor                        # (N, num_classes)
    classes: tf.Tensor                       # (N, K) int32, the explained classes
    activations: tf.Tensor | None = None     # (N, h, w, c) of Needs.layer
    layer_gradients: tf.Tensor | None = None  # (N, K, h, w, c)
    input_gradients: tf.Tensor | None = None  # (N, 1, H, W, C), for classes[:, 0]


def resolve_classes(logits: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
    """Replace each RANKED entry of `classes` (N, K) by the k-th ranked class of `logits`."""
    k = tf.shape(classes)[1]
    ranked = tf.math.top_k(logits, k=k).indices
    return tf.where(classes < 0, ranked, classes)


def selected_logits(logits: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
    """logits[n, classes[n, k]] -> (N, K) float32 (mixed-precision models give bf16/fp16)."""
    return tf.gather(tf.cast(logits, tf.float32), classes, batch_dims=1)


class Explainer:
    """Holds a model; subclasses turn (images, classes) into raw maps.

    Args:
        model: a built functional or Sequential Keras 3 model returning logits; never modified.
        preprocess: applied inside the traced computation to what you pass as images, so
            gradients are taken w.r.t. *your* input (e.g. RGB in [0, 1], as in the assignment)
            rather than the model's preprocessed input. None: images are model inputs.
        batch_size: images per traced call (memory bound: each image costs K backward passes).
    """

    name = "explainer"
    title = "Explanation"

    def __init__(self, model: keras.Model, preprocess: Preprocess | None = None,
                 batch_size: int = 8):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.preprocess = preprocess
        self.batch_size = batch_size
        self._traced = tf.function(self._explain_batch, reduce_retracing=True)

    # --- to implement -------------------------------------------------------------------
    def _explain_batch(self, x: tf.Tensor, classes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(images (N,H,W,C), classes (N,K) maybe RANKED) -> (logits, resolved classes, maps (N,K,h,w))."""
        raise NotImplementedError

    # --- shared helpers ---------------------------------------------------------------------
    def model_input(self, x: tf.Tensor) -> tf.Tensor:
        """What the model receives for user input `x`."""
        return x if self.preprocess is None else self.preprocess(x)

    def logits(self, x: tf.Tensor) -> tf.Tensor:
        return self.model(self.model_input(x), training=False)

    # --- sharing one pass (utilities/explain/engine.py) ------------------------------------
    def needs(self) -> Needs | None:
        """What this method can take from a shared pass; None: it runs its own passes."""
        return None

    def maps_from(self, record: Record) -> tf.Tensor:
        """Maps (N, K, h, w) from a shared pass that recorded what `needs` asked for."""
        raise NotImplementedError

    # --- public API -----------------------------------------------------------------------
    def explain(self, images, classes=None, top_k: int = 1) -> Explanation:
        """Maps for `images` (N,H,W,C) and `classes` (N,K) ints, or the `top_k` ranked classes.

        `classes` may also be a single int (same class for every image) or a length-N vector.
        """
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or not len(images):
            raise ValueError(f"images must be a non-empty batch (N, H, W, C), got shape {images.shape}")
        classes = self._class_matrix(classes, len(images), top_k)
        parts = [self._traced(tf.constant(images[i:i + self.batch_size]),
                              tf.constant(classes[i:i + self.batch_size]))
                 for i in range(0, len(images), self.batch_size)]
        logits, resolved, maps = (np.concatenate([p[j].numpy() for p in parts]) for j in range(3))
        return Explanation(logits.astype(np.float32), resolved.astype(np.int32),
                           maps.astype(np.float32))

    def get_mask(self, image, class_index: int | None = None) -> np.ndarray:
        """One image (H,W,C) -> raw map (h, w) for `class_index` (None: the top class).

        The skeleton's `Mask_GEN`.
        """
        image = np.asarray(image, dtype=np.float32)[None]
        classes = None if class_index is None else [[class_index]]
        return self.explain(image, classes, top_k=1).maps[0, 0]

    @staticmethod
    def _class_matrix(classes, n: int, top_k: int) -> np.ndarray:
        if classes is None:
            if top_k < 1:
                raise ValueError(f"top_k must be >= 1, got {top_k}")
            return np.full((n, top_k), RANKED, dtype=np.int32)
        classes = np.asarray(classes, dtype=np.int32)
        if classes.ndim == 0:
            classes = np.full((n, 1), classes, dtype=np.int32)
        elif classes.ndim == 1:
            classes = classes[:, None]
        if classes.shape[0] != n:
            raise ValueError(f"classes has {classes.shape[0]} rows for {n} images")
        return classes


CHANNEL_REDUCTIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "max": lambda a: tf.reduce_max(tf.abs(a), axis=-1),   # handout: max_c |w_hwc|
    "sum": lambda a: tf.reduce_sum(tf.abs(a), axis=-1),   # skeleton helper: sum_c |w_hwc|
}


class Saliency(Explainer):
    """Base for input attributions: `attribute` -> (N,K,H,W,C), reduced over channels.

    Args:
        reduction: "max" (default) or "sum" of |attribution| over the colour channels.
    """

    name = "saliency"
    title = "Saliency"

    def __init__(self, model: keras.Model, preprocess: Preprocess | None = None,
                 batch_size: int = 8, reduction: str = "max"):
        if reduction not in CHANNEL_REDUCTIONS:
            raise ValueError(f"reduction must be one of {sorted(CHANNEL_REDUCTIONS)}, got '{reduction}'")
        self.reduction = reduction
        super().__init__(model, preprocess, batch_size)

    def attribute(self, x: tf.Tensor, classes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(logits, resolved classes, per-channel attributions (N,K,H,W,C))."""
        raise NotImplementedError

    def input_gradients(self, x: tf.Tensor, classes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """d logit[n, class[n,k]] / d x[n] for every (n, k) from one forward pass.

        The K backward passes are vectorised by `batch_jacobian` (images are independent in
        a batch at inference), so the cost is one forward + K backward passes per image.
        """
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            logits = self.logits(x)
            classes = resolve_classes(tf.cast(logits, tf.float32), classes)
            scores = selected_logits(logits, classes)
        return logits, classes, tape.batch_jacobian(scores, x)

    def _explain_batch(self, x, classes):
        logits, classes, attributions = self.attribute(x, classes)
        return logits, classes, CHANNEL_REDUCTIONS[self.reduction](attributions)


class CAM(Explainer):
    """Base for class activation maps over the layer `layer` (None: last 4-D layer).

    `layer` may name a layer inside a nested model ("block5_conv3" or "vgg16/block5_conv3").
    """

    name = "cam"
    title = "CAM"
    needs_gradients = True

    def __init__(self, model: keras.Model, layer: str | None = None,
                 preprocess: Preprocess | None = None, batch_size: int = 8):
        self.layer = layer or last_spatial_layer(model)
        self.tapped = tap_model(model, self.layer)
        if len(self.tapped.outputs[0].shape) != 4:
            raise ValueError(f"layer '{self.layer}' output has shape {self.tapped.outputs[0].shape}; "
                             "CAM needs a 4-D (batch, h, w, channels) conv layer")
        super().__init__(model, preprocess, batch_size)

    def channel_weights(self, x: tf.Tensor, activations: tf.Tensor, gradients: tf.Tensor | None,
                        classes: tf.Tensor) -> tf.Tensor:
        """Weights (N, K, c) of the layer's channels for each explained class, or (N, K, h, w, c)
        for methods that weight each location separately (LayerCAM)."""
        raise NotImplementedError

    def combine(self, x: tf.Tensor, activations: tf.Tensor, gradients: tf.Tensor | None,
                classes: tf.Tensor) -> tf.Tensor:
        """cam = ReLU(sum_k w_k A^k) -> (N, K, h, w)."""
        weights = self.channel_weights(x, activations, gradients, classes)
        if weights.shape.rank == 5:
            return tf.nn.relu(tf.reduce_sum(activations[:, None] * weights, axis=-1))
        return tf.nn.relu(tf.einsum("nhwc,nkc->nkhw", activations, weights))

    def needs(self) -> Needs:
        return Needs(layer=self.layer, layer_gradients=self.needs_gradients)

    def maps_from(self, record: Record) -> tf.Tensor:
        return self.combine(record.x, record.activations, record.layer_gradients, record.classes)

    def layer_maps(self, x: tf.Tensor, classes: tf.Tensor):
        """(logits, resolved classes, activations (N,h,w,c) fp32, gradients (N,K,h,w,c) or None)."""
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)  # records the forward pass; only the head is differentiated below
            activations, logits = self.tapped(self.model_input(x), training=False)
            classes = resolve_classes(tf.cast(logits, tf.float32), classes)
            scores = selected_logits(logits, classes)
        gradients = None
        if self.needs_gradients:
            gradients = tf.cast(tape.batch_jacobian(scores, activations), tf.float32)
        return logits, classes, tf.cast(activations, tf.float32), gradients

    def _explain_batch(self, x, classes):
        logits, classes, activations, gradients = self.layer_maps(x, classes)
        return logits, classes, self.combine(x, activations, gradients, classes)


def normalise_maps(maps, epsilon: float = 1e-8) -> np.ndarray:
    """Scale non-negative maps to [0, 1] over their last two axes; all-zero maps stay 0 (no NaN)."""
    maps = np.asarray(maps, dtype=np.float32)
    peak = maps.max(axis=(-2, -1), keepdims=True)
    return maps / np.maximum(peak, epsilon)


def resize_maps(maps, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of maps (..., h, w) to (..., height, width)."""
    maps = np.asarray(maps, dtype=np.float32)
    lead, (h, w) = maps.shape[:-2], maps.shape[-2:]
    flat = tf.constant(maps.reshape((-1, h, w, 1)))
    resized = tf.image.resize(flat, size, method="bilinear").numpy()
    return resized.reshape(lead + tuple(size))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits (float64, numerically safe)."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)

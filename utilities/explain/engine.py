"""Explain a batch with several methods from one shared pass.

Running each method on its own repeats the expensive part: every explainer does its own
forward pass, and saliency's backward pass to the input is the costliest step of all. Here
one traced call per chunk of images does

    one forward pass (recording the conv layer the class-map methods need, and the logits),
    the ranking (top-k) from those logits,
    d score_k / d A for the top-k classes (Grad-CAM family: only the head is differentiated),
    d score_1 / d x for the top-1 class (saliency, Gradient x Input: one full backward pass),

and every method that declares what it `needs` builds its maps from that `Record`. Methods
that need passes of their own (SmoothGrad, Integrated Gradients, guided backprop, Score-CAM's
masked inputs, occlusion...) still run inside the same traced call, on the shared ranking,
so nothing is ranked twice. The maps are the ones each method's own `explain` gives.

Tracing that call costs seconds (0.7 s for SqueezeNet, ~2.5 s for VGG16 on 2 CPU cores): a
program that explains several folders with the same model in one process gets the traced
pass back from `cached_pass` instead of tracing it again (`forget_passes` drops them).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from utilities.explain.base import CAM, Explainer, Needs, Record, selected_logits


@dataclass
class SharedExplanation:
    """What `SharedPass.explain` returns, all numpy."""

    logits: np.ndarray            # (N, num_classes) float32
    classes: np.ndarray           # (N, top_k) int32, ranked
    maps: dict[str, np.ndarray]   # method -> (N, top_k for class maps or 1, h, w) float32, raw


class SharedPass:
    """Several explainers of one model (same preprocessing) over the same batches.

    Class-map methods (`CAM` subclasses) explain the `top_k` ranked classes, every other
    method the top-1 class, as `assignment_3b.py` shows them.
    """

    def __init__(self, explainers: Mapping[str, Explainer], top_k: int = 3, batch_size: int = 8):
        if not explainers:
            raise ValueError("SharedPass needs at least one explainer")
        first = next(iter(explainers.values()))
        if any(e.model is not first.model or e.preprocess is not first.preprocess for e in explainers.values()):
            raise ValueError("every explainer of a SharedPass must hold the same model and preprocess")
        self.explainers = dict(explainers)
        self.model, self.preprocess = first.model, first.preprocess
        self.top_k = max(1, min(top_k, int(first.model.outputs[0].shape[-1])))
        self.batch_size = batch_size
        needs = {name: e.needs() for name, e in self.explainers.items()}
        layers = [n.layer for n in needs.values() if n is not None and n.layer is not None]
        self.layer = layers[0] if layers else None
        self.shared = {name: need for name, need in needs.items() if need is not None
                       and (need.layer is None or need.layer == self.layer)}
        cams = [self.explainers[name] for name, need in self.shared.items() if need.layer is not None]
        self.tapped = cams[0].tapped if cams else None
        self._traced = tf.function(self._batch)
        self._compiled: dict[tuple, tf.types.experimental.ConcreteFunction] = {}

    def classes_for(self, name: str) -> int:
        return self.top_k if isinstance(self.explainers[name], CAM) else 1

    def explain(self, images) -> SharedExplanation:
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or not len(images):
            raise ValueError(f"images must be a non-empty batch (N, H, W, C), got shape {images.shape}")
        run = self._compiled_for(images.shape[1:])
        parts = [run(tf.constant(images[i:i + self.batch_size])) for i in range(0, len(images), self.batch_size)]
        logits = np.concatenate([p[0].numpy() for p in parts]).astype(np.float32)
        classes = np.concatenate([p[1].numpy() for p in parts]).astype(np.int32)
        maps = {name: np.concatenate([p[2][name].numpy() for p in parts]).astype(np.float32)
                for name in self.explainers}
        return SharedExplanation(logits, classes, maps)

    def _compiled_for(self, image_shape: tuple) -> tf.types.experimental.ConcreteFunction:
        """One trace per image size, for any batch size: a last, partial batch is not traced again."""
        key = tuple(int(d) for d in image_shape)
        if key not in self._compiled:
            self._compiled[key] = self._traced.get_concrete_function(tf.TensorSpec((None, *key), tf.float32))
        return self._compiled[key]

    def _batch(self, x: tf.Tensor):
        wants = Needs(layer=self.layer,
                      layer_gradients=any(n.layer_gradients for n in self.shared.values()),
                      input_gradients=any(n.input_gradients for n in self.shared.values()))
        with tf.GradientTape(persistent=wants.layer_gradients and wants.input_gradients,
                             watch_accessed_variables=False) as tape:
            tape.watch(x)
            model_input = x if self.preprocess is None else self.preprocess(x)
            if self.tapped is not None:
                activations, logits = self.tapped(model_input, training=False)
            else:
                activations, logits = None, self.model(model_input, training=False)
            classes = tf.math.top_k(tf.cast(logits, tf.float32), k=self.top_k).indices
            scores = selected_logits(logits, classes)
            top1 = tf.reduce_sum(scores[:, 0])  # images are independent: d/dx of the sum is per image
        layer_gradients = input_gradients = None
        if wants.layer_gradients:
            layer_gradients = tf.cast(tape.batch_jacobian(scores, activations), tf.float32)
        if wants.input_gradients:
            input_gradients = tf.cast(tape.gradient(top1, x), tf.float32)[:, None]
        record = Record(x, tf.cast(logits, tf.float32), classes,
                        None if activations is None else tf.cast(activations, tf.float32),
                        layer_gradients, input_gradients)
        maps = {}
        for name, explainer in self.explainers.items():
            k = self.classes_for(name)
            if name in self.shared:
                narrowed = record if k == self.top_k else _narrowed(record, k)
                maps[name] = tf.cast(explainer.maps_from(narrowed), tf.float32)
            else:
                maps[name] = tf.cast(explainer._explain_batch(x, classes[:, :k])[2], tf.float32)
        return record.logits, classes, maps


def _narrowed(record: Record, k: int) -> Record:
    """The record for the first k classes only."""
    gradients = None if record.layer_gradients is None else record.layer_gradients[:, :k]
    return Record(record.x, record.logits, record.classes[:, :k], record.activations, gradients,
                  record.input_gradients)


PASS_CACHE_SIZE = 2
"""Traced passes kept (the most recently used). Each keeps its model alive while it is kept."""
_passes: OrderedDict[tuple, SharedPass] = OrderedDict()
_passes_lock = threading.Lock()


def cached_pass(model, key: Hashable, build: Callable[[], SharedPass]) -> SharedPass:
    """The SharedPass of `model` for `key`, built by `build()` the first time, then the same object
    (its traced functions included) while it is among the PASS_CACHE_SIZE most recently used.

    `key` must hold everything the traced call depends on besides the model: methods, layer,
    top-k, batch size, preprocessing, method settings. Weights are read when the pass runs, not
    when it is traced, so a model whose weights changed in between gets maps of its new weights.
    """
    entry_key = (id(model), key)
    try:
        hash(entry_key)
    except TypeError:          # e.g. a preprocessing object that cannot be hashed: no caching
        return build()
    with _passes_lock:
        shared = _passes.get(entry_key)
        if shared is not None and shared.model is model:   # a kept pass holds its model: ids are not reused
            _passes.move_to_end(entry_key)
            return shared
    shared = build()
    with _passes_lock:
        _passes[entry_key] = shared
        _passes.move_to_end(entry_key)
        while len(_passes) > PASS_CACHE_SIZE:
            _passes.popitem(last=False)
    return shared


def forget_passes() -> None:
    """Drop every kept pass (and with it the models they keep alive)."""
    with _passes_lock:
        _passes.clear()

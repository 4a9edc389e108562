"""Layers the original AlexNet needs and Keras does not ship: LRN and a BVLC-style grouped conv."""
from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="models")
class LocalResponseNormalization(keras.layers.Layer):
    """Caffe/TF1 local response normalisation across channels (`tf.nn.local_response_normalization`).

    Defaults are the ones of the assignment's AlexNet: depth_radius 2, alpha 2e-5, beta 0.75,
    bias 1 (TF's alpha is Caffe's alpha / size, hence 2e-5 rather than 1e-4).
    """

    def __init__(self, depth_radius: int = 2, alpha: float = 2e-5, beta: float = 0.75,
                 bias: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius = depth_radius
        self.alpha = alpha
        self.beta = beta
        self.bias = bias

    def call(self, inputs):
        # LRN has no bfloat16/float16 kernel: compute in float32, hand back the input dtype.
        x = tf.cast(inputs, tf.float32)
        y = tf.nn.local_response_normalization(
            x, depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta)
        return tf.cast(y, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "depth_radius": self.depth_radius, "alpha": self.alpha,
                "beta": self.beta, "bias": self.bias}


GROUPED_IMPLEMENTATIONS = ("split", "native")


@keras.saving.register_keras_serializable(package="models")
class GroupedConv2D(keras.layers.Layer):
    """A 2-D convolution in `groups` independent channel groups, as in the BVLC AlexNet.

    The kernel has the BVLC shape (kh, kw, in_channels // groups, filters), so the arrays
    of `bvlc_alexnet.npy` load unchanged. `implementation="split"` runs one convolution per
    channel slice and concatenates (what the TF1 original did; the default because it was
    never slower than native in bench/models_bench.py, see README); `"native"`
    uses the grouped convolution of `tf.nn.conv2d` (= `keras.layers.Conv2D(groups=...)`).
    """

    def __init__(self, filters: int, kernel_size: int, groups: int = 2, strides: int = 1,
                 padding: str = "same", activation=None, implementation: str = "split",
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if implementation not in GROUPED_IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {GROUPED_IMPLEMENTATIONS}, "
                             f"got {implementation!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.groups = groups
        self.strides = strides
        self.padding = padding.upper()
        self.activation = keras.activations.get(activation)
        self.implementation = implementation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if channels % self.groups or self.filters % self.groups:
            raise ValueError(f"{self.name}: {channels} input channels and {self.filters} filters "
                             f"must both be divisible by groups={self.groups}")
        k = self.kernel_size
        self.kernel = self.add_weight(name="kernel", shape=(k, k, channels // self.groups, self.filters),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)

    def call(self, inputs):
        kernel = tf.cast(self.kernel, inputs.dtype)
        strides = (1, self.strides, self.strides, 1)
        if self.implementation == "native":
            y = tf.nn.conv2d(inputs, kernel, strides, self.padding)
        else:
            xs = tf.split(inputs, self.groups, axis=-1)
            ks = tf.split(kernel, self.groups, axis=-1)
            y = tf.concat([tf.nn.conv2d(x, w, strides, self.padding) for x, w in zip(xs, ks, strict=True)], axis=-1)
        y = tf.nn.bias_add(y, tf.cast(self.bias, y.dtype))
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        def out(size):
            if size is None:
                return None
            if self.padding == "SAME":
                return -(-size // self.strides)
            return (size - self.kernel_size) // self.strides + 1
        return (n, out(h), out(w), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "groups": self.groups, "strides": self.strides, "padding": self.padding.lower(),
                "activation": keras.activations.serialize(self.activation),
                "implementation": self.implementation,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}

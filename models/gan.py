"""DCGAN and conditional DCGAN networks for 32x32 grayscale digits, and the small judge classifier.

The layout is the DCGAN of Radford et al. (2015) as the PyTorch DCGAN example builds it,
at 32x32 (the size DCGAN-on-MNIST code usually resizes MNIST to):

    generator      z (latent_dim) -> 1x1 -> ConvT 4x4/1 (8w) 4x4 -> ConvT 4x4/2 (4w) 8x8
                   -> ConvT 4x4/2 (2w) 16x16 -> ConvT 4x4/2 (1) 32x32 -> tanh
                   (batch norm + ReLU after every ConvT but the last; no biases before a BN)
    discriminator  x 32x32 -> Conv 4x4/2 (w) 16x16 LReLU(0.2) -> Conv 4x4/2 (2w) 8x8 BN LReLU
                   -> Conv 4x4/2 (4w) 4x4 BN LReLU -> Conv 4x4 valid (1) 1x1 -> logit

`w` is `width` (ngf = ndf of the PyTorch code). Weights are drawn from N(0, 0.02), batch-norm scales
from N(1, 0.02) (the paper's initialisation); batch norm uses PyTorch's momentum 0.1 and
epsilon 1e-5 (Keras: momentum=0.9). The discriminator returns a logit: losses use the
numerically stable `sigmoid_cross_entropy_with_logits` form instead of a sigmoid layer.

Conditional variants (cDCGAN) take a one-hot label as a second input, concatenated where each
network starts (Mirza & Osindero's conditioning on the DCGAN layout): the generator's input is
[z, y] (latent_dim + 10 values), the discriminator's is the image with ten constant 32x32
planes, plane y all ones. (Embedding z and y in two separate first layers, as a popular cDCGAN
code does, let the generator ignore z on the 1,347 bundled digits: one image per digit.)
"""
from __future__ import annotations

import keras

IMAGE_SIZE = 32
CHANNELS = 1
NUM_CLASSES = 10
INIT_STDDEV = 0.02
BN_MOMENTUM = 0.9  # PyTorch's momentum=0.1
BN_EPSILON = 1e-5
LEAKY_SLOPE = 0.2


def _conv_init() -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(0.0, INIT_STDDEV)


def _batch_norm(name: str) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name,
                                           gamma_initializer=keras.initializers.RandomNormal(1.0, INIT_STDDEV))


def _up(x, filters: int, name: str, strides: int = 2, padding: str = "same"):
    """ConvT 4x4 -> batch norm -> ReLU (no bias: the batch norm's beta plays its part)."""
    x = keras.layers.Conv2DTranspose(filters, 4, strides=strides, padding=padding, use_bias=False,
                                     kernel_initializer=_conv_init(), name=name)(x)
    x = _batch_norm(f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _down(x, filters: int, name: str, batch_norm: bool = True):
    """Conv 4x4 stride 2 -> (batch norm) -> LeakyReLU(0.2)."""
    x = keras.layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=not batch_norm,
                            kernel_initializer=_conv_init(), name=name)(x)
    if batch_norm:
        x = _batch_norm(f"{name}_bn")(x)
    return keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"{name}_lrelu")(x)


def build_generator(latent_dim: int = 100, width: int = 32, num_classes: int | None = None) -> keras.Model:
    """z (N, latent_dim) [, one-hot label (N, num_classes)] -> images (N, 32, 32, 1) in [-1, 1]."""
    z = keras.Input((latent_dim,), name="z")
    inputs, code = z, z
    if num_classes:
        label = keras.Input((num_classes,), name="label")
        inputs, code = [z, label], keras.layers.Concatenate(name="z_label")([z, label])
    x = keras.layers.Reshape((1, 1, code.shape[-1]), name="z_map")(code)
    x = _up(x, 8 * width, "g_z", strides=1, padding="valid")
    x = _up(x, 4 * width, "g_up1")
    x = _up(x, 2 * width, "g_up2")
    x = keras.layers.Conv2DTranspose(CHANNELS, 4, strides=2, padding="same", kernel_initializer=_conv_init(),
                                     name="g_out")(x)
    image = keras.layers.Activation("tanh", name="g_tanh", dtype="float32")(x)
    return keras.Model(inputs, image, name="cdcgan_generator" if num_classes else "dcgan_generator")


def build_discriminator(width: int = 32, num_classes: int | None = None) -> keras.Model:
    """images (N, 32, 32, 1) [, one-hot label (N, num_classes)] -> real/fake logit (N, 1)."""
    image = keras.Input((IMAGE_SIZE, IMAGE_SIZE, CHANNELS), name="image")
    inputs, x = image, image
    if num_classes:
        label = keras.Input((num_classes,), name="label")
        planes = keras.layers.Reshape((1, 1, num_classes), name="label_map")(label)
        planes = keras.layers.UpSampling2D(IMAGE_SIZE, name="label_planes")(planes)
        inputs, x = [image, label], keras.layers.Concatenate(name="image_label")([image, planes])
    x = _down(x, width, "d_image", batch_norm=False)
    x = _down(x, 2 * width, "d_down1")
    x = _down(x, 4 * width, "d_down2")
    x = keras.layers.Conv2D(1, 4, padding="valid", kernel_initializer=_conv_init(), name="d_out")(x)
    logit = keras.layers.Flatten(name="logit", dtype="float32")(x)
    return keras.Model(inputs, logit, name="cdcgan_discriminator" if num_classes else "dcgan_discriminator")


def build_digit_classifier(num_classes: int = NUM_CLASSES, width: int = 16) -> keras.Model:
    """The judge of sample quality: images (N, 32, 32, 1) in [-1, 1] -> class logits.

    Small on purpose (trained once per data set in seconds on a CPU): two Conv-ReLU-MaxPool
    stages, dropout, a dense layer; random shifts of up to 2 pixels in training so that it does
    not depend on a digit sitting exactly where the data set centres it.
    """
    image = keras.Input((IMAGE_SIZE, IMAGE_SIZE, CHANNELS), name="image")
    x = keras.layers.RandomTranslation(2 / IMAGE_SIZE, 2 / IMAGE_SIZE, fill_mode="constant", fill_value=-1.0,
                                       name="shift")(image)
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return keras.Model(image, logits, name="digit_classifier")

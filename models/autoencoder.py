"""A symmetric convolutional autoencoder (CS 4/510 PA4, exercise 1) with a small Dense bottleneck.

    encoder  x (S, S, C) -> Conv2D(w1) ReLU -> MaxPool -> Conv2D(w2) ReLU -> MaxPool -> Conv2D(w3) ReLU
             -> Flatten -> Dense(latent_dim)                                         = the code
    decoder  code -> Dense ReLU -> Reshape -> Conv2D(w3) ReLU -> UpSampling -> Conv2D(w2) ReLU
             -> UpSampling -> Conv2D(w1) ReLU -> Conv2D(C) sigmoid                   = the image

`filters` are the encoder's widths in order; a 2x2 max-pool follows each of the first `pools`
convolutions (default: every one but the last, so 28 -> 14 -> 7 with three). The decoder is the
encoder read backwards, a MaxPool becoming an UpSampling2D, with the same widths, plus the
sigmoid output convolution; `symmetry_problems` checks that on the built models, and the builder
refuses anything it flags. The input size must be divisible by 2**pools, else the upsampling
could not give back the input size (28 allows two poolings: 28 / 4 = 7, not three: 28 / 8).
All convolutions are 3x3 'same'. The code is linear by default: a ReLU on two units often leaves
one of them dead (always 0), which turns the 2-D map into a line; `code_activation="relu"` gives
the handout's "ReLU everywhere".
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras

KERNEL_SIZE = 3


class ArchitectureError(ValueError):
    """The widths / poolings / code size cannot make a symmetric autoencoder for this input."""


@dataclass(frozen=True)
class ConvAutoencoder:
    """Three models over the same layers: image -> code, code -> image, image -> image."""

    encoder: keras.Model
    decoder: keras.Model
    autoencoder: keras.Model


def default_pools(filters: Sequence[int]) -> int:
    """One 2x2 max-pool after every convolution but the last."""
    return max(len(filters) - 1, 0)


def check_architecture(input_size: int, filters: Sequence[int], pools: int | None, latent_dim: int) -> int:
    """The number of poolings to use; ArchitectureError naming what cannot work."""
    if not filters:
        raise ArchitectureError("filters: give at least one width")
    bad = [w for w in filters if not isinstance(w, int) or w < 1]
    if bad:
        raise ArchitectureError(f"filters: widths must be positive integers, not {bad[0]!r}")
    if latent_dim < 1:
        raise ArchitectureError(f"latent_dim {latent_dim}: the code needs at least one unit")
    pools = default_pools(filters) if pools is None else pools
    if not 0 <= pools <= len(filters):
        raise ArchitectureError(f"{pools} poolings: give between 0 and {len(filters)} (one per convolution at most)")
    if input_size % 2 ** pools:
        fit = max(p for p in range(pools + 1) if input_size % 2 ** p == 0)
        raise ArchitectureError(
            f"{pools} poolings on a {input_size}x{input_size} input: {input_size} is not divisible by "
            f"{2 ** pools}, so upsampling cannot give back {input_size}x{input_size}; use at most {fit} poolings")
    return pools


def build_autoencoder(input_shape: Sequence[int] = (28, 28, 1), filters: Sequence[int] = (32, 64, 128),
                      latent_dim: int = 2, pools: int | None = None,
                      code_activation: str | None = None) -> ConvAutoencoder:
    """Encoder, decoder and their composition (which shares their layers); see the module docstring."""
    size, _, channels = input_shape
    filters = [int(w) for w in filters]
    pools = check_architecture(size, filters, pools, latent_dim)

    image = keras.Input(tuple(input_shape), name="image")
    x = image
    for i, width in enumerate(filters, start=1):
        x = keras.layers.Conv2D(width, KERNEL_SIZE, padding="same", activation="relu", name=f"enc_conv{i}")(x)
        if i <= pools:
            x = keras.layers.MaxPooling2D(2, name=f"enc_pool{i}")(x)
    map_shape = tuple(x.shape[1:])
    x = keras.layers.Flatten(name="enc_flatten")(x)
    code = keras.layers.Dense(latent_dim, activation=code_activation, name="code")(x)
    encoder = keras.Model(image, code, name="encoder")

    code_in = keras.Input((latent_dim,), name="code_in")
    x = keras.layers.Dense(map_shape[0] * map_shape[1] * map_shape[2], activation="relu", name="dec_dense")(code_in)
    x = keras.layers.Reshape(map_shape, name="dec_reshape")(x)
    for i in range(len(filters), 0, -1):  # encoder stage i is conv_i [+ pool_i]; its mirror [up_i +] conv_i
        if i <= pools:
            x = keras.layers.UpSampling2D(2, name=f"dec_up{i}")(x)
        x = keras.layers.Conv2D(filters[i - 1], KERNEL_SIZE, padding="same", activation="relu",
                                name=f"dec_conv{i}")(x)
    reconstruction = keras.layers.Conv2D(channels, KERNEL_SIZE, padding="same", activation="sigmoid",
                                         name="reconstruction", dtype="float32")(x)
    decoder = keras.Model(code_in, reconstruction, name="decoder")

    autoencoder = keras.Model(image, decoder(encoder(image)), name="autoencoder")
    problems = symmetry_problems(encoder, decoder)
    if problems:
        raise ArchitectureError("not symmetric: " + "; ".join(problems))
    return ConvAutoencoder(encoder, decoder, autoencoder)


def _stages(model: keras.Model) -> list[tuple]:
    """The conv / resampling layers in order as (kind, width, large side, small side)."""
    stages = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.name != "reconstruction":
            stages.append(("conv", layer.filters, layer.output.shape[1]))
        elif isinstance(layer, keras.layers.MaxPooling2D):
            stages.append(("resample", layer.input.shape[1], layer.output.shape[1]))
        elif isinstance(layer, keras.layers.UpSampling2D):
            stages.append(("resample", layer.output.shape[1], layer.input.shape[1]))
    return stages


def symmetry_problems(encoder: keras.Model, decoder: keras.Model) -> list[str]:
    """What breaks the mirror between `encoder` and `decoder` (empty: symmetric).

    Read backwards, the encoder's convolutions and poolings must be the decoder's convolutions
    (same widths, same map sizes) and upsamplings (same sizes); the decoder's Dense must refill
    the encoder's flattened map; the decoder must return the encoder's input shape.
    """
    problems = []
    forward, backward = _stages(encoder)[::-1], _stages(decoder)
    if forward != backward:
        problems.append(f"encoder stages reversed {forward} differ from decoder stages {backward}")
    if tuple(encoder.input.shape[1:]) != tuple(decoder.output.shape[1:]):
        problems.append(f"input {tuple(encoder.input.shape[1:])} but output {tuple(decoder.output.shape[1:])}")
    flat = encoder.get_layer("enc_flatten").output.shape[-1]
    dense = decoder.get_layer("dec_dense").units
    if flat != dense:
        problems.append(f"the encoder flattens {flat} values, the decoder's Dense makes {dense}")
    if encoder.output.shape[-1] != decoder.input.shape[-1]:
        problems.append(f"code of {encoder.output.shape[-1]} vs decoder input {decoder.input.shape[-1]}")
    return problems

"""Neural style transfer (Gatys et al. 2015; CS7643 A3 part II) on the project's VGG networks and SqueezeNet.

`run_style_transfer(content, style, output, TransferSettings(...))` is what `style_transfer.py`
calls; `stylise` works on arrays; the losses (losses.py) are plain functions checked against
NumPy references in the tests.
"""
from utilities.style_transfer.features import FeatureNetwork, LayerChoiceError, feature_network
from utilities.style_transfer.images import ImageInputError
from utilities.style_transfer.losses import GRAM_NORMALISATIONS, content_loss, gram_matrix, style_loss, tv_loss
from utilities.style_transfer.objective import LossTerms, LossWeights, StyleObjective, reference_weights
from utilities.style_transfer.presets import CONTENT_LAYER, PRESETS, STYLE_LAYERS, Preset, preset_for
from utilities.style_transfer.transfer import (
    INITS,
    TransferInterrupted,
    TransferResult,
    TransferSettings,
    default_output,
    run_style_transfer,
    stylise,
)

__all__ = ["CONTENT_LAYER", "GRAM_NORMALISATIONS", "INITS", "PRESETS", "STYLE_LAYERS", "FeatureNetwork",
           "ImageInputError", "LayerChoiceError", "LossTerms", "LossWeights", "Preset", "StyleObjective",
           "TransferInterrupted", "TransferResult", "TransferSettings", "content_loss", "default_output",
           "feature_network", "gram_matrix", "preset_for", "reference_weights", "run_style_transfer", "style_loss",
           "stylise", "tv_loss"]

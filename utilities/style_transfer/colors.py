"""Luminance-only transfer (Gatys et al. 2016, "Preserving color in neural artistic style transfer").

The picture is split into YIQ: luminance Y and chroma (I, Q). With --preserve-colors the
network sees luminance only (Y repeated on three channels), the style's luminance is first
matched to the content's mean and spread (the paper's histogram matching, first two moments),
the optimiser changes Y alone, and the result is the new Y with the content's own I and Q.
"""
from __future__ import annotations

import numpy as np

RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                       [0.595716, -0.274453, -0.321263],
                       [0.211456, -0.522591, 0.311135]], dtype=np.float64)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB -> (..., 3) YIQ, same scale (0..255 RGB gives Y in 0..255)."""
    return (np.asarray(rgb, np.float64) @ RGB_TO_YIQ.T).astype(np.float32)


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    """Inverse of rgb_to_yiq (not clipped)."""
    return (np.asarray(yiq, np.float64) @ YIQ_TO_RGB.T).astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) RGB -> (h, w, 1) Y."""
    return rgb_to_yiq(rgb)[..., :1]


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
    """Shift and scale the style's luminance to the content's mean and standard deviation."""
    spread = float(style_y.std()) or 1.0
    matched = (style_y - style_y.mean()) * (float(content_y.std()) / spread) + content_y.mean()
    return np.clip(matched, 0.0, 255.0).astype(np.float32)


def with_content_chroma(y: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """Combine luminance `y` (h, w, 1) with the chroma of `content_rgb`; RGB clipped to 0..255."""
    yiq = rgb_to_yiq(content_rgb)
    yiq[..., :1] = y
    return np.clip(yiq_to_rgb(yiq), 0.0, 255.0)

"""The pointing game (Zhang et al. 2016): does a map's peak fall on the object?

A hit is when the maximum of the explanation map lies inside the object's bounding box
(optionally grown by `tolerance` pixels, as the original's 15 px at ImageNet scale). The
hit rate is compared with chance: a uniformly random peak hits with probability
box area / image area, averaged over the images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from utilities.explain.base import resize_maps


@dataclass
class PointingResult:
    hits: np.ndarray      # (N,) bool
    hit_rate: float
    chance: float         # expected hit rate of a uniformly random peak

    def __str__(self) -> str:
        return f"pointing game {self.hit_rate:.0%} (chance {self.chance:.0%}, n={len(self.hits)})"


def peak_positions(maps: np.ndarray) -> np.ndarray:
    """(N, h, w) -> (N, 2) (row, col) of each map's maximum (first one on ties)."""
    maps = np.asarray(maps)
    flat = maps.reshape(len(maps), -1).argmax(axis=1)
    return np.stack(np.unravel_index(flat, maps.shape[1:]), axis=1)


def _grown(boxes: np.ndarray, tolerance: int, image_size: tuple[int, int]) -> np.ndarray:
    """Boxes (top, left, bottom, right), bottom/right exclusive, grown and clipped to the image."""
    height, width = image_size
    grown = np.asarray(boxes, dtype=np.int64) + np.array([-tolerance, -tolerance, tolerance, tolerance])
    return np.clip(grown, 0, [height, width, height, width])


def pointing_game(maps: np.ndarray, boxes: np.ndarray, image_size: tuple[int, int],
                  tolerance: int = 0) -> PointingResult:
    """Hit rate of `maps` (N, h, w), bilinearly resized to `image_size` when needed."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.shape[1:] != tuple(image_size):
        maps = resize_maps(maps, image_size)
    grown = _grown(boxes, tolerance, image_size)
    rows, cols = peak_positions(maps).T
    hits = (rows >= grown[:, 0]) & (rows < grown[:, 2]) & (cols >= grown[:, 1]) & (cols < grown[:, 3])
    areas = (grown[:, 2] - grown[:, 0]) * (grown[:, 3] - grown[:, 1])
    chance = float(np.mean(areas / (image_size[0] * image_size[1])))
    return PointingResult(hits, float(hits.mean()), chance)

"""Generated JPEGs for the benches: smooth colour fields plus noise, and a "path label" list."""
from __future__ import annotations

from pathlib import Path


def write_jpegs(folder: Path, count: int, *, name: str = "", seed: int = 0, size: tuple[int, int] = (800, 600),
                cells: tuple[int, int] = (12, 16), classes: int = 10, list_name: str | None = None,
                relative: bool = False) -> Path:
    """`count` JPEGs of `size` (width, height) in `folder`, named `<name><i>.jpg`, labels i % classes.

    Each picture is a (rows, cols) = `cells` grid of random colours, cubic-resized (a smooth
    field, so JPEG sizes are realistic), plus Gaussian noise (sigma 12), quality 90. The list
    (`<list_name or name>.txt`) names the files by absolute path, or by file name with `relative`.
    """
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    lines = []
    for i in range(count):
        small = rng.integers(0, 256, (*cells, 3), dtype=np.uint8)
        picture = cv2.resize(small, size, interpolation=cv2.INTER_CUBIC)
        picture = np.clip(picture + rng.normal(0, 12, picture.shape), 0, 255).astype(np.uint8)
        path = folder / f"{name}{i}.jpg"
        cv2.imwrite(str(path), picture, [cv2.IMWRITE_JPEG_QUALITY, 90])
        lines.append(f"{path.name if relative else path} {i % classes}\n")
    list_file = folder / f"{list_name or name}.txt"
    list_file.write_text("".join(lines))
    return list_file

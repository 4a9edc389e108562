"""File names made from what a figure shows: method, layer, class (`chelsea_gradcam_fire9_concat_285-Egyptian_Mau.png`).

Parts are UTF-8 text that every file system takes: letters and digits of any script, '-', '.',
'+' and U+FFFD (what stands for bytes that were not UTF-8, as in assignment_3b's stems); anything
else (spaces, '/', quotes, control characters) becomes '_'. A name longer than `MAX_NAME_BYTES`
in UTF-8 is cut and ends with a short hash of the whole name, so two different long names stay
different.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from utilities.explain.images import display_name

MAX_NAME_BYTES = 200   # well under the 255 bytes most file systems allow for one name
_UNSAFE = re.compile(r"[^\w\-.+\ufffd]+")   # \w: letters and digits of any script


def safe_part(text: str) -> str:
    """`text` with runs of unsafe characters as one '_', no leading dots or underscores ('_' if empty)."""
    part = _UNSAFE.sub("_", display_name(text)).strip("_").lstrip(".")
    return part or "_"


def class_part(index: int, name: str) -> str:
    """`285-Egyptian_Mau`."""
    return f"{index}-{safe_part(name)}"


def figure_name(stem: str, method: str, layers: Sequence[str], classes: Sequence[tuple[int, str]],
                suffix: str = ".png") -> str:
    """`<stem>_<method>[_<layer>+<layer>...]_<index>-<name>[+...]<suffix>`, at most MAX_NAME_BYTES bytes.

    `layers` is empty for methods that use none (saliency); several layers or classes are joined
    with '+' (one figure compares them).
    """
    parts = [safe_part(stem), safe_part(method)]
    if layers:
        parts.append("+".join(safe_part(layer) for layer in layers))
    parts.append("+".join(class_part(index, name) for index, name in classes))
    name = "_".join(parts)
    if len((name + suffix).encode("utf-8")) <= MAX_NAME_BYTES:
        return name + suffix
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    room = MAX_NAME_BYTES - len(suffix) - len(digest) - 1
    cut = name.encode("utf-8")[:room].decode("utf-8", "ignore")   # never half a character
    return f"{cut}_{digest}{suffix}"

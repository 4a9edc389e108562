"""Classes given by index or by name on the command line (`--target stingray`, `--class-index 285,281`).

`resolve_class("stingray", names)` -> 6. `names` are the model's class names (LoadedModel.class_names:
ImageNet's, a --class-names file, or 'class <i>'). A text is tried, in order, as an index ("6"), as
one of those names ("stingray", case-insensitive), and, only when the names are ImageNet's 1000, as
one of the Caffe synonyms of a class ("tabby" -> 281 tabby cat, "ATM" -> 480). A name that fits
several classes ("crane": 134 the bird, 517 the machine) or none is a `ClassLookupError` whose
one-line message lists the candidates or the closest names (difflib) with their indices, so the
user can pick one.
"""
from __future__ import annotations

import difflib
from collections.abc import Sequence

from utilities.common.imagenet_classes import NUM_IMAGENET_CLASSES, imagenet_classes

MAX_SUGGESTIONS = 5


class ClassLookupError(ValueError):
    """A class text that names no class, or several; str() is one line with the candidates."""


def _synonyms(names: Sequence[str]) -> list[list[str]]:
    """Per class, its Caffe synonyms: for ImageNet's 1000 names only (a model with 1000 outputs and
    names of its own, from --class-names, has none)."""
    imagenet = imagenet_classes()
    if len(names) != NUM_IMAGENET_CLASSES or any(n != c.name for n, c in zip(names, imagenet, strict=True)):
        return [[] for _ in names]
    return [[s.strip() for s in c.synonyms.split(",") if s.strip()] for c in imagenet]


def _listed(indices: Sequence[int], names: Sequence[str]) -> str:
    return ", ".join(f"{i} {names[i]}" for i in indices)


def resolve_class(text: str | int, names: Sequence[str], *, flag: str = "--target") -> int:
    """The class index `text` stands for (an index, a name or an ImageNet synonym).

    ClassLookupError (one line, naming `flag`) when it stands for none or for several."""
    num_classes = len(names)
    raw = str(text).strip()
    if raw.lstrip("-").isdigit():
        index = int(raw)
        if not 0 <= index < num_classes:
            raise ClassLookupError(f"{flag} {index} is outside 0..{num_classes - 1}")
        return index
    if not raw:
        raise ClassLookupError(f"{flag}: empty class; give an index (0..{num_classes - 1}) or a class name")
    key = raw.casefold()
    by_name = [i for i, name in enumerate(names) if name.casefold() == key]
    synonyms = _synonyms(names)
    found = by_name or [i for i, words in enumerate(synonyms) if key in (w.casefold() for w in words)]
    if len(found) == 1:
        return found[0]
    if found:
        raise ClassLookupError(f"{flag} {raw!r} is ambiguous: {_listed(found, names)}; give the index")
    vocabulary: dict[str, set[int]] = {}
    for i, name in enumerate(names):
        vocabulary.setdefault(name.casefold(), set()).add(i)
        for word in synonyms[i]:
            vocabulary.setdefault(word.casefold(), set()).add(i)
    close = difflib.get_close_matches(key, list(vocabulary), n=MAX_SUGGESTIONS, cutoff=0.6)
    suggested = list(dict.fromkeys(i for word in close for i in sorted(vocabulary[word])))[:MAX_SUGGESTIONS]
    hint = f"; closest: {_listed(suggested, names)}" if suggested else ""
    raise ClassLookupError(f"{flag} {raw!r} is not a class name or an index 0..{num_classes - 1}{hint}")


def resolve_class_list(text: str, names: Sequence[str], *, flag: str) -> list[int]:
    """A comma-separated list of classes ("285,281" or "tabby cat,Egyptian Mau"), duplicates dropped."""
    parts = [p for p in (part.strip() for part in str(text).split(",")) if p]
    if not parts:
        raise ClassLookupError(f"{flag}: no class given")
    return list(dict.fromkeys(resolve_class(part, names, flag=flag) for part in parts))

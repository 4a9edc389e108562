"""`index.html`: one static page to browse a folder's explanations (assignment 3b).

Self-contained: the CSS and the JavaScript are inline (from `results_page.html` next to this
file), images are referenced by relative paths inside the output folder, nothing is fetched
from the network, no server is needed (open the file). One card per image: the network input
with a heat map over it, the top-k predictions with their probabilities, every method's map
for each class (thumbnails), links to the image's figure and arrays. Controls switch the
method, the class (rank) and the overlay opacity, and sort the cards by confidence; the state
lives in the URL fragment (`index.html#method=gradcam&class=2&opacity=60&sort=confidence`),
so a view can be bookmarked or linked. Without JavaScript the page still shows every card in
its first state.
"""
from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from urllib.parse import quote

import numpy as np
from matplotlib import colormaps

from utilities.common.atomic import write_text_atomic
from utilities.explain.images import display_name

TEMPLATE = Path(__file__).with_name("results_page.html")
PAGE_NAME = "index.html"


@dataclass
class PagePrediction:
    index: int
    name: str
    probability: float


@dataclass
class PageCard:
    """One image of the page; paths are relative to the output folder (POSIX separators)."""

    name: str                        # file name of the photo
    input: str                       # the network input (PNG)
    predictions: list[PagePrediction]
    maps: dict[str, list[str]]       # method name -> one PNG per explained class (1 for input maps)
    figure: str | None = None
    arrays: str | None = None


@dataclass
class PageMethod:
    name: str
    title: str
    class_map: bool                  # one map per top-k class (else top-1 only)
    colormap: str
    scale: float | None = None       # raw value of the top colour with a shared scale


@dataclass
class PageContent:
    title: str
    cards: list[PageCard]
    methods: list[PageMethod]
    failed: dict[str, str] = field(default_factory=dict)
    scale_mode: str | None = None    # None (each map to its own max), "method" or "all"
    notes: list[str] = field(default_factory=list)


def css_gradient(colormap: str, stops: int = 11) -> str:
    """The colour map as a CSS `linear-gradient` (for the colour bar)."""
    colours = colormaps[colormap](np.linspace(0.0, 1.0, stops))[:, :3]
    parts = [f"rgb({r * 255:.0f},{g * 255:.0f},{b * 255:.0f}) {100 * i / (stops - 1):.0f}%"
             for i, (r, g, b) in enumerate(colours)]
    return f"linear-gradient(to right, {', '.join(parts)})"


def url(path: str) -> str:
    """A relative path as an attribute value: percent-encoded (spaces, #, ?), then HTML-escaped."""
    return html.escape(quote(display_name(path), safe="/"), quote=True)


def _e(text: object) -> str:
    return html.escape(display_name(str(text)), quote=True)   # a name that is not UTF-8: U+FFFD


def _card_html(number: int, card: PageCard, first: PageMethod, titles: dict[str, str]) -> str:
    top = card.predictions[0] if card.predictions else None
    heat = card.maps.get(first.name, [card.input])[0]
    rows = []
    for rank, p in enumerate(card.predictions, start=1):
        rows.append(f'<li data-rank="{rank}"><span class="name">{_e(p.name)}</span> <span class="index">'
                    f'({p.index})</span><span class="bar"><span style="width:{100 * p.probability:.1f}%">'
                    f'</span></span><span class="p">{p.probability:.3f}</span></li>')
    cells = []
    for method, paths in card.maps.items():
        thumbs = "".join(f'<button type="button" class="thumb" data-method="{_e(method)}" data-class="{rank}" '
                         f'title="{_e(method)} #{rank}"><img src="{url(path)}" alt="{_e(method)} #{rank}" '
                         f'loading="lazy"></button>' for rank, path in enumerate(paths, start=1))
        cells.append(f'<tr><th>{_e(titles.get(method, method))}</th><td>{thumbs}</td></tr>')
    links = [f'<a href="{url(card.input)}">input</a>']
    if card.figure:
        links.append(f'<a href="{url(card.figure)}">figure</a>')
    if card.arrays:
        links.append(f'<a href="{url(card.arrays)}">arrays (.npz)</a>')
    confidence = top.probability if top else 0.0
    label = f"{_e(first.title)} #1" + (f": {_e(top.name)} p={top.probability:.3f}" if top else "")
    return (f'<article class="card" id="card-{number}" data-order="{number}" data-confidence="{confidence:.6f}">'
            f'<h2 title="{_e(card.name)}">{_e(card.name)}</h2>'
            f'<div class="view"><img class="base" src="{url(card.input)}" alt="network input">'
            f'<img class="heat" src="{url(heat)}" alt="heat map" style="opacity:0.5"></div>'
            f'<p class="caption">{label}</p>'
            f'<ol class="predictions">{"".join(rows)}</ol>'
            f'<table class="maps">{"".join(cells)}</table>'
            f'<p class="links">{" · ".join(links)}</p></article>')


def render_page(content: PageContent) -> str:
    """The whole page as text (the template with the cards, controls and data filled in)."""
    if not content.methods:
        raise ValueError("a results page needs at least one method")
    first = content.methods[0]
    top_k = max((len(c.predictions) for c in content.cards), default=1)
    methods = "".join(f'<option value="{_e(m.name)}">{_e(m.title)}</option>' for m in content.methods)
    classes = "".join(f'<option value="{k}">#{k}</option>' for k in range(1, top_k + 1))
    failed = ""
    if content.failed:
        items = "".join(f"<li><b>{_e(name)}</b>: {_e(reason)}</li>" for name, reason in sorted(content.failed.items()))
        failed = f'<section class="failed"><h2>Not explained ({len(content.failed)})</h2><ul>{items}</ul></section>'
    scale_note = {None: "each map scaled to its own maximum",
                  "method": "one shared scale per method (comparable across images and classes)",
                  "all": "one shared scale for every map (comparable across images, classes and methods)"}
    data = {"methods": [{"name": m.name, "title": m.title, "classMap": m.class_map,
                         "gradient": css_gradient(m.colormap), "scale": m.scale} for m in content.methods],
            "cards": [{"name": display_name(c.name),
                       "maps": {k: [quote(display_name(p), safe="/") for p in v] for k, v in c.maps.items()},
                       "predictions": [{"name": p.name, "index": p.index, "probability": p.probability}
                                       for p in c.predictions]} for c in content.cards],
            "scaleMode": content.scale_mode}
    # "</" cannot end the script early once every "<" is escaped
    payload = json.dumps(data, ensure_ascii=True).replace("<", "\\u003c")
    fields = {"title": _e(content.title), "count": str(len(content.cards)), "methods": methods,
              "classes": classes, "scale_note": _e(scale_note[content.scale_mode]),
              "notes": "".join(f"<p>{_e(n)}</p>" for n in content.notes),
              "cards": "\n".join(_card_html(i, c, first, {m.name: m.title for m in content.methods})
                                  for i, c in enumerate(content.cards)),
              "failed": failed, "data": payload, "gradient": css_gradient(first.colormap)}
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(fields)


def write_page(output_dir: str | os.PathLike, content: PageContent) -> Path:
    """Write `<output_dir>/index.html` atomically."""
    text = render_page(content).encode("ascii", "xmlcharrefreplace").decode("ascii")  # any locale, any name
    return write_text_atomic(Path(output_dir) / PAGE_NAME, text)

"""Figure titles fit their panels: long class and file names are wrapped, never cut (summary.png used
to show "comated teller machine"). Checked on the drawn figure with the Agg renderer's text extents."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from utilities.explain.plotting import (
    ComparisonCell,
    FigureContent,
    Prediction,
    comparison_figure,
    explanation_figure,
    panel_width_inches,
    summary_figure,
    wrap_text,
)

LONG_CLASS = Prediction(480, "automated teller machine", 0.123)
LONGEST_CLASS = Prediction(32, "desert grassland whiptail lizard", 0.5)
LONG_FILE = "a_photo_with_a_very_long_file_name_without_any_spaces_at_all_2024.jpg"


def _content(title: str, predictions: list[Prediction], k: int = 1) -> FigureContent:
    rng = np.random.default_rng(0)
    content = FigureContent(title, rng.uniform(0, 1, (32, 32, 3)).astype(np.float32),
                            rng.uniform(0, 1, (40, 60, 3)).astype(np.float32), (4, 14, 32), predictions)
    content.input_maps["Saliency"] = rng.uniform(0, 1, (32, 32)).astype(np.float32)
    content.class_maps["Grad-CAM"] = rng.uniform(0, 1, (k, 32, 32)).astype(np.float32)
    return content


def text_problems(fig, dpi: int = 100) -> list[str]:
    """Every panel title inside its grid cell (left to right) and inside the figure; no title over any
    panel's image or over another title; drawn at `dpi`, the resolution the figure is saved at (hinting
    makes small text wider at low resolutions)."""
    fig.set_dpi(dpi)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    width, height = fig.bbox.width, fig.bbox.height
    problems, titled = [], []
    for ax in fig.axes:
        if ax.get_subplotspec() is None:
            continue
        cell = ax.get_subplotspec().get_position(fig)
        text = ax.title
        if not text.get_text():
            continue
        box = text.get_window_extent(renderer)
        titled.append((ax, box))
        if box.x0 < cell.x0 * width - 0.5 or box.x1 > cell.x1 * width + 0.5:
            problems.append(f"{text.get_text()!r} runs out of its panel ({box.x0:.0f}..{box.x1:.0f} px, panel "
                            f"{cell.x0 * width:.0f}..{cell.x1 * width:.0f})")
        if box.y1 > height + 0.5 or box.y0 < -0.5:
            problems.append(f"{text.get_text()!r} runs out of the figure")
    for ax, box in titled:
        for other in fig.axes:
            if other.get_images() and box.overlaps(other.get_window_extent(renderer)):
                problems.append(f"{ax.title.get_text()!r} is drawn over a panel")
        for other, other_box in titled:
            if other is not ax and box.overlaps(other_box):
                problems.append(f"{ax.title.get_text()!r} overlaps {other.title.get_text()!r}")
    return problems


def test_the_summary_wraps_long_class_and_file_names():
    contents = [_content("chelsea.jpg", [LONG_CLASS]), _content(LONG_FILE, [LONGEST_CLASS]),
                _content("rocket.jpg", [Prediction(733, "pole", 0.165)])]
    fig = summary_figure(contents)
    assert text_problems(fig, dpi=80) == []     # save_summary's resolution
    titles = [ax.get_title() for ax in fig.axes]
    # nothing lost: every word of the long names is there, only broken across lines
    joined = " ".join(titles).replace("\n", " ")
    assert "automated teller machine (480) p=0.123" in joined
    assert "desert grassland whiptail lizard (32)" in joined
    assert any(LONG_FILE in t.replace("\n", "") for t in titles)


def test_the_check_sees_a_cut_name():
    """Without wrapping, the ATM title is wider than its panel: the check above would catch it."""
    fig = summary_figure([_content("chelsea.jpg", [LONG_CLASS])])
    fig.axes[0].set_title("chelsea.jpg\nautomated teller machine (480) p=0.123", fontsize=8)
    assert any("runs out of its panel" in p for p in text_problems(fig, dpi=80))


@pytest.mark.parametrize("k", [1, 3])
def test_the_image_figure_wraps_long_titles(k):
    predictions = [LONG_CLASS, LONGEST_CLASS, Prediction(7, "cock", 0.01)][:k]
    fig = explanation_figure(_content(LONG_FILE, predictions, k))
    assert text_problems(fig) == []


def test_the_comparison_figure_wraps_long_titles():
    content = _content("chelsea.jpg", [LONG_CLASS, LONGEST_CLASS])
    maps = np.random.default_rng(1).uniform(0, 1, (2, 2, 32, 32)).astype(np.float32)
    cells = [[ComparisonCell(p, layer, maps[r, c]) for c, layer in enumerate(("fire7_concat", "fire9_concat"))]
             for r, p in enumerate(content.predictions)]
    fig = comparison_figure(content, "Grad-CAM", True, cells)
    assert text_problems(fig) == []
    assert len([ax for ax in fig.axes if ax.get_title()]) == 1 + 2 * 2 * 2


def test_wrap_text_keeps_every_character_and_breaks_long_words():
    text = "automated teller machine (480) p=0.123"
    wrapped = wrap_text(text, 1.0)
    assert wrapped.replace("\n", " ") == text and wrapped.count("\n") >= 1
    word = "x" * 80
    assert wrap_text(word, 0.5).replace("\n", "") == word
    assert wrap_text("short", 2.0) == "short"
    assert panel_width_inches(2.2 * 3, 3) == pytest.approx((6.6 - 0.16) / 3.24)

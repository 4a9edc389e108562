"""The 3b figures: composed in pixels (utilities/explain/plotting.py), they carry what the matplotlib axes
grid carried: every panel, titles with the class names and probabilities, the top-k listing, the file
name, colour bars with a shared scale. Titles fit their panels: long class and file names are wrapped,
never cut (summary.png used to show "comated teller machine"); checked on the ink actually drawn."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from tests.tiny_imagenet import SIZE, tiny_preprocess, write_photo
from utilities.explain import plotting
from utilities.explain.folder import explain_folder
from utilities.explain.plotting import (
    COLOUR_BAR_INCHES,
    ComparisonCell,
    FigureContent,
    Prediction,
    Text,
    colorize,
    comparison_figure,
    compose_explanation,
    compose_summary,
    explanation_figure,
    panel_width_inches,
    summary_figure,
    wrap_text,
)

LONG_CLASS = Prediction(480, "automated teller machine", 0.123)
LONGEST_CLASS = Prediction(32, "desert grassland whiptail lizard", 0.5)
LONG_FILE = "a_photo_with_a_very_long_file_name_without_any_spaces_at_all_2024.jpg"
CATS = [Prediction(281, "tabby", 0.512), Prediction(282, "tiger cat", 0.301), Prediction(285, "Egyptian cat", 0.087)]


def _content(title: str, predictions: list[Prediction], k: int = 1, size: int = 32) -> FigureContent:
    rng = np.random.default_rng(0)
    content = FigureContent(title, rng.uniform(0, 1, (size, size, 3)).astype(np.float32),
                            rng.uniform(0, 1, (40, 60, 3)).astype(np.float32), (4, 14, 32), predictions)
    content.input_maps["Saliency"] = rng.uniform(0, 1, (size, size)).astype(np.float32)
    content.class_maps["Grad-CAM"] = rng.uniform(0, 1, (k, size, size)).astype(np.float32)
    return content


def composition_problems(composition) -> list[str]:
    """Every text's ink inside its panel's column and inside the figure; no text over any image or
    over another text. Measured on the lines as they are drawn (the font's hinted bitmaps)."""
    height, width = composition.canvas.shape[:2]
    boxes = composition.text_boxes()
    problems = []

    def overlap(a, b):
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    for text, box in boxes:
        if text.cell is not None and (box[0] < text.cell[0] - 0.5 or box[2] > text.cell[1] + 0.5):
            problems.append(f"{text.text!r} runs out of its panel ({box[0]}..{box[2]} px, panel "
                            f"{text.cell[0]:.0f}..{text.cell[1]:.0f})")
        if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
            problems.append(f"{text.text!r} runs out of the figure")
        if any(overlap(box, panel) for panel in composition.panels):
            problems.append(f"{text.text!r} is drawn over a panel")
        if any(other is not text and overlap(box, other_box) for other, other_box in boxes):
            problems.append(f"{text.text!r} overlaps another text")
    return problems


def drawn_texts(composition) -> str:
    return " ".join(t.text for t in composition.texts + [composition.title] if t).replace("\n", " ")


def test_the_summary_wraps_long_class_and_file_names():
    contents = [_content("chelsea.jpg", [LONG_CLASS]), _content(LONG_FILE, [LONGEST_CLASS]),
                _content("rocket.jpg", [Prediction(733, "pole", 0.165)])]
    composition = compose_summary(contents)
    assert composition.dpi == 80                  # save_summary's resolution
    assert composition_problems(composition) == []
    # nothing lost: every word of the long names is there, only broken across lines
    joined = drawn_texts(composition)
    assert "automated teller machine (480) p=0.123" in joined
    assert "desert grassland whiptail lizard (32)" in joined
    assert any(LONG_FILE in t.text.replace("\n", "") for t in composition.texts)
    assert len(composition.panels) == 3 * 3       # input, saliency, Grad-CAM #1 overlay per image


def test_the_check_sees_a_cut_name():
    """Without wrapping, the ATM title is wider than its panel: the check above would catch it."""
    composition = compose_summary([_content("chelsea.jpg", [LONG_CLASS])])
    first = composition.texts[0]
    composition.texts[0] = Text("chelsea.jpg\nautomated teller machine (480) p=0.123", first.x, first.y,
                                first.points, cell=first.cell)
    assert any("runs out of its panel" in p for p in composition_problems(composition))
    composition.texts[0] = Text("x", first.x, first.y + 40, first.points, cell=first.cell)
    assert any("drawn over a panel" in p for p in composition_problems(composition))


@pytest.mark.parametrize("k", [1, 3])
def test_the_image_figure_wraps_long_titles(k):
    predictions = [LONG_CLASS, LONGEST_CLASS, Prediction(7, "cock", 0.01)][:k]
    composition = compose_explanation(_content(LONG_FILE, predictions, k))
    assert composition_problems(composition) == []
    assert LONG_FILE in composition.title.text.replace("\n", "")


def test_the_image_figure_carries_every_panel_title_class_and_probability():
    content = _content("chelsea.jpg", CATS, k=3, size=SIZE)
    composition = compose_explanation(content)
    # input + saliency in row 1, then per class a heat map and an overlay: 2 + 2 * 3 panels
    assert len(composition.panels) == 2 + 2 * 3
    assert composition.title.text == "chelsea.jpg"
    titles = [t.text.replace("\n", " ") for t in composition.texts]
    assert f"network input {SIZE}x{SIZE}" in titles
    assert "Saliency #1 tabby (281) p=0.512" in titles
    for rank, p in enumerate(CATS, start=1):
        assert f"Grad-CAM #{rank} {p.name} ({p.index}) p={p.probability:.3f}" in titles
        assert f"Grad-CAM #{rank} overlay" in titles
    listing = next(t for t in composition.texts if t.family == "monospace").text
    assert listing.startswith("top-3") and all(p.name in listing and f"p={p.probability:.3f}" in listing
                                               for p in CATS)
    # every text is drawn: its box holds dark ink on the finished figure
    pixels = composition.pixels()
    for text, (x0, y0, x1, y1) in composition.text_boxes():
        assert pixels[y0:y1, x0:x1].min() < 80, text.text
    assert composition_problems(composition) == []


def test_the_panels_show_the_maps_and_the_photo():
    """The heat map panel is the map in jet, the saliency panel the map in hot, the input the input:
    resampled once to the panel's pixels."""
    content = _content("chelsea.jpg", CATS, k=3, size=SIZE)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    content.class_maps["Grad-CAM"] = np.stack([np.exp(-((xx - 8 * r) ** 2 + (yy - 16) ** 2) / 60.0)
                                               for r in (1, 2, 3)]).astype(np.float32)
    composition = compose_explanation(content)
    pixels = composition.pixels()

    def panel(i):
        x0, y0, x1, y1 = composition.panels[i]
        return pixels[y0:y1, x0:x1].astype(np.float32) / 255

    def expected(source, box, colormap=None):
        x0, y0, x1, y1 = box
        resized = cv2.resize(source, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        return colorize(resized, colormap) if colormap else resized

    # panels in drawing order: input, saliency, then (heat map, overlay) per class
    assert np.abs(panel(0) - expected(content.network_input, composition.panels[0])).mean() < 0.01
    assert np.abs(panel(1) - expected(content.input_maps["Saliency"], composition.panels[1], "hot")).mean() < 0.02
    for rank in range(3):
        heat = panel(2 + 2 * rank)
        want = expected(content.class_maps["Grad-CAM"][rank], composition.panels[2 + 2 * rank], "jet")
        assert np.abs(heat - want).mean() < 0.01
        # the hottest spot (dark red in jet) is where the class's blob is
        column = np.argmax(heat[..., 0] - heat[..., 2], axis=None) % heat.shape[1]
        assert abs(column / heat.shape[1] - 8 * (rank + 1) / SIZE) < 0.1


def test_a_shared_scale_adds_colour_bars_in_raw_values():
    content = _content("chelsea.jpg", CATS, k=3, size=SIZE)
    plain = compose_explanation(content)
    content.scales = {"Saliency": 0.0123, "Grad-CAM": 3.4}
    barred = compose_explanation(content)
    grow = barred.canvas.shape[0] - plain.canvas.shape[0]
    assert grow == pytest.approx(COLOUR_BAR_INCHES * 100, abs=1)
    strip = barred.pixels()[-round(COLOUR_BAR_INCHES * 100):].astype(np.int32)
    width = strip.shape[1]
    # hot on the left half, jet on the right half: each bar shows its colour map's ends
    left, right = strip[:, :width // 2], strip[:, width // 2:]
    assert ((left[..., 0] < 40) & (left[..., 1] < 40) & (left[..., 2] < 40)).any()          # hot's black
    assert ((right[..., 2] > 100) & (right[..., 0] < 20) & (right[..., 1] < 20)).any()       # jet's blue
    assert ((right[..., 0] > 100) & (right[..., 1] < 20) & (right[..., 2] < 20)).any()       # jet's red
    summary = compose_summary([content, content])
    assert summary.canvas.shape[0] - compose_summary([_content("a", CATS, 3, SIZE)] * 2).canvas.shape[0] \
        == pytest.approx(COLOUR_BAR_INCHES * 80, abs=1)
    assert plotting.colour_bar_strip.cache_info().currsize >= 2    # drawn once per run and size, then pasted


def test_the_matplotlib_figure_is_the_same_picture():
    """explanation_figure / summary_figure: the composition as a Figure (notebooks), the title as its
    suptitle; drawn at the composition's resolution it is the same picture below the title."""
    content = _content("chelsea.jpg", CATS, k=3, size=SIZE)
    composition = compose_explanation(content)
    fig = explanation_figure(content)
    assert tuple(fig.get_size_inches()) == pytest.approx(tuple(composition.get_size_inches()))
    assert fig._suptitle.get_text() == "chelsea.jpg"
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    drawn = np.asarray(canvas.buffer_rgba())[..., :3]
    below_title = round(0.4 * composition.dpi)
    np.testing.assert_array_equal(drawn[below_title:], composition.pixels()[below_title:])
    assert summary_figure([content]).get_size_inches()[1] == pytest.approx(compose_summary([content])
                                                                           .get_size_inches()[1])


def test_the_folder_writes_the_composed_figures(tiny_model, tmp_path, monkeypatch):
    """explain_folder's <stem>.png and summary.png are the compositions, pixel for pixel, and those
    carry the file name, the predicted classes and their probabilities."""
    folder = tmp_path / "photos"
    folder.mkdir()
    write_photo(folder / "one.png", 0)
    write_photo(folder / "two.png", 1, (50, 30, 3))
    made = {}
    compose = plotting.compose_explanation

    def keep(content, *args, **kwargs):
        made[content.title] = compose(content, *args, **kwargs)
        return made[content.title]
    monkeypatch.setattr(plotting, "compose_explanation", keep)
    monkeypatch.setattr("utilities.explain.folder.compose_explanation", keep)
    lines = []
    out = tmp_path / "out"
    explain_folder(folder, tiny_model, preprocess=tiny_preprocess, input_size=SIZE, layer="block5_conv3", top_k=3,
                   output_dir=out, progress=False, echo=lines.append)
    assert sorted(made) == ["one.png", "two.png"]
    for name, composition in made.items():
        written = cv2.imread(str(out / name), cv2.IMREAD_COLOR)[..., ::-1]
        np.testing.assert_array_equal(written, composition.pixels())
        printed = next(line for line in lines if line.startswith(f"{name}: "))
        for part in printed.split(": ", 1)[1].split("; "):        # "index name probability" per class
            index, rest = part.split(" ", 1)
            class_name, probability = rest.rsplit(" ", 1)
            assert f"{class_name} ({index}) p={probability}" in drawn_texts(composition)
        assert len(composition.panels) == 2 + 2 * 3
    summary = cv2.imread(str(out / "summary.png"), cv2.IMREAD_COLOR)
    assert summary.shape[:2] == compose_summary([plotting.FigureContent("one.png", np.zeros((SIZE, SIZE, 3)),
                                                                        np.zeros((40, 60, 3)), (0, 10, 40), CATS[:1],
                                                                        {"Saliency": np.zeros((SIZE, SIZE))},
                                                                        {"Grad-CAM": np.zeros((3, SIZE, SIZE))})] * 2
                                                ).canvas.shape[:2]


def test_the_comparison_figure_wraps_long_titles():
    content = _content("chelsea.jpg", [LONG_CLASS, LONGEST_CLASS])
    maps = np.random.default_rng(1).uniform(0, 1, (2, 2, 32, 32)).astype(np.float32)
    cells = [[ComparisonCell(p, layer, maps[r, c]) for c, layer in enumerate(("fire7_concat", "fire9_concat"))]
             for r, p in enumerate(content.predictions)]
    fig = comparison_figure(content, "Grad-CAM", True, cells)
    assert axes_text_problems(fig) == []
    assert len([ax for ax in fig.axes if ax.get_title()]) == 1 + 2 * 2 * 2


def axes_text_problems(fig, dpi: int = 100) -> list[str]:
    """The same check for a figure drawn with matplotlib axes (the comparison figure of
    `python -m utilities.explain`): every panel title inside its grid cell and inside the figure,
    no title over any panel's image or over another title; drawn at `dpi`."""
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
            problems.append(f"{text.get_text()!r} runs out of its panel")
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


def test_wrap_text_keeps_every_character_and_breaks_long_words():
    text = "automated teller machine (480) p=0.123"
    wrapped = wrap_text(text, 1.0)
    assert wrapped.replace("\n", " ") == text and wrapped.count("\n") >= 1
    word = "x" * 80
    assert wrap_text(word, 0.5).replace("\n", "") == word
    assert wrap_text("short", 2.0) == "short"
    assert panel_width_inches(2.2 * 3, 3) == pytest.approx((6.6 - 0.16) / 3.24)

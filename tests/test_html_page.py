"""assignment_3b's index.html and --shared-scale, without a browser (tests/test_html_page_browser.py drives one).

The page must be self-contained (every reference relative and present, nothing from the network),
show each image's real maps for the right class, and, with a shared scale, put every map on one
absolute scale instead of its own maximum.
"""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import cv2
import numpy as np
import pytest

import assignment_3b
from tests.tiny_imagenet import SIZE, tiny_preprocess, write_photo
from utilities.explain.base import normalise_maps, resize_maps
from utilities.explain.folder import ImageResult, explain_folder, shared_scales
from utilities.explain.html_page import PageCard, PageContent, PageMethod, PagePrediction, render_page
from utilities.explain.plotting import HEATMAP_COLORMAP, SALIENCY_COLORMAP, colorize


class References(HTMLParser):
    """Every src/href of a page, the <script>/<link> tags, and the cards."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.scripts: list[dict] = []
        self.stylesheets = 0
        self.cards: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[k] for k in ("src", "href") if attrs.get(k)]
        if tag == "script":
            self.scripts.append(attrs)
        if tag == "link":
            self.stylesheets += 1
        if tag == "article":
            self.cards.append(attrs)


def read_page(folder: Path) -> tuple[str, References, dict]:
    text = (folder / "index.html").read_text(encoding="ascii")
    parser = References()
    parser.feed(text)
    data = json.loads(text.split('<script type="application/json" id="page-data">')[1].split("</script>")[0])
    return text, parser, data


def read_rgb(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    write_photo(folder / "one.png", 0)
    write_photo(folder / "two #2 <b>.jpg", 1, (50, 30, 3))    # a name to escape in HTML and in URLs
    write_photo(folder / "three.png", 2, (36, 36, 3))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def explain(photos, tiny_model, out, **options):
    return explain_folder(photos, tiny_model, preprocess=tiny_preprocess, input_size=SIZE, layer="block5_conv3",
                          top_k=3, output_dir=out, save_arrays=True, progress=False, echo=lambda line: None,
                          **options)


@pytest.fixture(scope="module")
def explained(photos, tiny_model, tmp_path_factory):
    """One folder explained with each map scaled to its own maximum: (output folder, report)."""
    out = tmp_path_factory.mktemp("out")
    return out, explain(photos, tiny_model, out)


def test_page_is_self_contained_and_complete(explained):
    out, report = explained
    assert out / "index.html" in report.written and not list(out.glob(".*"))   # atomic: no temp files left
    text, page, data = read_page(out)
    # nothing from the network, no external script or style sheet: all inline, every link a file here
    assert "http:" not in text and "https:" not in text and "//" not in "".join(page.links)
    assert page.stylesheets == 0 and all("src" not in s for s in page.scripts)
    for link in page.links:
        parsed = urlparse(link)
        assert not parsed.scheme and not parsed.netloc and not link.startswith("/"), link
        assert (out / unquote(parsed.path)).is_file(), link
    assert {unquote(c["id"]) for c in page.cards} == {"card-0", "card-1", "card-2"}
    assert [c["name"] for c in data["cards"]] == ["one.png", "three.png", "two #2 <b>.jpg"]
    assert "two #2 &lt;b&gt;.jpg" in text and "two%20%232%20%3Cb%3E/input.png" in text
    assert "broken.jpg" in text.split('class="failed"')[1]                        # the failure and its reason
    for card in data["cards"]:
        assert len(card["predictions"]) == 3 and len(card["maps"]["gradcam"]) == 3
        assert len(card["maps"]["saliency"]) == 1                                 # top-1 only
        assert [c["probability"] for c in card["predictions"]] == sorted(
            (c["probability"] for c in card["predictions"]), reverse=True)
    confidences = [float(c["data-confidence"]) for c in page.cards]
    assert confidences == pytest.approx([c["predictions"][0]["probability"] for c in data["cards"]], abs=1e-6)
    assert "one.npz" in page.links and "one.png" in page.links


def test_page_maps_are_the_images_maps_for_each_class(explained):
    """maps/<stem>/gradcam_<rank>.png is that image's Grad-CAM of its rank-th class, as in the .npz."""
    out, _ = explained
    arrays = np.load(out / "one.npz")
    for rank in (1, 2, 3):
        expected = colorize(normalise_maps(resize_maps(arrays["gradcam"][rank - 1], (SIZE, SIZE))), HEATMAP_COLORMAP)
        np.testing.assert_allclose(read_rgb(out / "maps" / "one" / f"gradcam_{rank}.png"), expected, atol=1.5 / 255)
    expected = colorize(normalise_maps(arrays["saliency"]), SALIENCY_COLORMAP)
    np.testing.assert_allclose(read_rgb(out / "maps" / "one" / "saliency_1.png"), expected, atol=1.5 / 255)
    network_input = read_rgb(out / "maps" / "one" / "input.png")
    assert network_input.shape == (SIZE, SIZE, 3) and network_input.std() > 0.05


def test_shared_scale_puts_every_map_on_one_absolute_scale(photos, tiny_model, tmp_path):
    out = tmp_path / "shared"
    explain(photos, tiny_model, out, shared_scale="method")
    _, _, data = read_page(out)
    scales = {m["name"]: m["scale"] for m in data["methods"]}
    raw = {stem: np.load(out / f"{stem}.npz") for stem in ("one", "three", "two #2 <b>")}
    for method in ("gradcam", "saliency"):
        assert scales[method] == pytest.approx(max(float(a[method].max()) for a in raw.values()), rel=1e-6)
    assert scales["gradcam"] != pytest.approx(scales["saliency"])
    for stem, arrays in raw.items():   # each map divided by the method's scale, not by its own maximum
        for rank in (1, 2, 3):
            expected = colorize(np.clip(resize_maps(arrays["gradcam"][rank - 1], (SIZE, SIZE)) / scales["gradcam"],
                                        0, 1), HEATMAP_COLORMAP)
            np.testing.assert_allclose(read_rgb(out / "maps" / stem / f"gradcam_{rank}.png"), expected, atol=1.5 / 255)
    dimmest = min(raw, key=lambda stem: raw[stem]["gradcam"].max())
    own_max = colorize(normalise_maps(resize_maps(raw[dimmest]["gradcam"][0], (SIZE, SIZE))), HEATMAP_COLORMAP)
    assert np.abs(read_rgb(out / "maps" / dimmest / "gradcam_1.png") - own_max).max() > 0.1   # visibly different
    assert "one shared scale per method" in (out / "index.html").read_text()

    everything = tmp_path / "all"
    explain(photos, tiny_model, everything, shared_scale="all")
    _, _, data = read_page(everything)
    assert [m["scale"] for m in data["methods"]] == pytest.approx([max(scales.values())] * 2, rel=1e-6)


def test_shared_scales_and_the_flag():
    results = [ImageResult(np.zeros(3), np.zeros(1), {"a": np.full((1, 2, 2), v), "b": np.zeros((1, 2, 2))})
               for v in (1.0, 4.0)]
    scales = shared_scales(results, "method")
    assert scales["a"] == 4.0 and 0 < scales["b"] < 1e-9                        # all-zero maps: no division by 0
    assert shared_scales(results, "all") == {"a": 4.0, "b": 4.0}
    assert assignment_3b.parse_args(["x", "--shared-scale"]).shared_scale == "method"
    assert assignment_3b.parse_args(["x", "--shared-scale", "all"]).shared_scale == "all"
    assert assignment_3b.parse_args(["x"]).shared_scale is None


def test_cli_writes_the_page_with_a_shared_scale(tiny_cli, photos, tmp_path, capsys):
    code = assignment_3b.main([str(photos), "--output-dir", str(tmp_path / "cli"), "--shared-scale", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1 and "index.html" in out                     # broken.jpg failed; the page lists it
    _, page, data = read_page(tmp_path / "cli")
    assert len(page.cards) == 3 and all(m["scale"] for m in data["methods"])


def test_render_page_escapes_and_keeps_script_data_inert():
    card = PageCard("x</script><script>alert(1)</script>.png", "maps/x/input.png",
                    [PagePrediction(1, "a & b", 0.5)], {"gradcam": ["maps/x/gradcam_1.png"]})
    text = render_page(PageContent("t", [card], [PageMethod("gradcam", "Grad-CAM", True, HEATMAP_COLORMAP)]))
    assert "<script>alert(1)" not in text and text.count("</script>") == 2
    assert "a &amp; b" in text

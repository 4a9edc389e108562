"""index.html in a real browser: headless Chromium loads the page, a control is switched (through the
URL fragment the page's script reads, as a bookmark would), and what is displayed is checked.

Needs Debian's `chromium` (`.ci/run` installs it: `apt-get install chromium`); skipped with that
reason where it is missing. A screenshot of each state is saved under the test's tmp dir.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.tiny_imagenet import SIZE, tiny_preprocess, write_photo
from utilities.explain.folder import explain_folder

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install "
                                "chromium; .ci/run installs it): the results page is not checked in a browser")
WINDOW = (1200, 900)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
               "--virtual-time-budget=5000", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


class Displayed(HTMLParser):
    """From the DOM after the script ran: the cards in display order, their heat map, opacity, caption."""

    def __init__(self):
        super().__init__()
        self.cards: list[dict] = []
        self.state = ""
        self._caption = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.state = attrs.get("data-state", "")
        if tag == "article":
            self.cards.append({"confidence": float(attrs["data-confidence"]), "caption": ""})
        if tag == "img" and "heat" in (attrs.get("class") or ""):
            opacity = re.search(r"opacity:\s*([0-9.]+)", attrs.get("style", ""))
            self.cards[-1].update(heat=attrs["src"], opacity=float(opacity.group(1)) if opacity else None)
        self._caption = tag == "p" and attrs.get("class") == "caption"

    def handle_data(self, data):
        if self._caption:
            self.cards[-1]["caption"] += data

    def handle_endtag(self, tag):
        self._caption = False


@pytest.fixture(scope="module")
def page(tiny_model, tmp_path_factory) -> Path:
    photos = tmp_path_factory.mktemp("photos")
    for i in range(4):
        write_photo(photos / f"photo{i}.png", i + 10, (40 + 8 * i, 48, 3))
    out = tmp_path_factory.mktemp("results")
    explain_folder(photos, tiny_model, preprocess=tiny_preprocess, input_size=SIZE, layer="block5_conv3", top_k=3,
                   output_dir=out, progress=False, echo=lambda line: None)
    return out / "index.html"


def displayed(tmp_path: Path, page: Path, fragment: str) -> Displayed:
    dom = Displayed()
    dom.feed(chromium(tmp_path, "--dump-dom", f"{page.as_uri()}#{fragment}").stdout)
    return dom


def test_controls_switch_what_the_page_shows(page, tmp_path):
    first = displayed(tmp_path, page, "")
    assert len(first.cards) == 4 and first.state == "method=saliency&class=1&opacity=50&sort=folder"
    assert all(c["heat"].endswith("/saliency_1.png") and c["opacity"] == 0.5 for c in first.cards)

    switched = displayed(tmp_path, page, "method=gradcam&class=2&opacity=80&sort=confidence")
    assert switched.state == "method=gradcam&class=2&opacity=80&sort=confidence"
    confidences = [c["confidence"] for c in switched.cards]
    assert confidences == sorted(confidences, reverse=True) and confidences != [c["confidence"] for c in first.cards]
    for card in switched.cards:
        assert card["heat"].endswith("/gradcam_2.png") and card["opacity"] == 0.8
        assert card["caption"].startswith("Grad-CAM #2: ")

    # saliency explains the top-1 class only: class 2 shows its top-1 map and says so
    saliency = displayed(tmp_path, page, "method=saliency&class=3&opacity=30&sort=confidence-asc")
    confidences = [c["confidence"] for c in saliency.cards]
    assert confidences == sorted(confidences)
    assert all(c["heat"].endswith("/saliency_1.png") and "top-1 class only" in c["caption"] for c in saliency.cards)


def test_screenshot_shows_the_overlay(page, tmp_path):
    """The rendered page: cards with pictures drawn (not a blank or error page); the overlay follows opacity."""
    shots = {}
    for opacity in (0, 100):
        shot = tmp_path / f"index_opacity{opacity}.png"
        chromium(tmp_path, f"--screenshot={shot}", f"{page.as_uri()}#method=gradcam&class=1&opacity={opacity}")
        shots[opacity] = cv2.imread(str(shot))
        assert shots[opacity] is not None and shots[opacity].shape[:2] == (WINDOW[1], WINDOW[0])
    plain, covered = shots[0], shots[100]
    assert plain.std() > 20                                   # not a blank page
    changed = np.abs(plain.astype(int) - covered.astype(int)).max(axis=2) > 30
    assert 0.02 < changed.mean() < 0.6                        # the picture areas changed, the rest did not
    hsv = cv2.cvtColor(covered, cv2.COLOR_BGR2HSV)
    assert (hsv[..., 1][changed] > 100).mean() > 0.5         # where it changed: saturated jet colours

"""Style names for the WikiArt labels 0..9 (the CSV only has numbers).

How the table was derived: `utilities/wikiart.csv.gz` has 1000 paintings per label and the
artist is the part of `image_id` before the first "_". The most frequent artists of each
label (count out of 1000) leave no doubt about the WikiArt style:

  0 Art Nouveau (Modern): nicholas-roerich 138, raphael-kirchner 109, ivan-bilibin 52,
    boris-kustodiev 47, aubrey-beardsley 43, koloman-moser 42, alphonse-mucha 20, gustav-klimt 17
  1 Baroque: rembrandt 168, peter-paul-rubens 90, anthony-van-dyck 50, bartolome-esteban-murillo
    46, jacob-jordaens 45, frans-hals 45, diego-velazquez 27, caravaggio 13
  2 Expressionism: amedeo-modigliani 61, ernst-ludwig-kirchner 51, martiros-saryan 46,
    egon-schiele 37, henri-matisse 35, edvard-munch 26, oskar-kokoschka 15, otto-dix 13
  3 Impressionism: claude-monet 117, pierre-auguste-renoir 106, camille-pissarro 53,
    edgar-degas 51, childe-hassam 50, alfred-sisley 31, berthe-morisot 23
  4 Neoclassicism: giovanni-battista-piranesi 471, jean-auguste-dominique-ingres 76,
    william-adolphe-bouguereau 53, john-singleton-copley 45, jacques-louis-david 31,
    antonio-canova 10
  5 Post-Impressionism: vincent-van-gogh 159, paul-cezanne 55, edouard-cortes 45,
    paul-gauguin 34, pierre-bonnard 32, henri-de-toulouse-lautrec 29, maurice-utrillo 20
  6 Realism: vincent-van-gogh 62 (his early Dutch work), ilya-repin 53, ivan-shishkin 48,
    camille-corot 41, isaac-levitan 34, gustave-courbet 27, jean-francois-millet 16
  7 Romanticism: gustave-dore 139, ivan-aivazovsky 70, francisco-goya 55, william-turner 30,
    caspar-david-friedrich 22, eugene-delacroix 18, john-constable 13, theodore-gericault 11
  8 Surrealism: salvador-dali 148, zdislav-beksinski 77, rene-magritte 75, pablo-picasso 69,
    jacek-yerka 62, max-ernst 54, joan-miro 26, paul-delvaux 17
  9 Symbolism: nicholas-roerich 251, odilon-redon 72, konstantin-somov 46, mikalojus-ciurlionis
    39, mikhail-vrubel 38, gustave-moreau 34, pierre-puvis-de-chavannes 24, arnold-b-cklin 21

A second, independent check: the ten names in label order are in alphabetical order, which
is how a label index is usually assigned from a sorted list of class names. The names are
WikiArt's own style names (WikiArt files Mucha and Klimt under "Art Nouveau (Modern)").
Artists who changed style over their career (Roerich, Picasso, van Gogh) appear under
several labels, as WikiArt labels each painting, not each artist.
"""
from __future__ import annotations

import operator

STYLE_NAMES: tuple[str, ...] = (
    "Art Nouveau (Modern)",
    "Baroque",
    "Expressionism",
    "Impressionism",
    "Neoclassicism",
    "Post-Impressionism",
    "Realism",
    "Romanticism",
    "Surrealism",
    "Symbolism",
)

NUM_STYLES = len(STYLE_NAMES)


def style_name(label: int) -> str:
    """WikiArt style name of a label 0..9 (Python or numpy integer); ValueError otherwise."""
    try:
        index = operator.index(label)
    except TypeError:
        index = -1
    if isinstance(label, bool) or not 0 <= index < NUM_STYLES:
        raise ValueError(f"WikiArt label must be an integer 0..{NUM_STYLES - 1}, got {label!r}")
    return STYLE_NAMES[index]


def class_names(num_classes: int) -> list[str]:
    """Display names for `num_classes` classes: the style names for the 10-class WikiArt set,
    "class 0", "class 1", ... for any other number (e.g. a synthetic test set)."""
    if num_classes == NUM_STYLES:
        return list(STYLE_NAMES)
    return [f"class {i}" for i in range(num_classes)]

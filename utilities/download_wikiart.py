"""`python utilities/download_wikiart.py`: the assignment's download command (see utilities/wikiart/download.py)."""
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utilities.wikiart.download import cli  # noqa: E402

if __name__ == "__main__":
    cli()

"""The one exception type the command turns into a one-line message and exit status 2."""
from __future__ import annotations


class FeaturesSvmError(ValueError):
    """Bad input or missing data; the message names the flag or file and what to do."""

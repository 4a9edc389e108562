"""The one exception type the command turns into a one-line message and exit status 2."""
from __future__ import annotations


class FeaturesSvmError(ValueError):
    """Bad input or missing data; the message names the flag or file and what to do."""


class DiskFullError(OSError):
    """A full disk somewhere other than --output-dir (`where`, e.g. --data-dir): exit status 1, naming it."""

    def __init__(self, exc: OSError, where):
        super().__init__(exc.errno, exc.strerror, exc.filename)
        self.where = where

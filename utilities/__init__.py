"""The programs' machinery, one package per concern (see utilities/README.md)."""

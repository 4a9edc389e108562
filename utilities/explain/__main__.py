"""`python -m utilities.explain IMAGE --method NAME` (see utilities/explain/single.py)."""
from utilities.explain.single import main

raise SystemExit(main())

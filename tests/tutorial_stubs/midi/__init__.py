"""A stand-in for the ``midi`` package, so that rnnrbm.py imports (see ../README.md)."""

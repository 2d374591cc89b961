"""Argument checks shared by the models, layers and evaluation: one home each.

Each returns the checked value (as a plain Python type) or raises a
ValueError saying what was expected, what came and what to do, in one line.
"""
import numpy as np


def positive_int(value, name):
    """``value`` as an int >= 1; bools, floats and strings are refused (no silent rounding)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}; pass a whole number >= 1")
    return int(value)


def positive_ints(values, name, example="[500, 500]"):
    """``values`` (a sequence) as a list of ints >= 1; may be empty (the caller decides)."""
    if isinstance(values, (str, bytes, int, np.integer)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a list of positive ints such as {example}, "
                         f"got {values!r}")
    return [positive_int(v, f"each of {name}") for v in values]


def one_of(value, choices, name):
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value

"""Theano functions dae.theano does not have: importable stand-ins that fail in one line.

A script that imports ``conv2d`` gets as far as it can (the tutorials'
``test.py`` imports every tutorial, so one missing name would stop them all);
calling the stand-in raises :class:`TheanoAPIMissing` naming the Theano API and
the caller's file and line, instead of a PyTensor error deep in a graph.
"""
import sys

__all__ = ["TheanoAPIMissing", "missing", "unsupported"]


class TheanoAPIMissing(NotImplementedError):
    """A Theano API that dae.theano does not provide."""


def unsupported(api, depth=1):
    """The error for ``api``, naming the line ``depth`` frames above the caller."""
    caller = sys._getframe(depth + 1)
    return TheanoAPIMissing(f"{api} is not in dae.theano (PyTensor has no equivalent), "
                            f"called at {caller.f_code.co_filename}:{caller.f_lineno}")


def missing(api):
    """A stand-in for the Theano function ``api`` (its full dotted name)."""
    def stand_in(*args, **kwargs):
        raise unsupported(api)

    stand_in.__name__ = stand_in.__qualname__ = api.rsplit(".", 1)[-1]
    stand_in.__doc__ = f"Theano's {api}: not in dae.theano; calling it raises TheanoAPIMissing."
    return stand_in

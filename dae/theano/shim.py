"""``import theano`` as :mod:`dae.theano`: :func:`install` and :func:`run_script`.

:func:`install` puts ``dae.theano`` and its submodules into ``sys.modules``
under Theano's names, in this process only, and lets ``theano.<x>.<y>`` that
dae.theano does not define resolve to PyTensor's ``pytensor.<x>.<y>``
(``theano.tensor.extra_ops``, ``theano.tensor.nlinalg``, ...). A real Theano
found on the path is shadowed only with a :class:`TheanoShadowedWarning`; one
already imported is never replaced.
"""
import importlib
import importlib.abc
import importlib.util
import os
import runpy
import sys
import warnings
from pathlib import Path

__all__ = ["install", "uninstall", "installed", "run_script", "describe",
           "TheanoShadowedWarning"]

#: dae.theano's modules, each installed as ``theano`` + the part after ``dae.theano``.
MODULES = ("dae.theano", "dae.theano.compile", "dae.theano.settings", "dae.theano.streams",
           "dae.theano.tensor", "dae.theano.tensor.nnet",
           "dae.theano.tensor.shared_randomstreams", "dae.theano.sandbox",
           "dae.theano.sandbox.rng_mrg", "dae.theano.printing", "dae.theano.ifelse",
           "dae.theano.gradient", "dae.theano.gof", "dae.theano.gof.graph",
           "dae.theano.scan_module", "dae.theano.gpuarray", "dae.theano.sandbox.cuda",
           "dae.theano.tensor.signal", "dae.theano.tensor.signal.pool",
           "dae.theano.tensor.nnet.abstract_conv", "dae.theano.tensor.nnet.conv",
           "dae.theano.tensor.nnet.neighbours")

#: Theano's modules that are another module under another name.
RENAMED = {"theano.gof.utils": "pytensor.graph.utils",
           "theano.scan_module.scan_utils": "pytensor.scan.utils",
           "theano.tensor.signal.downsample": "dae.theano.tensor.signal.pool"}


class TheanoShadowedWarning(UserWarning):
    """A real Theano is installed, and ``import theano`` now gives dae.theano instead."""


class _PyTensorAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``theano.a.b`` -> the module ``pytensor.a.b``, for names dae.theano lacks."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("theano.") or sys.modules.get("theano") is not _ours():
            return None
        target_name = "pytensor." + fullname[len("theano."):]
        try:
            found = importlib.util.find_spec(target_name)
        except (ImportError, ValueError):
            return None
        return None if found is None else importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None  # a placeholder, replaced below

    def exec_module(self, module):
        # The import system returns what sys.modules holds after this, and
        # leaves that module's attributes alone (PyTensor's __spec__ stays).
        name = module.__name__
        sys.modules[name] = importlib.import_module("pytensor." + name[len("theano."):])


_ALIAS = _PyTensorAlias()


def _ours():
    return importlib.import_module("dae.theano")


def installed():
    """True when ``import theano`` gives dae.theano in this process."""
    return sys.modules.get("theano") is _ours()


def install():
    """Make ``import theano`` (and its submodules) give dae.theano in this process.

    Returns the ``theano`` module now in use (dae.theano). Calling it again does
    nothing.

    Raises ``RuntimeError`` when another ``theano`` is already imported (it
    cannot be swapped out under code that holds it). Warns with
    :class:`TheanoShadowedWarning` when a real Theano is installed: it is not
    used in this process; :func:`describe` says which one is.
    """
    ours = _ours()
    current = sys.modules.get("theano")
    if current is ours:
        return ours
    if current is not None:
        raise RuntimeError(f"another theano is already imported in this process "
                           f"({getattr(current, '__file__', current)}): dae.theano cannot replace "
                           "it; call dae.theano.install() before anything imports theano")
    real = importlib.util.find_spec("theano")
    if real is not None:
        warnings.warn(TheanoShadowedWarning(
            f"a Theano is installed at {real.origin or real.submodule_search_locations}; "
            "dae.theano is used in its place in this process (uninstall that Theano, or run "
            "without dae.theano, to use it)"), stacklevel=2)
    for name in MODULES:
        sys.modules["theano" + name[len("dae.theano"):]] = importlib.import_module(name)
    for name, target in RENAMED.items():
        sys.modules[name] = importlib.import_module(target)
    if _ALIAS not in sys.meta_path:
        sys.meta_path.append(_ALIAS)
    return ours


def uninstall():
    """Undo :func:`install`: ``theano`` and its submodules leave ``sys.modules``."""
    if not installed():
        return
    for name in [n for n in sys.modules if n == "theano" or n.startswith("theano.")]:
        del sys.modules[name]
    if _ALIAS in sys.meta_path:
        sys.meta_path.remove(_ALIAS)


def describe():
    """One line saying which theano ``import theano`` gives, e.g. for a CLI to print."""
    current = sys.modules.get("theano")
    if current is None or current is _ours():
        import pytensor

        from dae.config import get_mode
        mode = pytensor.config.mode
        name = "dae's numba" if mode is get_mode("numba") else str(mode)
        state = "installed" if current is not None else "not installed"
        return (f"theano = dae.theano ({state}) on PyTensor {pytensor.__version__}, "
                f"floatX={pytensor.config.floatX}, mode {name}")
    return f"theano = {getattr(current, '__file__', current)} (not dae.theano)"


def run_script(path, argv=()):
    """Run the Theano script ``path`` as ``__main__``, as ``python path *argv`` would, on dae.theano.

    :func:`install` first; ``sys.argv`` is ``[path, *argv]`` and the script's
    folder comes first on ``sys.path`` (its own modules import), both restored
    afterwards. Returns the exit status: 0, or the script's ``sys.exit(n)``.
    Exceptions from the script propagate; a ``sys.exit("message")`` too.
    """
    script = Path(path)
    if not script.is_file():
        raise FileNotFoundError(f"no Theano script at {script}")
    install()
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(script), *map(str, argv)]
    # as Python does: the script's real folder on the path, its absolute path as __file__
    sys.path.insert(0, str(script.resolve().parent))
    try:
        runpy.run_path(os.path.abspath(script), run_name="__main__")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        raise
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
    return 0

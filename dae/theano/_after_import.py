"""Run a callback once a module is imported: backend kernels registered only when needed.

dae.theano's convolution and pooling ops have Numba and JAX kernels, and
registering them means importing PyTensor's dispatch modules, which import
Numba (about 1 s) and JAX (about 3 s). ``import theano`` must not pay that for
code that never compiles in those modes, so the kernels are registered when
PyTensor's linker imports its dispatch module, or at once if it already has.
"""
import importlib.abc
import sys

__all__ = ["when_imported"]

_PENDING = {}  # module name -> callbacks waiting for it


def when_imported(name, callback):
    """Call ``callback(module)`` as soon as the module ``name`` has been imported (once)."""
    if name in sys.modules:
        callback(sys.modules[name])
        return
    waiting = _PENDING.setdefault(name, [])
    if callback not in waiting:
        waiting.append(callback)
    if _FINDER not in sys.meta_path:  # (again, if something reset sys.meta_path)
        sys.meta_path.insert(0, _FINDER)


class _Loader(importlib.abc.Loader):
    """The module's own loader, then the callbacks."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        for callback in _PENDING.pop(module.__name__, ()):
            callback(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _PENDING:
            return None
        for finder in sys.meta_path:  # the spec the import would have found without us
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)
                return spec
        return None


_FINDER = _Finder()

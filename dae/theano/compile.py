"""Theano's ``shared``, ``function``, ``In`` and ``Out`` on PyTensor.

What differs from calling PyTensor directly, and why:

* ``In(var, value=default)``: PyTensor refuses inputs with default values.
  :func:`function` hands PyTensor the bare input and the returned
  :class:`Function` fills the default in when the caller leaves it out.
* Random streams advance by themselves: the generators of the
  :mod:`dae.theano.streams` draws that the function computes, between its
  inputs and its outputs, get their updates added (a graph cut at a drawn
  variable advances nothing upstream of it, as in Theano).
* ``updates`` may be a list of pairs, a dict or an ``OrderedDict``.
* Shared variables made here are truthy, as Theano's were (the tutorials test
  ``if not W:``). While ``import theano`` gives dae.theano (:func:`install`),
  every tensor variable is, except a comparison's result (rbm.py tests
  ``if not input:``); otherwise PyTensor's own variables keep PyTensor's rule.
* Calls are as fast as dae's training step: Python ints and floats are
  checked and converted here (PyTensor's own check costs 5 us on a Python
  int, 8% of a dA step at batch size 1) and PyTensor trusts the result.
* In JAX mode the tutorials' minibatch, ``givens={x: data[i * b:(i + 1) * b]}``
  with ``data`` shared (or an expression of shared variables, the tutorials'
  ``T.cast(shared_y, 'int32')``), is cut in NumPy at each call and passed in,
  as :func:`dae.train.compile_step` does: JAX refuses a slice whose bounds are
  traced, and would copy the whole data set into every call if it took them.
  The bounds are computed from the call's inputs first (in dae's Python mode),
  so the rows are NumPy's, a short last minibatch included. Other modes cut in
  the graph, as Theano did.
* A function JAX cannot run (PyTensor's JAX backend converts no scan with a
  stopping condition, ``until``) runs in dae's Numba mode, with a warning:
  Theano ran every graph it could build.
"""
import sys
import warnings
from collections.abc import Mapping

import numpy as np
import pytensor
from pytensor.compile import SharedVariable
from pytensor.compile.io import In as _PyTensorIn
from pytensor.compile.io import Out  # noqa: F401  (re-exported: theano.Out)
from pytensor.scalar import GE, GT, LE, LT
from pytensor.tensor import TensorType
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.sharedvar import TensorSharedVariable
from pytensor.tensor.variable import _tensor_py_operators

from dae.config import get_mode as _dae_mode
from dae.theano.streams import computed_draws

__all__ = ["shared", "function", "In", "Out", "Function"]


# -- shared variables that are truthy ------------------------------------------------------
def _true(self):
    # Theano: every variable is true except a comparison's result; the
    # tutorials rely on it for ``if not W:`` with W a shared variable.
    return True


# Module-level classes, so that a pickled model (logistic_sgd.py pickles its
# classifier) names a class that exists when it is loaded again. No mixin:
# a subclass with a second base cannot take over an existing object.
class TheanoTensorSharedVariable(TensorSharedVariable):
    """PyTensor's tensor shared variable, truthy like Theano's."""

    __bool__ = _true


class TheanoSharedVariable(SharedVariable):
    """PyTensor's generic shared variable (a random generator's, say), truthy like Theano's."""

    __bool__ = _true


_TRUTHY = {TensorSharedVariable: TheanoTensorSharedVariable,
           SharedVariable: TheanoSharedVariable}

_pytensor_bool = _tensor_py_operators.__bool__


def _theano_bool(self):
    # Theano refused only a comparison's result, so that ``a < b < c`` (which
    # Python computes as ``(a < b) and (b < c)``) still fails. The rule is
    # Theano's only while Theano code runs here: dae and PyTensor keep theirs.
    owner = self.owner
    comparison = owner is not None and isinstance(owner.op, Elemwise) and \
        isinstance(owner.op.scalar_op, (LT, GT, LE, GE))
    if comparison or sys.modules.get("theano") is not sys.modules.get("dae.theano"):
        return _pytensor_bool(self)
    return True


# On the class: rbm.py tests a variable that T.matrix() made, not one of ours.
_tensor_py_operators.__bool__ = _theano_bool


def shared(value, name=None, strict=False, allow_downcast=None, **kwargs):
    """``pytensor.shared``, with Theano's truthiness (see the module docstring)."""
    var = pytensor.shared(value, name=name, strict=strict, allow_downcast=allow_downcast, **kwargs)
    truthy = _TRUTHY.get(type(var))
    if truthy is not None:
        var.__class__ = truthy
    return var


# -- inputs with defaults ------------------------------------------------------------------
class In:
    """Theano's ``In``: an input with options, and possibly a default ``value``.

    Takes Theano's arguments (``variable, name, value, update, mutable, strict,
    allow_downcast, autoname, implicit, borrow, shared``). A default value is
    kept here and filled in by :class:`Function`; the rest goes to PyTensor.
    """

    def __init__(self, variable, name=None, value=None, **options):
        self.variable, self.name, self.value, self.options = variable, name, value, options

    def _split(self):
        """(PyTensor's In, default or None): a shared variable or Container stays PyTensor's."""
        default = self.value
        keep = default if default is None or hasattr(default, "storage") \
            or isinstance(default, SharedVariable) else None
        return _PyTensorIn(self.variable, name=self.name, value=keep, **self.options), \
            (None if keep is not None else default)


_MISSING = object()


class Function:
    """A compiled function called like Theano's: ``f(*args, **kwargs_by_input_name)``.

    Inputs left out take their ``In(..., value=default)``; everything else
    (``maker``, ``copy``, ``get_shared``, ...) is the PyTensor function's,
    available as :attr:`fn`.
    """

    def __init__(self, fn, names, defaults, cuts=None):
        object.__setattr__(self, "fn", fn)
        self._names, self._defaults, self._n = names, defaults, len(names)
        self._cuts = cuts  # a _RowCuts, or None: the minibatches cut in NumPy (JAX mode)
        self._position = {}
        for i, name in enumerate(names):
            if name is not None:
                self._position[name] = i if name not in self._position else None
        # Trust PyTensor with what _converter checks, unless two inputs may
        # alias each other (PyTensor copies them then) or the inputs are unusual.
        # (An implicit input among the first n would shift the positions.)
        storage = fn.input_storage[:self._n]
        simple = not any(c.implicit for c in storage) and \
            not getattr(fn, "_potential_aliased_input_groups", True)
        self._converters = [_converter(c) for c in storage] if simple else None
        if simple:
            fn.trust_input = True

    def __call__(self, *args, **kwargs):
        if kwargs or len(args) != self._n:
            args = self._complete(args, kwargs)
        if self._converters is not None:
            args = [convert(a) for convert, a in zip(self._converters, args)]
        if self._cuts is None:
            return self.fn(*args)
        return self.fn(*args, *self._cuts(args))

    def _complete(self, args, kwargs):
        if len(args) > self._n:
            raise TypeError(f"this function takes {self._n} inputs, got {len(args)}")
        values = list(args) + [_MISSING] * (self._n - len(args))
        for key, value in kwargs.items():
            i = self._position.get(key, _MISSING)
            if i is _MISSING or i is None:
                raise TypeError(f"{'ambiguous' if i is None else 'unknown'} input name {key!r}; "
                                f"the inputs are {self._names}")
            if values[i] is not _MISSING:
                raise TypeError(f"input {key!r} given twice, by position and by name")
            values[i] = value
        for i, value in enumerate(values):
            if value is _MISSING:
                if self._defaults[i] is _MISSING:
                    raise TypeError(f"missing input {self._names[i] or i} (no default value)")
                values[i] = self._defaults[i]
        return values

    def __getattr__(self, name):
        if name == "fn":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.fn, name)

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.fn, name, value)


def _converter(container):
    """What PyTensor's ``type.filter`` does to an input, fast for Python numbers."""
    typ, strict, downcast = container.type, container.strict, container.allow_downcast

    def filtered(value):
        try:
            return typ.filter(value, strict=strict, allow_downcast=downcast)
        except Exception as exc:
            exc.add_note(f"while checking the value of function input {container.name or typ}")
            raise

    if strict or downcast is False or not isinstance(typ, TensorType) or typ.ndim != 0:
        return filtered
    dtype = np.dtype(typ.dtype)
    # PyTensor's rules: a Python int fits any integer type it fits in, a Python
    # float goes to floatX (or float64) without allow_downcast.
    if dtype.kind in "iu":
        number = int
    elif dtype == np.float64 or dtype == pytensor.config.floatX:
        number = float
    else:
        return filtered

    def convert(value):
        if type(value) is number:
            try:
                return np.asarray(value, dtype)
            except OverflowError:
                pass  # PyTensor's message
        return filtered(value)

    return convert


# -- function ------------------------------------------------------------------------------
def function(inputs=(), outputs=None, mode=None, updates=None, givens=None,
             no_default_updates=False, name=None, **kwargs):
    """Theano's ``theano.function`` on PyTensor.

    Parameters are Theano's: ``inputs`` (variables or :class:`In`),
    ``outputs``, ``mode`` (None: dae's default, see :mod:`dae.config`),
    ``updates`` (pairs, dict or OrderedDict), ``givens``, ``no_default_updates``
    (True: no stream advances by itself; or a list of the generators not to
    advance), ``name``; other keywords
    go to ``pytensor.function``. Returns a :class:`Function`.
    """
    pairs = _pairs(updates, "updates")
    given = _pairs(givens, "givens")
    ins, names, defaults = [], [], []
    for item in inputs:
        default = None
        if isinstance(item, In):
            item, default = item._split()
        ins.append(item)
        if not getattr(item, "implicit", False):  # an implicit input is not the caller's to pass
            names.append(getattr(item, "name", None))
            defaults.append(_MISSING if default is None else default)
    pairs += _stream_updates(ins, outputs, pairs, given, no_default_updates)
    cuts = _RowCuts.of(given, ins, mode) if given and _is_jax(mode) else None
    if cuts is not None:
        # the minibatch index now reaches the graph through the cut rows only
        given, options = cuts.givens, {"on_unused_input": "ignore", **kwargs}
    else:
        options = kwargs
    # no_default_updates is not passed on: PyTensor deprecates it, and it only
    # concerns the stream generators, handled above.
    try:
        fn = pytensor.function(ins + (cuts.inputs if cuts else []), outputs, mode=mode, updates=pairs,
                               givens=given or None, name=name, **options)
    except NotImplementedError as e:
        if not _is_jax(mode):
            raise
        # Theano ran every graph it could build; PyTensor's JAX backend has no conversion for
        # some ops (a scan with a stopping condition, `until`): such a function runs in dae's
        # Numba mode, the graph cut as in the other modes.
        warnings.warn(f"dae.theano: JAX cannot run this function ({e}); it runs in Numba mode",
                      stacklevel=2)
        return function(inputs, outputs, _dae_mode("numba"), updates, givens, no_default_updates, name,
                        **kwargs)
    return Function(fn, names, defaults, cuts)


def _is_jax(mode):
    from pytensor.compile.mode import get_mode
    from pytensor.link.jax.linker import JAXLinker

    return isinstance(get_mode(mode).linker, JAXLinker)


class _RowCuts:
    """The givens ``x: data[start:stop]`` of a function, cut in NumPy at each call (JAX mode).

    ``givens`` are the function's givens with each cut replaced by a fresh input
    (``inputs``, passed after the caller's); calling with the caller's converted
    arguments returns the rows each of them takes.
    """

    def __init__(self, givens, cuts, inputs, bounds):
        self.givens, self._cuts, self.inputs, self._bounds = givens, cuts, inputs, bounds

    @classmethod
    def of(cls, givens, ins, mode):
        """The cuts of ``givens``, or None when none is a row slice of data (nothing to do)."""
        from pytensor.compile.mode import get_mode
        from pytensor.tensor.subtensor import Subtensor, indices_from_subtensor

        from dae.train import _evaluator

        variables = [getattr(i, "variable", i) for i in ins]
        if any(isinstance(v, SharedVariable) or getattr(i, "implicit", False)
               for i, v in zip(ins, variables)):
            return None  # the bounds are computed from the caller's arguments only
        kept, cuts, inputs, bounds = [], [], [], []
        for var, value in givens:
            node = value.owner
            entry = node.op.idx_list if node is not None and type(node.op) is Subtensor else ()
            if len(entry) != 1 or not isinstance(entry[0], slice) or entry[0].step is not None \
                    or not _of_shared(node.inputs[0]):
                kept.append((var, value))
                continue
            [rows] = indices_from_subtensor(node.inputs[1:], entry)
            base = node.inputs[0]
            data = (lambda base=base: base.get_value(borrow=True)) if isinstance(base, SharedVariable) \
                else _evaluator(base, mode)
            batch = value.type()
            kept.append((var, batch))
            inputs.append(batch)
            cuts.append((data, len(bounds), rows.start is not None, rows.stop is not None))
            bounds += [pytensor.tensor.as_tensor_variable(b) for b in (rows.start, rows.stop)
                       if b is not None]
        if not cuts:
            return None
        compute = pytensor.function(variables, bounds, mode=get_mode("FAST_COMPILE"),
                                    on_unused_input="ignore") if bounds else (lambda *args: [])
        return cls(kept, cuts, inputs, compute)

    def __call__(self, args):
        values = [int(b) for b in self._bounds(*args)]
        batches = []
        for data, at, has_start, has_stop in self._cuts:
            start = values[at] if has_start else None
            stop = values[at + has_start] if has_stop else None
            batches.append(data()[start:stop])
        return batches


def _of_shared(expression):
    """Whether ``expression`` is computed from shared variables and constants only."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import graph_inputs

    return all(isinstance(v, (SharedVariable, Constant)) for v in graph_inputs([expression]))


def _pairs(mapping, what):
    if mapping is None:
        return []
    if isinstance(mapping, Mapping):
        return list(mapping.items())
    pairs = [tuple(pair) for pair in mapping]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"{what} must be (variable, expression) pairs or a dict of them")
    return pairs


def _stream_updates(inputs, outputs, updates, givens, no_default_updates):
    """``(generator, next state)`` for each stream draw the function computes, not updated already.

    Theano's rule: the draws between the given inputs and the outputs (and the
    updates' expressions), see :func:`dae.theano.streams.computed_draws`.
    ``no_default_updates`` is True (none) or the shared variables to leave out.
    """
    if no_default_updates is True:
        return []
    if no_default_updates is False or no_default_updates is None:
        no_default_updates = ()
    elif not isinstance(no_default_updates, (list, tuple, set)):
        raise TypeError(f"no_default_updates must be True, False or a list of shared variables, "
                        f"got {type(no_default_updates).__name__}; pass a list, e.g. "
                        f"no_default_updates=[generator]")
    skip = {id(var) for var, _ in updates} | {id(var) for var in no_default_updates}
    if outputs is None:
        outputs = []
    elif not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    roots = [getattr(o, "variable", o) for o in outputs] + [value for _, value in updates]
    stop = [getattr(i, "variable", i) for i in inputs]
    return [(rng, after) for rng, after in computed_draws(roots, stop, givens)
            if id(rng) not in skip]

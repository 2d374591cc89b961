"""dae's JAX mode: PyTensor's JAX mode, returning NumPy and advancing the model's random streams.

PyTensor's JAX linker leaves three things that stop a dae experiment in JAX mode,
two that slow it and one that clutters its output (issue 22); each is fixed here,
and the graph, its rewrites and its numbers are otherwise PyTensor's:

1. **Results are JAX arrays.** A compiled function returns ``jax.Array``s,
   which JSON, ``isinstance(v, np.ndarray)`` checks and in-place NumPy code
   refuse (the SdA's validation error reached its checkpoint's metadata as
   one). Here a function's outputs come back as NumPy arrays. The new values
   of updated shared variables (the parameters, an optimizer's moments) stay
   JAX arrays: handing them back to the next step costs nothing, where NumPy
   ones would be copied in at every step. ``get_value()`` of a parameter
   trained in this mode is therefore a JAX array; ``numpy.asarray`` of it is
   the NumPy one (:func:`dae.io.save` does that).
2. **Random streams do not advance.** PyTensor's linker replaces each shared
   random generator by a private copy, so the model's ``theano_rng`` keeps its
   initial state whatever the function draws: two functions on one stream
   (the SdA's pretraining layers) draw the same numbers, and a checkpoint
   saves a state the run never had, so a resumed run draws again what the
   interrupted one drew. Here the function reads the generator the shared
   variable holds at each call (converted to JAX's key, as PyTensor does) and
   writes the key it ends with back into that generator, so the stream
   advances as in the other modes and a checkpoint resumes it exactly.

3. **Computed shapes are traced.** ``jax.jit`` traces every ``jax.numpy``
   operation, even on constants, so a shape PyTensor computes from other
   shapes (the IWAE's ``batch * k`` rows, a broadcast's checked length) reaches
   ``reshape`` or a random draw as a tracer, and JAX refuses it ("Shapes must
   be 1D sequences of concrete values"). The shapes of traced arrays are
   concrete, though, so here an operation on integer scalars whose inputs are
   all concrete while JAX traces runs in NumPy (PyTensor's ``perform``, which
   also checks a broadcast's lengths) and gives a concrete number; with a
   traced input (a minibatch index) it is JAX's as before.

4. **Each step allocates its parameters anew.** A call returns new arrays for
   the parameters and an optimizer's moments (17 MB a step for the VAE), which
   the next call reads and drops. Here the buffers of the inputs a call
   replaces (the updated shared variables; not a random stream, not a shape) are
   *donated* to XLA, which writes the new values into them: the VAE's step
   takes 0.89-0.91x the time it took without (the two alternated in one
   process). A donated input's old array is deleted by the call, so the new
   values are written into the shared variables inside the call itself, with a
   Ctrl-C held until they are (:func:`dae.interrupt.deferred`): an interrupted
   step leaves the model whole. ``get_value()`` (a copy) is unaffected; an
   array taken with ``get_value(borrow=True)`` and kept past the next step is
   deleted by it (Theano's borrow contract: the memory belongs to the shared
   variable); use ``get_value()`` or ``numpy.asarray`` of it to keep one. A
   call given one array as two inputs donates nothing.
5. **Each step waits for XLA.** Reading a call's cost and its random key back
   to NumPy waits until XLA has run the step, so the training loop's Python
   for the next step (PyTensor's call, the minibatch, the 46 arguments of a
   VAE step) did not overlap XLA's work: the VAE's step took 1.17x the time
   of the same XLA function driven directly. Inside :func:`pipelined`, a
   call made under ``with lazy:`` (``dae.train.fit``'s steps) returns its
   results as JAX arrays and keeps the key its stream ends with in JAX, handed
   to the next call as it is; :func:`flush` writes the keys back into the
   NumPy generators, at an epoch's end and whenever the block ends, so
   checkpoints, hooks and resumes see the states they would have seen.
6. **Every compile warns.** PyTensor's JAX kernels drop each assertion whose
   condition is not a constant (a broadcast's checked lengths: the sA's step)
   and ask JAX for int64 (``arange``, ``argmax``, a shape vector: the SdA's
   validation error), which JAX without x64 refuses; each prints a UserWarning
   at every compile, so a user sees warnings about dae at every run. Here an
   assertion is checked while JAX traces (its condition is concrete then:
   item 3; one that depends on the data is dropped with PyTensor's warning),
   and those integers are NumPy's when concrete, JAX's 32-bit ones when
   traced (an index of an array of fewer than 2**31 rows). One fix besides:
   PyTensor's ``arange`` computed ``stop - start`` in its constants' dtype
   (int8 for a 0) and overflowed.

The key is the low 64 bits of the NumPy generator's state (PyTensor's
conversion, :func:`pytensor.link.jax.dispatch.random.jax_typify_Generator`),
so writing it back there is exact: the next call converts it to the same key.
JAX draws other numbers than NumPy from the same state, so a seed gives other
samples in this mode than in the Numba and Python modes (the same ones from run
to run, and across an interruption).

JAX is optional: this module imports it only when a function is compiled.
:func:`dae.config.get_mode` hands this mode out for ``"jax"``; ``"plain_jax"``
is PyTensor's own.
"""
import contextlib
import warnings

import numpy as np
from pytensor.compile.mode import Mode
from pytensor.graph.basic import Constant
from pytensor.graph.rewriting.db import RewriteDatabaseQuery
from pytensor.link.jax.linker import JAXLinker
from pytensor.raise_op import CheckAndRaise
from pytensor.tensor.basic import ARange, MakeVector
from pytensor.tensor.elemwise import CAReduce
from pytensor.tensor.math import Argmax
from pytensor.tensor.random.type import RandomType

_LOW_64 = (1 << 64) - 1


class StreamJAXLinker(JAXLinker):
    """PyTensor's JAX linker with NumPy results, shared random streams, concrete shapes and
    donated buffers (see the module docstring)."""

    def fgraph_convert(self, fgraph, input_storage, storage_map, **kwargs):
        try:
            import jax  # noqa: F401
        except ImportError:
            raise ImportError("dae's JAX mode needs JAX, which is not installed: pip install jax, "
                              "or use another mode (--mode numba, DAE_MODE=numba)") from None
        from pytensor.link.jax.dispatch import jax_typify
        from pytensor.link.jax.dispatch.shape import JAXShapeTuple
        from pytensor.link.utils import fgraph_to_python

        # PyTensor's rule: a scalar input used only as a shape is a static argument of jax.jit.
        clients = fgraph.clients
        shape_only = [i for i, var in enumerate(fgraph.inputs) if clients[var] and all(
            isinstance(node.op, JAXShapeTuple) for node, _ in clients[var])]
        self.scalar_shape_inputs = tuple(shape_only)
        return fgraph_to_python(fgraph, _funcify, type_conversion_fn=jax_typify,
                                fgraph_name="jax_funcified_fgraph", input_storage=input_storage,
                                storage_map=storage_map, **kwargs)

    def create_thunk_inputs(self, storage_map):
        # The shared variables' own cells: a generator stays a NumPy Generator there
        # (PyTensor's linker puts JAX's dict in its place), converted at each call.
        self.cells = [storage_map[var] for var in self.fgraph.inputs]
        return self.cells

    def jit_compile(self, fn):
        import jax
        from pytensor.link.jax.dispatch import jax_typify

        from dae import interrupt

        fgraph, cells = self.fgraph, self.cells
        static = frozenset(self.scalar_shape_inputs)
        streams = [i for i, var in enumerate(fgraph.inputs) if isinstance(var.type, RandomType)]
        updates = dict(getattr(fgraph, "update_mapping", None) or {})  # output -> input it updates
        # Item 4 of the module docstring: the buffers of the inputs a call replaces.
        donated = sorted(set(updates.values()) - set(streams) - static)
        jitted = jax.jit(fn, static_argnums=tuple(static), donate_argnums=tuple(donated))
        kept = sorted(set(range(len(fgraph.inputs))) - set(donated))
        keeping = []  # the same function donating nothing, compiled if ever needed
        # What each output becomes: a random state (written back into the generator
        # of the input it updates), an update (left in JAX), or a result (NumPy).
        kinds = []
        for i, var in enumerate(fgraph.outputs):
            if isinstance(var.type, RandomType):
                kinds.append(("stream", updates.get(i)))
            else:
                kinds.append(("update" if i in updates else "result", updates.get(i)))

        def call(*args):
            given, deferring = args, _PIPELINE["lazy"] > 0
            if streams or static:
                args = list(args)
                for i in streams:
                    waiting = _PIPELINE["pending"].get(id(args[i]))
                    if waiting is not None and waiting[0] is args[i]:
                        args[i] = waiting[1]  # the key the last call ended with, not yet read back
                    elif isinstance(args[i], np.random.Generator):
                        args[i] = jax_typify(args[i])
                for i in static:
                    args[i] = int(args[i])
            run, ids = jitted, {id(args[i]) for i in donated}
            if len(ids) < len(donated) or any(id(args[i]) in ids for i in kept):
                # One array given twice (two shared variables on one buffer): donating it
                # would hand its buffer to one output and delete the other input's value.
                if not keeping:
                    keeping.append(jax.jit(fn, static_argnums=tuple(static)))
                run = keeping[0]
            with interrupt.deferred():  # a Ctrl-C waits until the new values are in place
                outputs = run(*args)
                results = []
                for (kind, source), value in zip(kinds, outputs):
                    if kind == "result":
                        value = value if deferring else np.asarray(value)
                    elif kind == "stream":
                        generator = given[source] if source is not None else None
                        if deferring and _movable(generator):  # read back by flush()
                            _PIPELINE["pending"][id(generator)] = (generator, value)
                            value = generator
                        else:
                            _PIPELINE["pending"].pop(id(generator), None)
                            value = _advanced(generator, value)
                    else:  # an update: the shared variable's new value, at once
                        cells[source][0] = value
                    results.append(value)
            return results

        return call


def _integer_scalar(var):
    dtype = getattr(var.type, "dtype", None)
    return dtype is not None and getattr(var.type, "ndim", 0) == 0 and np.dtype(dtype).kind in "iub"


def _funcify(op, node=None, **kwargs):
    """PyTensor's JAX function of ``node``; for integer scalar arithmetic, NumPy's
    when its inputs are concrete (item 3 of the module docstring)."""
    import jax
    from pytensor.link.jax.dispatch import jax_funcify

    acc = getattr(op, "acc_dtype", None) if isinstance(op, CAReduce) else None
    if acc is not None and np.dtype(acc).itemsize == 8 and not jax.config.jax_enable_x64:
        # PyTensor adds float32 in float64 and integers in int64 (acc_dtype), and its JAX
        # kernel sums in the input's dtype and casts to acc_dtype, which JAX without x64
        # refuses with a UserWarning at every compile and keeps 32 bits: asked for 32
        # bits here, the same numbers without the warning.
        op = op.clone(acc_dtype=np.dtype(f"{np.dtype(acc).kind}4").name)
    if isinstance(op, ARange) and np.dtype(op.dtype).kind in "iu" and node is not None:
        return _integer_arange(op, node)
    if isinstance(op, Argmax) and not jax.config.jax_enable_x64:
        return _argmax(op)
    if isinstance(op, CheckAndRaise) and node is not None:
        return _checked(op, node)
    if isinstance(op, MakeVector) and np.dtype(op.dtype).kind in "iu" and not jax.config.jax_enable_x64:
        return _integer_vector(op)
    traced = jax_funcify(op, node=node, **kwargs)
    if node is None or not node.inputs or not all(
            _integer_scalar(v) for v in node.inputs + node.outputs):
        return traced
    dtypes = [v.type.dtype for v in node.inputs]
    single = len(node.outputs) == 1

    def concrete_when_possible(*inputs):
        if any(isinstance(i, jax.Array) for i in inputs):  # a tracer (or a JAX value)
            return traced(*inputs)
        outputs = [[None] for _ in node.outputs]
        op.perform(node, [np.asarray(i, dtype) for i, dtype in zip(inputs, dtypes)], outputs)
        return outputs[0][0] if single else tuple(o[0] for o in outputs)

    return concrete_when_possible


def _checked(op, node):
    """An assertion (``CheckAndRaise``: a broadcast's shapes, say), checked while JAX traces.

    PyTensor's JAX kernel drops every assertion whose condition is not a constant, with
    a UserWarning at every compile. Shapes are known when JAX traces, and dae computes
    integer scalars from them in NumPy (:func:`_funcify`), so most conditions are
    concrete there: checked then (at each new input shape, when JAX traces again). A
    condition that depends on the data is a tracer and is dropped, as PyTensor drops it."""
    import jax
    from pytensor.link.jax.dispatch import jax_funcify

    if any(isinstance(c, Constant) for c in node.inputs[1:]):
        return jax_funcify(op, node=node)  # PyTensor raises for a constant false one

    def check(x, *conds):
        concrete = [c for c in conds if not isinstance(c, jax.core.Tracer)]
        if not all(np.all(np.asarray(c)) for c in concrete):
            raise op.exc_type(op.msg)
        if len(concrete) < len(conds):
            warnings.warn(f"Skipping {op} Op (assertion: {op.msg}): its condition depends on "
                          "the data, which JAX cannot check", UserWarning, stacklevel=2)
        return x

    return check


def _integer_arange(op, node):
    """``arange`` of integers: NumPy's when its bounds are concrete (a shape, a constant,
    integer arithmetic on them: item 3 of the module docstring). PyTensor's JAX kernel
    takes only constants and shapes, asks JAX for int64 (refused without x64, with a
    UserWarning at every compile) and hands JAX a constant in its own dtype (int8 for a
    0), in which JAX then computes ``stop - start`` and overflows."""
    import jax
    import jax.numpy as jnp

    constants = [v.data if isinstance(v, Constant) else None for v in node.inputs]

    def arange(*bounds):
        bounds = [b if c is None else c for b, c in zip(bounds, constants)]
        if any(isinstance(b, jax.Array) for b in bounds):  # JAX says what it cannot do
            return jnp.arange(*bounds, dtype=jnp.int32 if np.dtype(op.dtype).itemsize > 4
                              and not jax.config.jax_enable_x64 else op.dtype)
        return np.arange(*(int(b) for b in bounds), dtype=op.dtype)

    return arange


def _argmax(op):
    """``argmax`` over ``op.axis``, in JAX's own integers: PyTensor's kernel casts JAX's
    answer to int64, refused without x64 with a UserWarning at every compile (the
    validation error of the SdA and logistic regression, every epoch)."""
    import math

    import jax.numpy as jnp

    def argmax(x):
        axes = tuple(range(x.ndim)) if op.axis is None else tuple(int(a) for a in op.axis)
        kept = tuple(i for i in range(x.ndim) if i not in axes)
        flat = jnp.transpose(x, kept + axes).reshape(
            tuple(x.shape[i] for i in kept) + (math.prod(x.shape[i] for i in axes),))
        return jnp.argmax(flat, axis=-1)  # the first of equal maxima, as NumPy's

    return argmax


def _integer_vector(op):
    """A vector of integer scalars (a shape, mostly): NumPy's when they are concrete, as
    PyTensor's ``MakeVector`` asks; traced, in JAX's 32-bit integers without x64 (PyTensor's
    kernel asks for int64, which JAX refuses with a UserWarning at every compile)."""
    import jax
    import jax.numpy as jnp

    def make_vector(*x):
        if any(isinstance(i, jax.Array) for i in x):
            return jnp.array(x, dtype=jnp.int32 if np.dtype(op.dtype).itemsize > 4 else op.dtype)
        return np.array(x, dtype=op.dtype)

    return make_vector


# Item 5 of the module docstring: the streams' keys not yet read back, by generator.
_PIPELINE = {"lazy": 0, "pending": {}}


class _Lazy:
    """``with lazy:`` around a call: it returns before XLA has run it (see :func:`pipelined`)."""

    def __enter__(self):
        _PIPELINE["lazy"] += 1

    def __exit__(self, *exc):
        _PIPELINE["lazy"] -= 1


lazy = _Lazy()


@contextlib.contextmanager
def pipelined():
    """A block (a training loop) whose ``with lazy:`` calls return before XLA has run them.

    Such a call's results come back as JAX arrays, and the key a random stream ends
    with stays in JAX, handed to the next call as it is: the loop's Python for the next
    step overlaps XLA's work on this one. The keys are read back into their NumPy
    generators by :func:`flush`, which the loop calls before anything else may read
    them (an epoch's end, its hooks), and when the block ends, however it ends.
    """
    try:
        yield
    finally:
        flush()


def flush():
    """Write the keys still in JAX back into their NumPy generators (waits for XLA)."""
    pending = _PIPELINE["pending"]
    while pending:
        _, (generator, state) = pending.popitem()
        _advanced(generator, state)


def _movable(generator):
    return isinstance(generator, np.random.Generator) and isinstance(generator.bit_generator,
                                                                    np.random.PCG64)


def _advanced(generator, state):
    """``generator`` (a NumPy Generator, or None) moved to JAX's random ``state``; returned.

    The generator is changed in place, as the Numba mode's in-place draws change it.
    """
    key = np.asarray(state["jax_state"]).astype(np.uint64)
    low = int(key[0]) | int(key[1]) << 32  # jax_typify_Generator's split, undone
    if not _movable(generator):
        generator = np.random.Generator(np.random.PCG64(0))
    bits = generator.bit_generator.state
    bits["state"]["state"] = (bits["state"]["state"] & ~_LOW_64) | low
    generator.bit_generator.state = bits
    return generator


class JAXMode(Mode):
    """A PyTensor ``Mode`` that also equals the name ``"JAX"``, as :func:`dae.config.get_mode`
    returned for ``"jax"`` before this mode existed (code that tests ``mode == "JAX"``
    to adapt to JAX keeps working)."""

    def __eq__(self, other):
        if isinstance(other, str):
            return other.upper() == "JAX"
        return self is other

    __hash__ = Mode.__hash__


def _build():
    return JAXMode(StreamJAXLinker(), RewriteDatabaseQuery(include=["fast_run", "jax"]))


_MODE = []


def mode():
    """dae's JAX mode (built once)."""
    if not _MODE:
        _MODE.append(_build())
    return _MODE[0]

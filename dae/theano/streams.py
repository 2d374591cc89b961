"""Theano's random streams, whose draws advance on every call by themselves.

Theano's ``MRG_RandomStreams`` and ``shared_randomstreams.RandomStreams`` gave
each draw a random state that a compiled function advanced on every call
without the caller listing it in ``updates``. PyTensor keeps that only through
the deprecated ``default_update``; here nothing depends on it:

* each draw gets its own generator, a shared ``numpy.random.Generator`` seeded
  from the stream's ``SeedSequence`` (draw k gets the k-th child seed, so a
  stream's seed fixes every draw), and records the state the draw leaves
  (:func:`next_state`);
* :func:`computed_draws` finds the draws a graph computes between its inputs
  and its outputs; :func:`dae.theano.function` adds ``(generator, next
  state)`` to the updates for each (unless the caller updates that generator
  or passes ``no_default_updates``), and :func:`dae.theano.scan` returns them
  for the draws of its step, as Theano's scan did.

A graph cut at an intermediate variable ``z`` (``function([z], decoder(z))``)
draws nothing upstream of ``z``, so no generator up there advances: Theano's
rule, and the only one under which the cut graph needs no other input.

A Bernoulli draw (``binomial`` with ``n=1``, the dA's corruption mask) is
``uniform < p``, as Theano's MRG computed it; its dtype is the one asked for
(Theano's default ``int64``).
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile import SharedVariable
from pytensor.graph.basic import Variable

__all__ = ["RandomStreams", "MRG_RandomStreams", "next_state", "computed_draws"]

_NEXT = "dae_theano_next_state"


def next_state(shared):
    """The state a draw leaves in its generator ``shared``, or None if it is no stream's."""
    return getattr(shared.tag, _NEXT, None)


def computed_draws(roots, stop=(), givens=()):
    """``[(generator, next state)]`` of the stream draws computed from ``stop`` to ``roots``.

    Walks up from the variables ``roots`` and does not go past a variable of
    ``stop`` (the compiled function's inputs, a scan step's arguments): what
    lies above one is not computed. A variable replaced by ``givens``
    (``(variable, replacement)`` pairs) is not computed either; its
    replacement is, and the walk goes on from there. A draw is computed when
    its node is reached; reaching its generator alone (a scan node holds the
    generators of the draws in its step) is not enough. In the order found.
    """
    replaced = {id(var): value for var, value in givens}
    stopped = {id(var) for var in stop}
    seen_vars, seen_nodes, found = set(), set(), {}
    todo = list(reversed(list(roots)))
    while todo:
        var = todo.pop()
        if not isinstance(var, Variable) or id(var) in seen_vars:
            continue
        seen_vars.add(id(var))
        if id(var) in replaced:
            todo.append(replaced[id(var)])
            continue
        node = var.owner
        if id(var) in stopped or node is None or id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        for inp in node.inputs:
            after = next_state(inp) if isinstance(inp, SharedVariable) else None
            if after is not None and after.owner is node:
                found.setdefault(id(inp), (inp, after))
        todo.extend(reversed(node.inputs))
    return list(found.values())


class RandomStreams:
    """Symbolic random numbers, Theano's interface over NumPy generators.

    Parameters
    ----------
    seed : int, sequence of ints or None
        Seeds a ``numpy.random.SeedSequence``; None draws fresh entropy.

    Attributes
    ----------
    state_updates : list of (shared generator, next state), one per draw, in
        the order drawn (what :meth:`updates` returns).
    """

    def __init__(self, seed=None):
        self.state_updates = []
        self.seed(seed)

    # Theano's streams are objects the tutorials test with ``if not theano_rng``:
    # plain objects are truthy, nothing to add.

    def seed(self, seed=None):
        """Reseed the stream: draw k made so far and from now gets child seed k of ``seed``."""
        self._seeds = np.random.SeedSequence(seed)
        for shared, _ in self.state_updates:
            shared.set_value(np.random.default_rng(self._seeds.spawn(1)[0]), borrow=True)

    def updates(self):
        """``[(generator, next state)]`` of every draw, for code that passes them itself."""
        return list(self.state_updates)

    def _draw(self, rv, params, size, dtype):
        rng = pytensor.shared(np.random.default_rng(self._seeds.spawn(1)[0]),
                              name=f"theano_rng_{len(self.state_updates)}")
        after, value = rv(*params, size=_size(size), rng=rng, dtype=dtype, return_next_rng=True)
        setattr(rng.tag, _NEXT, after)
        self.state_updates.append((rng, after))
        return value

    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None):
        """U[low, high) of shape ``size``, dtype floatX unless the bounds or ``dtype`` say otherwise."""
        dtype = _float_dtype(dtype, low, high)
        return self._draw(pt.random.uniform, _params(dtype, low, high), size, dtype)

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None):
        """N(avg, std**2) of shape ``size``."""
        dtype = _float_dtype(dtype, avg, std)
        return self._draw(pt.random.normal, _params(dtype, avg, std), size, dtype)

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", nstreams=None):
        """Binomial(n, p) counts of shape ``size`` in ``dtype``; n=1 is ``uniform < p``."""
        if isinstance(n, (int, np.integer)) and n == 1:
            u = self.uniform(size=size, dtype=_float_dtype(None, p))
            return pt.cast(pt.lt(u, p), dtype)
        return pt.cast(self._draw(pt.random.binomial, (n, p), size, "int64"), dtype)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64", nstreams=None):
        """Counts of n draws from each row of ``pvals`` (Theano's MRG: one row per sample)."""
        pvals = pt.as_tensor_variable(pvals)
        if size is None:
            size = pvals.shape[:-1]
        return pt.cast(self._draw(pt.random.multinomial, (n, pvals), size, "int64"), dtype)

    def random_integers(self, size=None, low=0, high=1, ndim=None, dtype="int64"):
        """Integers in [low, high], both ends included."""
        return pt.cast(self._draw(pt.random.integers, (low, pt.add(high, 1)), size, "int64"),
                       dtype)


class MRG_RandomStreams(RandomStreams):
    """``theano.sandbox.rng_mrg.MRG_RandomStreams``: same draws, NumPy's generator, not MRG31k3p."""


def _size(size):
    """Theano accepted a tuple of ints and symbols, a list, a symbolic shape or None."""
    if size is None or isinstance(size, Variable):
        return size
    if any(isinstance(s, Variable) for s in size):
        return pt.stack([pt.cast(s, "int64") for s in size])
    return tuple(int(s) for s in size)


def _float_dtype(dtype, *params):
    """``dtype``, else floatX upcast with the params' dtypes (numbers count as floatX)."""
    if dtype is not None:
        return dtype
    dtypes = [p.dtype for p in params if isinstance(p, Variable)]
    return pytensor.scalar.upcast(pytensor.config.floatX, *dtypes)


def _params(dtype, *params):
    """Numbers as constants of ``dtype`` (exact), symbols cast to it."""
    return tuple(pt.cast(p, dtype) if isinstance(p, Variable) else pt.constant(np.asarray(p, dtype))
                 for p in params)

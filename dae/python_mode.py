"""dae's Python mode: PyTensor's FAST_COMPILE, without its two slow paths.

FAST_COMPILE runs each node's ``perform`` in Python, which is NumPy for most
ops and the mode to check the mathematics in: nothing to compile but PyTensor's
few rewrites. Two things made it slow on MNIST-sized graphs, and are fixed here:

1. **Elementwise ops without a NumPy ufunc.** ``Elemwise.perform`` calls a
   NumPy ufunc only where the scalar op names one for its arity; otherwise it
   calls the scalar op's Python ``impl`` once an element
   (``np.frompyfunc``). Every n-ary ``add`` and ``mul`` (``a * b * c``),
   ``softplus``, ``cast``, ``clip`` and ``second`` took that path: a 784-500
   cA step took 1.7 s, against 15 ms in NumPy, most of it in a 10 x 784 x 500
   ``mul`` of the Jacobian term. Here they run as NumPy expressions
   (:class:`NumPyElemwise`); the graph and its numbers are otherwise
   FAST_COMPILE's (``softplus`` as ``logaddexp(0, x)``, exact to rounding).
2. **Symbolic ops compiled in the default mode.** FAST_COMPILE keeps an
   ``OpFromGraph`` (PyTensor's softmax and log-softmax are ones) whole, and
   running one compiles its inner graph in PyTensor's *default* mode, Numba
   under dae: a Python-mode SdA paid seconds of Numba compile for its softmax.
   Here they are expanded first, and run in Python like the rest.

:func:`dae.config.get_mode` hands this mode out for ``"py"``;
``"fast_compile"`` is PyTensor's own.
"""
import functools

import numpy as np
import pytensor.scalar as ps
from pytensor.compile.builders import OpFromGraph
from pytensor.compile.mode import get_mode as pytensor_mode
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import dfs_rewriter, in2out, node_rewriter
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.rewriting.ofg import inline_ofg_node


def _add(*xs):
    return functools.reduce(np.add, xs)


def _mul(*xs):
    return functools.reduce(np.multiply, xs)


def _second(x, y):
    return np.broadcast_to(y, np.broadcast_shapes(np.shape(x), np.shape(y)))


# NumPy for the scalar ops that have no ufunc of their arity. Each returns any
# dtype; NumPyElemwise casts to the node's output dtype.
NUMPY_IMPLS = {
    ps.Add: _add,
    ps.Mul: _mul,
    ps.Softplus: lambda x: np.logaddexp(0, x),  # log(1 + e^x), without overflow
    ps.Cast: lambda x: x,
    ps.Clip: np.clip,
    ps.Second: _second,
}


class NumPyElemwise(Op):
    """An ``Elemwise`` node run as one NumPy expression (Python mode only).

    Same inputs, outputs and broadcasting as the ``Elemwise`` it stands for
    (``elemwise``); ``perform`` calls the NumPy function of its scalar op.
    """

    __props__ = ("elemwise",)

    def __init__(self, elemwise):
        self.elemwise = elemwise

    def make_node(self, *inputs):
        node = self.elemwise.make_node(*inputs)
        return Apply(self, node.inputs, [out.type() for out in node.outputs])

    def perform(self, node, inputs, output_storage):
        result = NUMPY_IMPLS[type(self.elemwise.scalar_op)](*inputs)
        # A new array in the output's dtype (astype copies: never a view of an input).
        output_storage[0][0] = np.asarray(result).astype(node.outputs[0].type.dtype)

    def __str__(self):
        return f"NumPy{{{self.elemwise.scalar_op}}}"


@node_rewriter([Elemwise])
def local_numpy_elemwise(fgraph, node):
    op = node.op
    spec = op.nfunc_spec
    if type(op.scalar_op) not in NUMPY_IMPLS or len(node.outputs) != 1:
        return None
    if spec is not None and spec[1] == len(node.inputs):
        return None  # Elemwise already runs a ufunc
    return [NumPyElemwise(op)(*node.inputs)]


@node_rewriter([OpFromGraph])
def local_expand_op_from_graph(fgraph, node):
    return inline_ofg_node(node)


_MODE = []


def mode():
    """dae's Python mode (built once)."""
    if not _MODE:
        expand = dfs_rewriter(local_expand_op_from_graph, name="dae_expand_op_from_graph")
        numpy = in2out(local_numpy_elemwise, name="dae_numpy_elemwise")
        # The expansion first, before any merge (where PyTensor expands the ops marked
        # inline); the NumPy ops last, once FAST_COMPILE's rewrites are done with the graph.
        _MODE.append(pytensor_mode("FAST_COMPILE").register((expand, -0.01), (numpy, 100)))
    return _MODE[0]

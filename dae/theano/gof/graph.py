"""``theano.gof.graph``: graph walks under their Theano names (``inputs`` is ``graph_inputs``).

PyTensor's walks are generators; Theano's returned lists (code indexes them).
"""
from pytensor.graph import traversal
from pytensor.graph.basic import Apply, Constant, Variable, clone, equal_computations  # noqa: F401
from pytensor.graph.traversal import io_toposort  # noqa: F401


def inputs(variable_list, blockers=None):
    """The variables with no owner (or in ``blockers``) that ``variable_list`` depends on."""
    return list(traversal.graph_inputs(variable_list, blockers))


def ancestors(variable_list, blockers=None):
    """Every variable ``variable_list`` depends on, themselves included."""
    return list(traversal.ancestors(variable_list, blockers))


def is_same_graph(var1, var2, givens=None):
    """Theano's check that ``var1`` and ``var2`` compute the same thing, ``givens`` (a dict
    of replacements in ``var1``'s graph) applied first: PyTensor's ``equal_computations``."""
    if givens:
        from pytensor.graph.replace import clone_replace
        var1 = clone_replace(var1, replace=dict(givens))
    return equal_computations([var1], [var2])


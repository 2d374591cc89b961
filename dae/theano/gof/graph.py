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

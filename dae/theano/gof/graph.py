"""``theano.gof.graph``: graph walks under their Theano names (``inputs`` is ``graph_inputs``).

PyTensor's walks are generators; Theano's returned lists (code indexes them).
``Variable`` is PyTensor's under Theano's constructor (:class:`Variable`).
"""
from pytensor.graph import traversal
from pytensor.graph.basic import Apply, Constant, clone, equal_computations  # noqa: F401
from pytensor.graph.basic import Variable as _PyTensorVariable
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



class TheanoClass(type):
    """Metaclass of a Theano class that stands for a PyTensor one, ``pytensor_class``.

    ``isinstance(x, cls)`` holds, as in Theano, for every ``pytensor_class``
    that is none of ``not_these`` (Theano's classes PyTensor made subclasses
    of it), so PyTensor's own variables pass; calling ``cls`` makes a
    ``pytensor_class``. ``cls`` is no subclass of it: PyTensor's ABC checks
    would call back into this one, and ``not_these`` must not pass theirs.
    """

    def __instancecheck__(cls, obj):
        return cls.__subclasscheck__(type(obj))

    def __subclasscheck__(cls, sub):
        return issubclass(sub, cls.pytensor_class) and not issubclass(sub, cls.not_these)


class Variable(metaclass=TheanoClass):
    """Theano's ``Variable(type, owner=None, index=None, name=None)``: makes PyTensor's,
    whose ``owner`` has no default. Every PyTensor variable is an instance."""

    pytensor_class, not_these = _PyTensorVariable, ()

    def __new__(cls, type, owner=None, index=None, name=None):
        return cls.pytensor_class(type, owner, index=index, name=name)

"""``theano.gof``: Theano's graph framework, which PyTensor calls ``pytensor.graph``."""
from pytensor.graph import utils  # noqa: F401
from pytensor.graph.basic import Apply, Constant  # noqa: F401
from pytensor.graph.fg import FunctionGraph  # noqa: F401
from pytensor.graph.op import Op  # noqa: F401
from pytensor.graph.type import Type  # noqa: F401

from dae.theano.gof import graph  # noqa: F401
from dae.theano.gof.graph import Variable  # noqa: F401

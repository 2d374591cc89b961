"""Supervised layers of the tutorials' MLP and SdA: ``HiddenLayer`` and ``LogisticRegression``.

Graph builders only (they build symbolic expressions over shared parameters and
compile nothing). x is a minibatch, one example per row::

    (1) h = activation(x W + b)                  HiddenLayer, W (n_in, n_out)
    (2) P(Y = k | x) = softmax(x W + b)_k        LogisticRegression, row-wise
    (3) y_pred = argmax_k P(Y = k | x)
    (4) NLL = -mean_i log P(Y = y_i | x_i)       computed with log_softmax
    (5) errors = mean_i [y_pred_i != y_i]
"""
import numpy as np
import pytensor
import pytensor.tensor as pt

from dae.base import _shared, init_weight
from dae.config import floatX


def _positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _param(value, given, name, shape):
    """``given`` (a shared variable to share, checked for shape) or a new shared of ``value``."""
    if given is not None and not hasattr(given, "get_value"):
        raise TypeError(f"{name} must be a shared variable (to share it), got "
                        f"{type(given).__name__}; wrap an array with pytensor.shared(array)")
    return _shared(value, name, given, shape, floatX())


class HiddenLayer:
    """Fully connected layer, eq. (1): ``output = activation(input W + b)``.

    Parameters
    ----------
    rng : numpy.random.RandomState or Generator
        Draws W ~ U(+-sqrt(6 / (n_in + n_out))) (Glorot & Bengio 2010), times 4
        when ``activation`` is the sigmoid: the tutorial's initialization.
    input : symbolic matrix (batch, n_in)
    n_in, n_out : int
    W : shared (n_in, n_out), optional;  b : shared (n_out,), optional
        Pass them to share parameters with another layer or model.
    activation : callable on a symbolic matrix, or None for a linear layer.
    """

    def __init__(self, rng, input, n_in, n_out, W=None, b=None, activation=pt.tanh):
        n_in, n_out = _positive_int("n_in", n_in), _positive_int("n_out", n_out)
        self.input, self.n_in, self.n_out, self.activation = input, n_in, n_out, activation
        scale = 4.0 if activation is pt.sigmoid else 1.0
        self.W = _param(init_weight(rng, n_in, n_out, scale=scale) if W is None else None,
                        W, "W", (n_in, n_out))
        self.b = _param(np.zeros(n_out, dtype=floatX()), b, "b", (n_out,))
        lin_output = pt.dot(input, self.W) + self.b
        self.output = lin_output if activation is None else activation(lin_output)
        self.params = [self.W, self.b]


class LogisticRegression:
    """Multi-class logistic regression, eqs. (2)-(5); W and b start at zero.

    Parameters
    ----------
    input : symbolic matrix (batch, n_in)
    n_in, n_out : int (n_out is the number of classes)

    Attributes: ``W`` (n_in, n_out), ``b`` (n_out,), ``p_y_given_x`` (batch, n_out),
    ``y_pred`` (batch,) int64, ``params``.
    """

    def __init__(self, input, n_in, n_out):
        n_in, n_out = _positive_int("n_in", n_in), _positive_int("n_out", n_out)
        self.input = input
        self.W = pytensor.shared(np.zeros((n_in, n_out), dtype=floatX()), name="W", borrow=True)
        self.b = pytensor.shared(np.zeros(n_out, dtype=floatX()), name="b", borrow=True)
        self.params = [self.W, self.b]
        self.logits = pt.dot(input, self.W) + self.b
        # axis=-1 normalizes each row (each example) over the classes. PyTensor's
        # default, axis=None, would normalize over the whole minibatch matrix, so
        # rows would no longer be distributions (Theano's nnet.softmax was row-wise).
        self.p_y_given_x = pt.special.softmax(self.logits, axis=-1)
        self.y_pred = pt.argmax(self.p_y_given_x, axis=1)

    def negative_log_likelihood(self, y):
        """Eq. (4): the mean over the minibatch of -log P(Y = y_i | x_i).

        ``y`` is an int vector (batch,) of class indices. The log-probabilities
        come from log_softmax of the logits, which stays finite where the
        tutorial's ``log(softmax(.))`` underflows to log(0) = -inf.
        """
        self._check_labels(y)
        log_p = pt.special.log_softmax(self.logits, axis=-1)
        return -pt.mean(log_p[pt.arange(y.shape[0]), y])

    def errors(self, y):
        """Eq. (5): the fraction of the minibatch misclassified, a floatX scalar."""
        self._check_labels(y)
        return pt.mean(pt.cast(pt.neq(self.y_pred, y), floatX()))

    def _check_labels(self, y):
        if not isinstance(y, pytensor.graph.basic.Variable) or y.ndim != 1:
            raise TypeError(
                f"y must be a symbolic int vector of class indices (batch,), like y_pred "
                f"{self.y_pred.type}; got {getattr(y, 'type', type(y).__name__)}; "
                "use pytensor.tensor.ivector('y')")
        if not y.dtype.startswith(("int", "uint")):
            raise TypeError(
                f"y must hold integer class indices, got dtype {y.dtype}; cast the labels "
                "with pytensor.tensor.cast(y, 'int32')")

"""Supervised layers of the tutorials' MLP and SdA (``HiddenLayer``, ``LogisticRegression``),
and :func:`parameter`, the factory every dae model and layer creates its parameters with.

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

from dae import memory
from dae.checks import positive_int
from dae.config import floatX


# -- parameters: the one factory every model and layer creates them with -----------------
def init_weight(numpy_rng, n_in, n_out, dtype=None, scale=4.0):
    """W ~ U(+-scale * sqrt(6 / (n_in + n_out))), shape (n_in, n_out).

    ``scale=4`` is Glorot & Bengio's (2010) range for sigmoid units, the
    tutorials' initialization.
    """
    bound = scale * np.sqrt(6.0 / (n_in + n_out))
    return np.asarray(numpy_rng.uniform(low=-bound, high=bound, size=(n_in, n_out)),
                      dtype=dtype or floatX())


def parameter(name, shape, init=None, given=None, dtype=None):
    """A shared parameter ``name`` of ``shape`` and ``dtype`` (floatX by default).

    ``given`` (a shared variable of that shape) is returned as it is, so a model
    can be built over another model's parameters (the SdA's dA layers over its
    sigmoid layers' W and b). Otherwise a new shared variable holds ``init()``,
    zeros when ``init`` is None: ``init`` is called only then, so a shared
    parameter draws no random numbers and the draws of those that are not stay
    the tutorials'. The memory the new parameters take is checked before the
    first is drawn, by whoever builds them (:func:`dae.memory.check_parameters`).
    """
    dtype, shape = dtype or floatX(), tuple(int(n) for n in shape)
    if given is not None:
        if not hasattr(given, "get_value"):
            raise TypeError(f"{name} must be a shared variable (to share it), got "
                            f"{type(given).__name__}; wrap an array with pytensor.shared(array)")
        got = tuple(given.get_value(borrow=True).shape)
        if got != shape:
            raise ValueError(f"{name} has shape {got}, expected {shape} for this model")
        return given
    value = np.zeros(shape, dtype) if init is None else init()
    return pytensor.shared(np.asarray(value, dtype=dtype), name=name, borrow=True)


def _check_memory(n_in, n_out, dtype, what):
    memory.check_parameters([(n_in, n_out), (n_out,)], dtype, f"{n_in}-{n_out} {what}'s parameters",
                            "use fewer units")


class HiddenLayer:
    """Fully connected layer, eq. (1): ``output = activation(input W + b)``.

    The one dense layer of dae: the SdA's sigmoid layers and every layer of the
    VAE's encoder and decoder.

    Parameters
    ----------
    rng : numpy.random.RandomState or Generator
        Draws W ~ U(+-sqrt(6 / (n_in + n_out))) (Glorot & Bengio 2010), times 4
        when ``activation`` is the sigmoid: the tutorial's initialization.
    input : symbolic matrix (batch, n_in), or None
        With None, ``output`` is None: apply the layer to inputs of your own
        with :meth:`apply` (the VAE applies its layers to several inputs).
    n_in, n_out : int
    W : shared (n_in, n_out), optional;  b : shared (n_out,), optional
        Pass them to share parameters with another layer or model.
    activation : callable on a symbolic matrix, or None for a linear layer.
    name : str, optional
        Names the parameters ``W_<name>`` and ``b_<name>`` (``W`` and ``b`` without).
    dtype : str, optional
        Parameter dtype; floatX (float32) by default.
    """

    def __init__(self, rng, input, n_in, n_out, W=None, b=None, activation=pt.tanh, name=None,
                 dtype=None):
        n_in, n_out = positive_int(n_in, "n_in"), positive_int(n_out, "n_out")
        dtype = dtype or floatX()
        if W is None:
            _check_memory(n_in, n_out, dtype, "layer")
        self.input, self.n_in, self.n_out, self.activation = input, n_in, n_out, activation
        scale = 4.0 if activation is pt.sigmoid else 1.0
        suffix = f"_{name}" if name else ""
        self.W = parameter("W" + suffix, (n_in, n_out),
                           lambda: init_weight(rng, n_in, n_out, dtype, scale=scale), W, dtype)
        self.b = parameter("b" + suffix, (n_out,), given=b, dtype=dtype)
        self.params = [self.W, self.b]
        self.output = None if input is None else self.apply(input)

    def apply(self, input):
        """Eq. (1) on ``input`` (..., n_in): activation(input W + b), shape (..., n_out)."""
        lin_output = pt.dot(input, self.W) + self.b
        return lin_output if self.activation is None else self.activation(lin_output)


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
        n_in, n_out = positive_int(n_in, "n_in"), positive_int(n_out, "n_out")
        _check_memory(n_in, n_out, floatX(), "logistic regression")
        self.input = input
        self.W = parameter("W", (n_in, n_out))
        self.b = parameter("b", (n_out,))
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

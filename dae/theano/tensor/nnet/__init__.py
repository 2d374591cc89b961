"""``theano.tensor.nnet``: the neural-network functions PyTensor spread elsewhere.

``sigmoid`` and ``softplus`` are PyTensor's own objects (the tutorials test
``activation == theano.tensor.nnet.sigmoid``). The others follow Theano's
definitions::

    softmax(x)       = exp(x) / sum(exp(x)) over the last axis (a row per example)
    relu(x, alpha)   = x if x > 0 else alpha * x
    binary_crossentropy(o, t)      = -(t log o + (1 - t) log(1 - o))
    categorical_crossentropy(o, t) = -sum_k t_k log o_k, or -log o[i, t_i] for int labels t
    hard_sigmoid(x)  = clip(0.2 x + 0.5, 0, 1)
    softsign(x)      = x / (1 + |x|)
    elu(x, alpha)    = x if x > 0 else alpha (exp(x) - 1)

Differences: Theano's ``softmax`` of a vector returned a (1, n) row with a
warning; here it is the vector's softmax. ``ultra_fast_sigmoid`` is the exact
sigmoid (dae's Numba mode has a fast float32 kernel for it). ``conv2d`` is
Theano's 2-d convolution (:mod:`.abstract_conv`); ``conv3d`` is an importable
stand-in that fails when called.
"""
import pytensor.tensor as pt
from pytensor.tensor import sigmoid, softplus  # noqa: F401  (the same objects)
from pytensor.tensor.special import log_softmax as _log_softmax
from pytensor.tensor.special import softmax as _softmax

from dae.theano.tensor.nnet import abstract_conv, conv, neighbours  # noqa: F401
from dae.theano.tensor.nnet.abstract_conv import conv2d, conv3d  # noqa: F401
from dae.theano.tensor.nnet.neighbours import images2neibs, neibs2images  # noqa: F401

__all__ = ["sigmoid", "softplus", "softmax", "logsoftmax", "relu", "binary_crossentropy",
           "categorical_crossentropy", "ultra_fast_sigmoid", "hard_sigmoid", "softsign", "elu",
           "conv2d", "conv3d", "images2neibs", "neibs2images"]

ultra_fast_sigmoid = sigmoid


def softmax(x):
    """Softmax over the last axis: each row of a (batch, k) matrix sums to 1.

    PyTensor's ``softmax`` defaults to ``axis=None`` (all entries together),
    silently wrong on a matrix; Theano's was per row.
    """
    return _softmax(x, axis=-1)


def logsoftmax(x):
    """log(softmax(x)) over the last axis, computed stably."""
    return _log_softmax(x, axis=-1)


def relu(x, alpha=0):
    """Rectifier; ``alpha`` is the slope for x < 0 (leaky ReLU)."""
    if isinstance(alpha, (int, float)) and alpha == 0:
        return pt.maximum(x, 0)
    return pt.switch(pt.gt(x, 0), x, alpha * x)


def binary_crossentropy(output, target):
    """Elementwise -(target log(output) + (1 - target) log(1 - output))."""
    return -(target * pt.log(output) + (1.0 - target) * pt.log(1.0 - output))


def categorical_crossentropy(coding_dist, true_dist):
    """Cross-entropy of each row: ``true_dist`` one-hot/probability rows, or int labels."""
    if true_dist.ndim == coding_dist.ndim:
        return -pt.sum(true_dist * pt.log(coding_dist), axis=-1)
    if true_dist.ndim == coding_dist.ndim - 1 and true_dist.dtype.startswith(("int", "uint")):
        return -pt.log(coding_dist[pt.arange(true_dist.shape[0]), true_dist])
    raise TypeError(f"true_dist must have coding_dist's {coding_dist.ndim} dimensions "
                    f"(probabilities) or one fewer (integer labels), got {true_dist.type}")


def hard_sigmoid(x):
    """Theano's piecewise-linear sigmoid, clip(0.2 x + 0.5, 0, 1)."""
    return pt.clip(0.2 * x + 0.5, 0.0, 1.0)


def softsign(x):
    return x / (1.0 + abs(x))


def elu(x, alpha=1):
    return pt.switch(pt.gt(x, 0), x, alpha * pt.expm1(x))

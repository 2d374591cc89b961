"""Update rules: functions returning ``[(shared, new_value), ...]``.

Each takes ``loss_or_grads`` (a scalar cost, or a list of gradients matching
``params``) and ``params`` (shared variables), Lasagne-style, and returns the
ordered list of updates to pass to ``pytensor.function(updates=...)``. Extra
state (velocities, moments) lives in new shared variables of the parameter's
dtype. Scalar hyperparameters may be Python numbers or symbolic scalars; they
are cast to the parameter's dtype so a float32 graph stays float32.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt

from dae import memory
from dae.config import scalar


def get_or_compute_grads(loss_or_grads, params):
    if isinstance(loss_or_grads, (list, tuple)):
        if len(loss_or_grads) != len(params):
            raise ValueError(
                f"got {len(loss_or_grads)} gradients for {len(params)} parameters; "
                "pass one gradient per parameter or a scalar cost"
            )
        return list(loss_or_grads)
    return pytensor.grad(loss_or_grads, params)


def _cast(value, like):
    return scalar(value, like.dtype)


def _zeros_like(param, name):
    value = param.get_value(borrow=True)
    return pytensor.shared(np.zeros(value.shape, dtype=value.dtype), name=name,
                           shape=value.shape)


def _reserve(params, copies, rule):
    """The rule's state (``copies`` arrays the size of each parameter) must fit first."""
    values = [p.get_value(borrow=True) for p in params]
    n_bytes = copies * sum(memory.parameter_bytes([v.shape], v.dtype) for v in values)
    memory.check(n_bytes, f"{rule}'s state ({copies} cop{'ies' if copies > 1 else 'y'} of the "
                 "parameters)", "use a smaller model, or plain SGD, which keeps no state")


def sgd(loss_or_grads, params, learning_rate):
    """theta <- theta - learning_rate * grad."""
    grads = get_or_compute_grads(loss_or_grads, params)
    return [(p, p - _cast(learning_rate, p) * g) for p, g in zip(params, grads)]


def momentum(loss_or_grads, params, learning_rate, momentum=0.9):
    """v <- momentum * v - learning_rate * grad;  theta <- theta + v."""
    grads = get_or_compute_grads(loss_or_grads, params)
    _reserve(params, 1, "momentum")
    updates = []
    for p, g in zip(params, grads):
        v = _zeros_like(p, "velocity")
        v_new = _cast(momentum, p) * v - _cast(learning_rate, p) * g
        updates += [(v, v_new), (p, p + v_new)]
    return updates


def adagrad(loss_or_grads, params, learning_rate=0.01, epsilon=1e-6):
    """r <- r + grad**2;  theta <- theta - learning_rate * grad / (sqrt(r) + epsilon)."""
    grads = get_or_compute_grads(loss_or_grads, params)
    _reserve(params, 1, "AdaGrad")
    updates = []
    for p, g in zip(params, grads):
        r = _zeros_like(p, "accu")
        r_new = r + g**2
        step = _cast(learning_rate, p) * g / (pt.sqrt(r_new) + _cast(epsilon, p))
        updates += [(r, r_new), (p, p - step)]
    return updates


def adam(loss_or_grads, params, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Adam (Kingma & Ba 2015) with bias correction folded into the step size."""
    grads = get_or_compute_grads(loss_or_grads, params)
    _reserve(params, 2, "Adam")
    t_prev = pytensor.shared(np.asarray(0, dtype=pytensor.config.floatX), name="t")
    t = t_prev + 1
    updates = [(t_prev, t)]
    for p, g in zip(params, grads):
        one = np.asarray(1, dtype=p.dtype)
        b1, b2 = _cast(beta1, p), _cast(beta2, p)
        a_t = _cast(learning_rate, p) * pt.sqrt(one - b2 ** _cast(t, p)) / (one - b1 ** _cast(t, p))
        m, v = _zeros_like(p, "m"), _zeros_like(p, "v")
        m_new = b1 * m + (one - b1) * g
        v_new = b2 * v + (one - b2) * g**2
        updates += [(m, m_new), (v, v_new),
                    (p, p - a_t * m_new / (pt.sqrt(v_new) + _cast(epsilon, p)))]
    return updates


RULES = {"sgd": sgd, "momentum": momentum, "adagrad": adagrad, "adam": adam}


def get_rule(name):
    """Look an update rule up by name (``sgd``, ``momentum``, ``adagrad``, ``adam``)."""
    if callable(name):
        return name
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(f"unknown update rule {name!r}: expected one of {', '.join(RULES)}") from None

"""Sparse autoencoder (Ng's UFLDL notes), on the shared base.

Each hidden unit is pushed to be active (near 1) for only a small fraction rho
of the examples: its mean activation over the minibatch is held near rho by a
Kullback-Leibler penalty, and the weights are kept small by weight decay::

    (1) y = s(x W + b)                                     encoder, W (n_visible, n_hidden)
    (2) z = s(y W' + b')                                   decoder, W' = W^T when tied
    (3) L(x, z) = sum_k (x_k - z_k)^2 / 2                  (UFLDL's; or cross-entropy)
    (4) rho^_j = mean over the minibatch of y_j            unit j's mean activation
    (5) KL(rho || rho^_j) = rho log(rho / rho^_j) + (1 - rho) log((1 - rho) / (1 - rho^_j))
    (6) cost = mean over the minibatch of L(x, z)
               + beta * sum_j KL(rho || rho^_j)
               + (lambda / 2) * ||W||_F^2                  (+ ||W'||_F^2 when untied)

With ``sparsity="l1"`` the KL term of (6) becomes an activation penalty,
beta * (mean over the minibatch of sum_j |y_j|), the "sparse autoencoder" of
the Keras blog.

(3) defaults to squared error, as in UFLDL, whose settings (rho = 0.1,
beta = 3, lambda = 3e-3) assume that scale: on MNIST cross-entropy is several
times larger (some 60 nats an image once a cA has trained, against some 8 for
squared error here) and would weaken the penalties as much.
``loss="cross_entropy"`` is there.
rho^ is clipped into [eps, 1 - eps] before the logs of (5), so a dead or
saturated unit gives a large but finite penalty in float32.
"""
import numpy as np
import pytensor.tensor as pt

from dae.base import Autoencoder, scalar
from dae.checks import one_of

SPARSITIES = ("kl", "l1")
EPS = 1e-6  # rho^'s clip; 1 - EPS is still below 1 in float32


class sA(Autoencoder):
    """Sparse autoencoder, equations (1)-(6) above.

    ``sA(numpy_rng, input=None, n_visible=784, n_hidden=196, W=None, bhid=None,
    bvis=None)``; attributes ``W, b, b_prime, W_prime, params, x``; method
    ``get_cost_updates(learning_rate, sparsity_target=0.1, sparsity_weight=3.0,
    weight_decay=3e-3)``. Keyword options of the base (``theano_rng``,
    ``tied``, ``corruption``, ``loss``, ``dtype``) are accepted too.

    Parameters
    ----------
    sparsity : {"kl", "l1"}
        The sparsity term of (6): KL to the target activation (default) or the
        L1 norm of the activations.
    loss : {"squared_error", "cross_entropy"}
        Eq. (3); squared error by default, as in UFLDL.
    """

    _stream_seed_first = False  # W drawn first, as the tutorial's cA draws it

    def __init__(self, numpy_rng, input=None, n_visible=784, n_hidden=196, W=None, bhid=None,
                 bvis=None, sparsity="kl", loss="squared_error", **options):
        one_of(sparsity, SPARSITIES, "sparsity")
        super().__init__(numpy_rng, input=input, n_visible=n_visible, n_hidden=n_hidden,
                         W=W, bhid=bhid, bvis=bvis, loss=loss, **options)
        self.sparsity = sparsity

    def mean_activation(self, hidden):
        """Eq. (4): rho^, each hidden unit's mean over the minibatch, shape (n_hidden,)."""
        return pt.mean(hidden, axis=0)

    def kl_divergence(self, hidden, sparsity_target=0.1):
        """sum_j KL(rho || rho^_j) of eq. (5), a scalar; 0 exactly when rho^ = rho."""
        rho, eps = scalar(sparsity_target, self.dtype), scalar(EPS, self.dtype)
        rho_hat = pt.clip(self.mean_activation(hidden), eps, 1 - eps)
        return pt.sum(rho * pt.log(rho / rho_hat) + (1 - rho) * pt.log((1 - rho) / (1 - rho_hat)))

    def activation_l1(self, hidden):
        """The L1 alternative: mean over the minibatch of sum_j |y_j|, a scalar."""
        return pt.mean(pt.sum(abs(hidden), axis=1))

    def weight_decay_term(self):
        """||W||_F^2 (+ ||W'||_F^2 when untied) / 2; biases are not decayed, as in UFLDL."""
        weights = [self.W] if self.tied else [self.W, self.W_prime]
        return sum(pt.sum(pt.sqr(w)) for w in weights) / 2

    def penalty(self, x, hidden, sparsity_target=0.1, sparsity_weight=3.0, weight_decay=3e-3):
        """The second and third terms of (6)."""
        _check_penalty(sparsity_target, sparsity_weight, weight_decay)
        if self.sparsity == "kl":
            sparsity = self.kl_divergence(hidden, sparsity_target)
        else:
            sparsity = self.activation_l1(hidden)
        return (scalar(sparsity_weight, self.dtype) * sparsity
                + scalar(weight_decay, self.dtype) * self.weight_decay_term())

    def get_cost_updates(self, learning_rate, sparsity_target=0.1, sparsity_weight=3.0,
                         weight_decay=3e-3, corruption_level=0.0, update_rule="sgd", **rule_args):
        """Cost (6) and the updates of one step of ``update_rule`` (SGD by default).

        Returns ``(cost, updates)``. ``sparsity_target`` is rho, in (0, 1);
        ``sparsity_weight`` beta and ``weight_decay`` lambda, both >= 0. Each
        may be a number or a symbolic scalar. ``corruption_level`` corrupts the
        input as the base's ``corruption`` option says (0 by default).
        """
        cost, _ = self.get_cost(corruption_level, sparsity_target=sparsity_target,
                                sparsity_weight=sparsity_weight, weight_decay=weight_decay)
        return cost, self.updates_for(cost, learning_rate, update_rule, **rule_args)


def _is_number(value):
    return isinstance(value, (int, float, np.number))


def _check_penalty(target, weight, decay):
    if _is_number(target) and not 0 < target < 1:
        raise ValueError(f"sparsity_target must lie strictly between 0 and 1, got {target!r}; "
                         "it is the mean activation wanted of each hidden unit (UFLDL used 0.1)")
    for name, value in (("sparsity_weight", weight), ("weight_decay", decay)):
        if _is_number(value) and not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

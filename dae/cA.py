"""Contractive autoencoder (Rifai et al. 2011), the tutorial's ``cA``.

The cA adds to the reconstruction cost the squared Frobenius norm of the
encoder's Jacobian, so that the code y changes little when x moves a little::

    (1) y = s(x W + b)                                     encoder, W (n_visible, n_hidden)
    (2) z = s(y W' + b')                                   decoder, W' = W^T when tied
    (3) L(x, z) = -sum_k [x_k log z_k + (1 - x_k) log(1 - z_k)]
    (4) J_f(x)_ij = d y_j / d x_i = y_j (1 - y_j) W_ij     the Jacobian, (n_visible, n_hidden)
    (5) ||J_f(x)||_F^2 = sum_j (y_j (1 - y_j))^2 sum_i W_ij^2
    (6) cost = mean over the minibatch of L(x, z)
               + contraction_level * mean over the minibatch of ||J_f(x)||_F^2

(5) follows from (4) because row j of J^T is W's column j scaled by
y_j (1 - y_j); it costs one (batch, n_hidden) product instead of the
(batch, n_visible, n_hidden) tensor :meth:`cA.get_jacobian` builds.

Everything but the penalty is :class:`dae.base.Autoencoder`; (3) is computed
from the decoder's pre-sigmoid there, so saturated units give no log(0).
"""
import numpy as np
import pytensor.tensor as pt

from dae.base import Autoencoder, scalar
from dae.checks import positive_int


class cA(Autoencoder):
    """Contractive autoencoder with the tutorial's API, equations (1)-(6) above.

    ``cA(numpy_rng, input=None, n_visible=784, n_hidden=100, n_batchsize=1,
    W=None, bhid=None, bvis=None)``; attributes ``W, b, b_prime, W_prime,
    params, x``; methods ``get_hidden_values``, ``get_jacobian``,
    ``get_reconstructed_input``, ``get_cost_updates(contraction_level,
    learning_rate)``. Keyword options of the base (``theano_rng``, ``tied``,
    ``corruption``, ``loss``, ``dtype``) are accepted too.

    Parameters
    ----------
    n_batchsize : int
        Accepted for the tutorial's sake and ignored: the tutorial baked the
        minibatch size into the graph (a reshape and a division), so a last,
        smaller minibatch failed; here every shape is read from the input.
    """

    _stream_seed_first = False  # the tutorial's cA draws W first (it has no random stream)
    # n_batchsize changes nothing in the model, and model files never stored it
    _not_hyperparameters = Autoencoder._not_hyperparameters + ("n_batchsize",)

    def __init__(self, numpy_rng, input=None, n_visible=784, n_hidden=100, n_batchsize=1,
                 W=None, bhid=None, bvis=None, **options):
        # accepted for the tutorial's sake (any minibatch size works), but still checked
        n_batchsize = positive_int(n_batchsize, "n_batchsize")
        super().__init__(numpy_rng, input=input, n_visible=n_visible, n_hidden=n_hidden,
                         W=W, bhid=bhid, bvis=bvis, **options)
        self.n_batchsize = n_batchsize

    def get_jacobian(self, hidden, W):
        """Eq. (4) for each example: a tensor (batch, n_visible, n_hidden).

        ``hidden`` is (batch, n_hidden) from :meth:`get_hidden_values`, ``W``
        the encoder's weights (n_visible, n_hidden). For inspection only: the
        cost uses (5), which never builds this tensor.
        """
        return (hidden * (1 - hidden))[:, None, :] * W[None, :, :]

    def jacobian_norm_sq(self, hidden):
        """Eq. (5): ||J_f(x)||_F^2 for each example, shape (batch,)."""
        slope = hidden * (1 - hidden)
        return pt.sum(pt.sqr(slope) * pt.sum(pt.sqr(self.W), axis=0), axis=1)

    def penalty(self, x, hidden, contraction_level=0.1):
        """The second term of (6)."""
        _check_level(contraction_level)
        # The tutorial wrote T.sum(J ** 2) // n_batchsize: `//` is floor division,
        # which rounds the penalty down to an integer and, having zero gradient,
        # took the contraction out of training altogether. This is a true mean.
        return scalar(contraction_level, self.dtype) * pt.mean(self.jacobian_norm_sq(hidden))

    def get_cost_updates(self, contraction_level, learning_rate, corruption_level=0.0,
                         update_rule="sgd", **rule_args):
        """Cost (6) and the updates of one step of ``update_rule`` (SGD by default).

        Returns ``(cost, updates)``. Sets the tutorial's monitors ``L_rec``
        (eq. 3 per example, (batch,)) and ``L_jacob`` (the batch's mean of (5),
        a scalar). ``corruption_level`` corrupts the input as the base's
        ``corruption`` option says (0, the tutorial's cA, by default).
        """
        cost, hidden = self.get_cost(corruption_level, contraction_level=contraction_level)
        self.L_rec = self.reconstruction_loss(self.x, hidden)
        self.L_jacob = pt.mean(self.jacobian_norm_sq(hidden))
        return cost, self.updates_for(cost, learning_rate, update_rule, **rule_args)


def _check_level(value):
    if isinstance(value, (int, float, np.number)) and not (np.isfinite(value) and value >= 0):
        raise ValueError(f"contraction_level must be a finite number >= 0, got {value!r}; "
                         "0 gives a plain autoencoder, the tutorial used 0.1")

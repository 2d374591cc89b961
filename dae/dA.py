"""Denoising autoencoder (Vincent et al. 2008), the tutorial's ``dA``.

The dA learns to reconstruct a clean input x from a corrupted copy x~::

    (1) x~ ~ q_D(x~ | x)         each x_k zeroed with probability corruption_level
    (2) y  = s(x~ W + b)
    (3) z  = s(y W^T + b')
    (4) L(x, z) = -sum_k [x_k log z_k + (1 - x_k) log(1 - z_k)]
    (5) cost = mean over the minibatch of L(x, z)

The cost compares z with the *uncorrupted* x. With corruption_level 0 it is a
plain autoencoder. Everything is inherited from :class:`dae.base.Autoencoder`;
this class fixes the tutorial's constructor signature.
"""
from dae.base import Autoencoder


class dA(Autoencoder):
    """Denoising autoencoder with the tutorial's API.

    ``dA(numpy_rng, theano_rng=None, input=None, n_visible=784, n_hidden=500,
    W=None, bhid=None, bvis=None)``; attributes ``W, b, b_prime, W_prime, params,
    x``; methods ``get_corrupted_input``, ``get_hidden_values``,
    ``get_reconstructed_input``, ``get_cost_updates(corruption_level,
    learning_rate)``. Keyword options of the base (``tied``, ``corruption``,
    ``loss``, ``dtype``) are accepted too.
    """

    def __init__(self, numpy_rng, theano_rng=None, input=None, n_visible=784, n_hidden=500,
                 W=None, bhid=None, bvis=None, **options):
        super().__init__(numpy_rng, theano_rng=theano_rng, input=input, n_visible=n_visible,
                         n_hidden=n_hidden, W=W, bhid=bhid, bvis=bvis, **options)

"""Linear autoencoder with squared error: the autoencoder whose optimum is PCA.

The base autoencoder (:mod:`dae.base`) with the sigmoids taken out::

    (1) y = x W + b                               encoder, W (n_visible, n_hidden)
    (2) z = y W' + b'                             decoder, W' = W^T when tied
    (3) L(x, z) = sum_k (x_k - z_k)^2 / 2
    (4) cost = mean over the minibatch of L

Baldi & Hornik (1989): every minimum of (4) has W W' equal to the orthogonal
projection onto the span of the top n_hidden principal directions of the
(centred) data, the biases taking the mean; there are no other local minima,
only saddles. So the column space of W is PCA's top-k subspace, although W's
columns need not be the principal directions themselves (any invertible mix of
them, undone by W'). Tied (W' = W^T, the default), the optimum's W has
orthonormal columns, and L-BFGS finds it in a few dozen iterations; untied, the
encoder's components along directions of tiny variance barely change the cost
and converge slowly (a degree off after 500 iterations on a 12-pixel test). A sigmoid autoencoder is not bound to this: the sigmoid is
what lets it learn something other than PCA.

A subclass rather than an option of the base, so the base's models and model
files stay exactly as they were. It keeps the model contract of
:class:`dae.base.Model` (its features are the code y of eq. (1)) and is saved
as any dae model is.
"""
import pytensor.tensor as pt

from dae.base import Autoencoder


class LinearAutoencoder(Autoencoder):
    """Equations (1)-(4) above; the base's options (``tied``, ``dtype``...) apply,
    ``loss`` is always squared error and the input is not corrupted."""

    def __init__(self, numpy_rng, input=None, n_visible=784, n_hidden=50, W=None, **options):
        options["loss"] = "squared_error"
        super().__init__(numpy_rng, input=input, n_visible=n_visible, n_hidden=n_hidden, W=W, **options)
        if W is None:
            # the base draws Glorot's range for sigmoid units, 4 times that for linear ones;
            # from the smaller one L-BFGS reaches PCA's subspace in far fewer iterations
            self.W.set_value(self.W.get_value() / 4)

    def get_hidden_values(self, input):
        """Eq. (1): y = x W + b, shape (batch, n_hidden)."""
        return pt.dot(input, self.W) + self.b

    def get_reconstructed_input(self, hidden):
        """Eq. (2): z = y W' + b', shape (batch, n_visible)."""
        return self._decoder_preactivation(hidden)

    def reconstruction_loss(self, x, hidden):
        """Eq. (3), one value per example, shape (batch,)."""
        return pt.sum(pt.sqr(x - self.get_reconstructed_input(hidden)), axis=1) / 2

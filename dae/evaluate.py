"""Honest likelihood numbers for a VAE: test ELBO and the importance-sampled bound.

Binary MNIST results depend on how the grey images were made binary, so every
number comes with its protocol. dae's protocol, the usual one since Burda et
al. (2016):

* training: dynamic binarization, a fresh x_bin ~ Bernoulli(x) at every step
  (``VAE.get_cost_updates(..., binarize=True)``);
* evaluation: the validation and test sets binarized once, by :func:`binarize`
  with a fixed seed (0 by default), so two models are scored on the same bits.

:class:`Evaluator` compiles the ELBO (eq. 7 of :mod:`dae.VAE`) and the IWAE
bound L_k (eq. 9) once and runs them over a data set in batches: the IWAE
batch holds ``max_rows // k`` examples, so the decoder sees at most
``max_rows`` samples at a time and memory stays bounded for any k. -L_k with
k = 1000 is the reported negative log-likelihood (NLL), an upper bound on the
true NLL that tightens as k grows.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt

from dae.config import get_mode
from dae.random import RandomStreams

PROTOCOL = "binarized once, seed {seed}; dynamic binarization in training"


def binarize(x, seed=0):
    """x_bin ~ Bernoulli(x), drawn once from ``numpy.random.default_rng(seed)``.

    x : array (n, d) of probabilities in [0, 1]. Returns float32 zeros and ones.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"expected a non-empty matrix (n, d) of pixel intensities, got shape {x.shape}")
    if not np.all((x >= 0) & (x <= 1)):
        raise ValueError("expected intensities in [0, 1] to binarize; scale the images to [0, 1] first")
    draws = np.random.default_rng(seed).random(x.shape, dtype=np.float32)
    return (draws < x).astype(np.float32)


class Evaluator:
    """Compiled, batched ELBO and IWAE bound of a :class:`dae.VAE.VAE`.

    Parameters
    ----------
    model : dae.VAE.VAE
    seed : int
        Seeds the evaluation's own random streams (the model's ``theano_rng``
        is left alone, so evaluating does not change training).
    mode : compile mode name (see :func:`dae.config.get_mode`).
    max_rows : int
        Most samples z the IWAE decoder sees at once. Memory grows by about 8 kB
        per row for the 784-512-512-50 model (peak resident memory measured
        with 2,000 and 10,000 rows), so the default costs under 0.1 GB.

    Functions are compiled at first use and kept, so calling :meth:`elbo` each
    epoch compiles once.
    """

    def __init__(self, model, seed=0, mode=None, max_rows=10000):
        self.model, self.seed, self.mode, self.max_rows = model, seed, mode, int(max_rows)
        self._elbo = self._iwae = None

    def _check(self, x):
        x = np.asarray(x, dtype=self.model.dtype)
        if x.ndim != 2 or x.shape[1] != self.model.n_visible or x.shape[0] == 0:
            raise ValueError(f"expected data of shape (n, {self.model.n_visible}), got {x.shape}")
        return x

    def elbo(self, x, batch_size=1000):
        """Eq. (7) for each row of ``x``: float64 array (n,), in nats (one sample z each)."""
        x = self._check(x)
        if self._elbo is None:
            rng, xs = RandomStreams(self.seed), pt.matrix("x", dtype=self.model.dtype)
            self._elbo = pytensor.function([xs], self.model.elbo(xs, rng), updates=rng.updates(),
                                           mode=get_mode(self.mode))
        return np.concatenate([self._elbo(x[i:i + batch_size])
                               for i in range(0, len(x), batch_size)]).astype(np.float64)

    def iwae(self, x, k=1000, progress=None):
        """Eq. (9), L_k for each row of ``x``: float64 array (n,), in nats; -L_k is the NLL bound.

        progress : callable(iterable) -> iterable wrapping the batches (a progress bar), or None.
        """
        x = self._check(x)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k (importance samples) must be a positive int, got {k!r}")
        if self._iwae is None:
            # a stream of its own, so the IWAE samples do not depend on how often elbo ran
            rng, xs, ks = RandomStreams(self.seed + 1), pt.matrix("x", dtype=self.model.dtype), pt.lscalar("k")
            self._iwae = pytensor.function([xs, ks], self.model.iwae_bound(xs, ks, rng),
                                           updates=rng.updates(), mode=get_mode(self.mode))
        per_batch = max(1, self.max_rows // k)
        starts = range(0, len(x), per_batch)
        if progress is not None:
            starts = progress(starts)
        return np.concatenate([self._iwae(x[i:i + per_batch], k) for i in starts]).astype(np.float64)

"""Numbers from a trained model: reconstruction cost, classification error, ELBO and IWAE bound.

:func:`reconstruction_cost` (an autoencoder) and :func:`classification_error`
(the SdA) score arrays in batches; :class:`Evaluator` gives a VAE's
likelihood numbers.

Binary MNIST results depend on how the grey images were made binary, so every
likelihood number comes with its protocol. dae's protocol, the usual one since
Burda et al. (2016):

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

from dae import memory
from dae.checks import positive_int
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
    epoch compiles once. Each call starts its samples from ``seed`` again: the
    same model and data give the same numbers however often either ran.
    """

    def __init__(self, model, seed=0, mode=None, max_rows=10000):
        self.model, self.seed, self.mode = model, seed, mode
        self.max_rows = positive_int(max_rows, "max_rows")
        self._elbo = self._iwae = None
        # the IWAE's stream is seeded seed + 1 (its samples differ from the ELBO's), as
        # before the streams restarted at each call: published numbers reproduce
        self._elbo_rng, self._iwae_rng = RandomStreams(seed), RandomStreams(seed + 1)

    def elbo(self, x, batch_size=1000):
        """Eq. (7) for each row of ``x``: float64 array (n,), in nats (one sample z each)."""
        x = _rows(x, self.model.n_visible, self.model.dtype)
        batch_size = positive_int(batch_size, "batch_size")
        if self._elbo is None:
            rng, xs = self._elbo_rng, pt.matrix("x", dtype=self.model.dtype)
            self._elbo = pytensor.function([xs], self.model.elbo(xs, rng), updates=rng.updates(),
                                           mode=get_mode(self.mode))
        _restart(self._elbo_rng, self.seed)
        return np.concatenate([self._elbo(x[i:i + batch_size])
                               for i in range(0, len(x), batch_size)]).astype(np.float64)

    def iwae(self, x, k=1000, progress=None):
        """Eq. (9), L_k for each row of ``x``: float64 array (n,), in nats; -L_k is the NLL bound.

        progress : callable(iterable) -> iterable wrapping the batches (a progress bar), or None.
        Raises :class:`dae.memory.MemoryNeeded` when even one example's k samples would
        not fit in memory.
        """
        x = _rows(x, self.model.n_visible, self.model.dtype)
        k = positive_int(k, "k (importance samples)")
        per_batch = max(1, self.max_rows // k)
        memory.check(per_batch * k * self._sample_bytes(), f"the IWAE bound with k={k} "
                     f"({per_batch} example{'s' * (per_batch > 1)} at a time)",
                     "use a smaller k (1000 is the usual protocol)")
        if self._iwae is None:
            rng, xs, ks = self._iwae_rng, pt.matrix("x", dtype=self.model.dtype), pt.lscalar("k")
            self._iwae = pytensor.function([xs, ks], self.model.iwae_bound(xs, ks, rng),
                                           updates=rng.updates(), mode=get_mode(self.mode))
        _restart(self._iwae_rng, self.seed + 1)
        starts = range(0, len(x), per_batch)
        if progress is not None:
            starts = progress(starts)
        return np.concatenate([self._iwae(x[i:i + per_batch], k) for i in starts]).astype(np.float64)

    def _sample_bytes(self):
        """An estimate of the memory one sample z_i takes in eq. (9): eps, z and its
        moments (3 n_latent), each decoder layer's pre- and post-activation, the
        logits and log p(x|z)'s terms (2 n_visible). About 15 kB for 784-512-512-50,
        above the 8 kB measured, so a k that passes fits."""
        m = self.model
        floats = 3 * m.n_latent + 2 * sum(m.hidden_layers_sizes) + 2 * m.n_visible
        return floats * np.dtype(m.dtype).itemsize


def _restart(rng, seed):
    rng.state.set_value(np.random.default_rng(seed), borrow=True)


# -- autoencoders and the SdA ------------------------------------------------------------------
def _rows(x, n_visible, dtype, name="x"):
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 2 or x.shape[1] != n_visible or x.shape[0] == 0:
        raise ValueError(f"expected {name} of shape (n, {n_visible}) with n >= 1 (one example a row), "
                         f"got {x.shape}")
    return x


def _batched_sum(function, arrays, batch_size):
    """The sum over batches of ``function(*batch)``, accumulated in float64."""
    batch_size = positive_int(batch_size, "batch_size")
    n = len(arrays[0])
    return float(np.sum([function(*(a[i:i + batch_size] for a in arrays))
                         for i in range(0, n, batch_size)], dtype=np.float64))


def reconstruction_cost(model, x, batch_size=1000, mode=None):
    """Mean over the rows of ``x`` of the autoencoder's reconstruction loss L(x, z) on
    clean input (eq. 4 of :mod:`dae.base`: cross-entropy in nats, or squared error).

    model : a dA, cA or sA (any :class:`dae.base.Autoencoder`)
    x : array (n, n_visible). Returns a float.
    """
    x = _rows(x, model.n_visible, model.dtype)
    xs = pt.matrix("x", dtype=model.dtype)
    total = pt.sum(model.reconstruction_loss(xs, model.get_hidden_values(xs)))
    f = pytensor.function([xs], total, mode=get_mode(mode))
    return _batched_sum(f, [x], batch_size) / len(x)


def classification_error(model, x, y, batch_size=1000, mode=None):
    """The fraction of rows of ``x`` the SdA misclassifies (eq. 5 of :mod:`dae.layers`).

    model : a :class:`dae.SdA.SdA`;  x : array (n, n_ins);  y : int labels (n,).
    Returns a float in [0, 1]; every example counts once, whatever ``batch_size``.
    """
    x = _rows(x, model.n_ins, model.x.dtype)
    if y is None:
        raise ValueError("the test error needs labels y, got None: pass integer class labels, "
                         "one per row of x")
    y = np.asarray(y)
    if y.shape != (len(x),) or y.dtype.kind not in "iu" or not 0 <= y.min() <= y.max() < model.n_outs:
        raise ValueError(f"expected y of {len(x)} integer labels in [0, {model.n_outs}), one per "
                         f"row of x; got {y.dtype} {y.shape}")
    wrong = pt.sum(pt.neq(model.logLayer.y_pred, model.y))
    f = pytensor.function([model.x, model.y], wrong, mode=get_mode(mode))
    return _batched_sum(f, [x, y.astype(model.y.dtype)], batch_size) / len(x)

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

    Functions are compiled at first use and kept (the IWAE's one for each k), so
    calling :meth:`elbo` each epoch compiles once. Each call starts its samples from ``seed`` again: the
    same model and data give the same numbers however often either ran.
    """

    def __init__(self, model, seed=0, mode=None, max_rows=10000):
        self.model, self.seed, self.mode = model, seed, mode
        self.max_rows = positive_int(max_rows, "max_rows")
        self._elbo = self._iwae = None  # _iwae: the IWAE's last function used
        self._iwae_by_k = {}
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
        if k not in self._iwae_by_k:
            # k is a constant of the graph, one function per k: JAX mode traces the
            # shapes (batch, k, n_latent) as constants, and refuses a k given at each call.
            rng, xs = self._iwae_rng, pt.matrix("x", dtype=self.model.dtype)
            self._iwae_by_k[k] = pytensor.function([xs], self.model.iwae_bound(xs, k, rng),
                                                   updates=rng.updates(), mode=get_mode(self.mode))
        self._iwae = self._iwae_by_k[k]
        _restart(self._iwae_rng, self.seed + 1)
        starts = range(0, len(x), per_batch)
        if progress is not None:
            starts = progress(starts)
        return np.concatenate([self._iwae(x[i:i + per_batch]) for i in starts]).astype(np.float64)

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


# -- features, the contractive autoencoder's analysis, linear probes ----------------------------
# For a one-layer encoder y = f(x W + b), f elementwise (every dae autoencoder:
# sigmoid units, or none for dae.linear), with a = x W + b (Rifai et al. 2011):
#
#   (J1) J_f(x) = d y / d x = diag(f'(a)) W^T              (n_hidden, n_visible)
#   (J2) ||J_f(x)||_F^2 = sum_j f'(a_j)^2 sum_i W_ij^2
#   (J3) sigma_1(x) >= sigma_2(x) >= ...                   J_f(x)'s singular values: the
#        directions around x that the code still follows, and how strongly
#   (J4) r(x, x') = ||f(x) - f(x')|| / ||x - x'||          the contraction ratio; as
#        ||x - x'|| -> 0 along u it tends to ||J_f(x) u||
#
# f'(a) is computed as the derivative of y along b in the direction (1, ..., 1):
# row by row that is f'(a), whatever f is, with no Jacobian tensor built.

def encode(model, x, batch_size=1000, mode=None):
    """The frozen features of each row of ``x``: the model's :meth:`~dae.base.Model.features`.

    An autoencoder's hidden values y (eq. 2 of :mod:`dae.base`), an SdA's top
    sigmoid layer (eq. 1 of :mod:`dae.SdA`), a VAE's posterior mean mu (eq. 2 of
    :mod:`dae.VAE`): an array (n, n_features) of the model's dtype.
    """
    return model.features(x, mode=mode, batch_size=batch_size)


def _slopes(model, x, batch_size, mode):
    """f'(a) of (J1) for each row of ``x``: float64 (n, n_hidden)."""
    from pytensor.gradient import pushforward

    x = _rows(x, model.n_visible, model.dtype)
    xs = pt.matrix("x", dtype=model.dtype)
    slope = pushforward(model.get_hidden_values(xs), model.b, pt.ones_like(model.b))
    f = pytensor.function([xs], slope, mode=get_mode(mode))
    batch_size = positive_int(batch_size, "batch_size")
    return np.concatenate([f(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).astype(np.float64)


def encoder_jacobians(model, x, mode=None):
    """(J1) at each row of ``x``: float64 array (n, n_hidden, n_visible).

    model : a one-layer autoencoder (dA, cA, sA, :class:`dae.linear.LinearAutoencoder`).
    Memory grows as n * n_hidden * n_visible: pass a few points at a time.
    """
    slopes = _slopes(model, x, len(x), mode)
    return slopes[:, :, None] * model.W.get_value().T.astype(np.float64)[None]


def jacobian_norms(model, x, batch_size=1000, mode=None):
    """(J2): ||J_f(x)||_F for each row of ``x``, float64 (n,). The cA's training
    penalty is the mean of its square (eq. 5 of :mod:`dae.cA`)."""
    column_norms = np.sum(model.W.get_value().astype(np.float64) ** 2, axis=0)
    return np.sqrt(np.sum(_slopes(model, x, batch_size, mode) ** 2 * column_norms, axis=1))


def jacobian_spectrum(model, x, batch_size=50, mode=None):
    """(J3) averaged over the rows of ``x``: float64 (min(n_hidden, n_visible),), largest first.

    Rifai et al. (2011, fig. 3): a contractive encoder's spectrum falls off
    fastest, keeping a few large values (the directions along the data's
    manifold) and contracting the rest.
    """
    x = _rows(x, model.n_visible, model.dtype)
    total = 0
    for i in range(0, len(x), positive_int(batch_size, "batch_size")):
        total = total + np.linalg.svd(encoder_jacobians(model, x[i:i + batch_size], mode),
                                      compute_uv=False).sum(axis=0)
    return total / len(x)


def contraction_ratios(model, x, x_prime, batch_size=1000, mode=None):
    """(J4) for each pair of rows: float64 (n,). Rows of ``x`` and ``x_prime`` must differ."""
    return _ratios(model, x, x_prime, batch_size, mode)


def _ratios(model, x, x_prime, batch_size, mode):
    x, x_prime = _rows(x, model.n_visible, model.dtype), _rows(x_prime, model.n_visible, model.dtype, "x_prime")
    if x.shape != x_prime.shape:
        raise ValueError(f"x and x_prime must have the same shape, got {x.shape} and {x_prime.shape}")
    distance = np.linalg.norm(x.astype(np.float64) - x_prime, axis=1)
    if np.any(distance == 0):
        raise ValueError("some rows of x_prime equal those of x: the ratio needs distinct points")
    codes = [model.features(a, mode, batch_size).astype(np.float64) for a in (x, x_prime)]
    return np.linalg.norm(codes[0] - codes[1], axis=1) / distance


def contraction_curve(model, x, radii, seed=0, batch_size=1000, mode=None):
    """The mean contraction ratio (J4) at each distance in ``radii``: float64 (len(radii),).

    x' = x + r u with u uniform on the unit sphere of R^n_visible, one direction
    per row of ``x`` and radius, drawn from ``numpy.random.default_rng(seed)``
    (the points x' are not clipped to [0, 1]): Rifai et al.'s (2011, fig. 4)
    isotropic perturbations. A contractive encoder's ratio is lowest near the
    data and rises with r.
    """
    x = _rows(x, model.n_visible, model.dtype)
    generator = np.random.default_rng(seed)
    curve = []
    for r in radii:
        if not r > 0:
            raise ValueError(f"radii must be positive distances, got {r!r}")
        u = generator.standard_normal(x.shape)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        curve.append(_ratios(model, x, x + r * u, batch_size, mode).mean())
    return np.asarray(curve)


def linear_probe(train, valid, test, l2=(1e-2, 1e-3, 1e-4), max_iter=300, mode=None, callback=None):
    """A multinomial logistic regression on frozen features; the L2 weight chosen on validation.

    ``train``, ``valid``, ``test`` : pairs (features (n, d), int labels (n,)),
    e.g. ``(encode(model, x), y)``. Each feature is standardized with the
    training split's mean and standard deviation (a constant feature is only
    centred), so one grid of weights suits pixels, sigmoid codes and posterior
    means alike. For each weight lambda, largest first, each fit starting from
    the last one's weights, full-batch L-BFGS (:func:`dae.optimize.lbfgs`)
    minimizes

        -mean_i log softmax(x_i W + b)_{y_i} + lambda / 2 ||W||_F^2;

    the weight with the lowest validation error is kept and only its test error
    is reported. ``callback(l2, record)`` sees each L-BFGS iteration.

    Returns ``{"l2", "train_error", "valid_error", "test_error", "by_l2": {l2: valid_error}}``.
    """
    from dae.config import floatX, scalar
    from dae.layers import LogisticRegression
    from dae.optimize import lbfgs

    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = [
        (np.asarray(x, dtype=np.float64), np.asarray(y)) for x, y in (train, valid, test)]
    mean, sd = train_x.mean(axis=0), train_x.std(axis=0)
    sd[sd < 1e-8] = 1.0
    splits = [((x - mean) / sd).astype(floatX()) for x in (train_x, valid_x, test_x)]
    n_classes = int(max(y.max() for y in (train_y, valid_y, test_y))) + 1
    xs, ys = pt.matrix("features", dtype=floatX()), pt.ivector("y")
    probe = LogisticRegression(xs, splits[0].shape[1], n_classes)
    probe.x = xs
    predict = pytensor.function([xs], probe.y_pred, mode=get_mode(mode))

    def error(x, y):
        return float(np.mean(predict(x) != y))

    by_l2, best = {}, None
    for value in sorted(l2, reverse=True):
        cost = probe.negative_log_likelihood(ys) + scalar(value, floatX()) * pt.sum(pt.sqr(probe.W)) / 2
        lbfgs(probe, cost, {xs: splits[0], ys: train_y.astype("int32")}, max_iter=max_iter, mode=mode,
              callback=None if callback is None else (lambda record, v=value: callback(v, record)))
        by_l2[value] = error(splits[1], valid_y)
        if best is None or by_l2[value] < best[1]:
            best = (value, by_l2[value], [p.get_value() for p in probe.params])
    for p, value in zip(probe.params, best[2]):
        p.set_value(value)
    return {"l2": best[0], "train_error": error(splits[0], train_y), "valid_error": best[1],
            "test_error": error(splits[2], test_y), "by_l2": by_l2}

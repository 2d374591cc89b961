"""The one base autoencoder every dae model builds on.

A one-hidden-layer autoencoder over shared variables, as in the deeplearning.net
tutorials. Subclasses differ only in how the input is corrupted and in the
penalty added to the reconstruction cost: :class:`dae.dA.dA` corrupts,
:class:`dae.cA.cA` adds a contraction penalty, :class:`dae.sA.sA` a sparsity
penalty.

Equations (x is a row of the minibatch, s the logistic sigmoid)::

    (1) x~ ~ q(x~ | x)                 corruption (masking, Gaussian, salt-and-pepper)
    (2) y  = s(x~ W + b)               encoder, W of shape (n_visible, n_hidden)
    (3) z  = s(y W' + b')              decoder; W' = W^T when tied
    (4) L(x, z) = -sum_k [x_k log z_k + (1 - x_k) log(1 - z_k)]
               = sum_k [softplus(a_k) - x_k a_k],   a = y W' + b'  (z = s(a))
        or  L(x, z) = sum_k (x_k - z_k)^2 / 2       (loss="squared_error")
    (5) cost = mean over the minibatch of L + penalty

Form (4b) is computed from the decoder's pre-sigmoid a, so a saturated unit
(z = 0 or 1 in float32) never yields log(0): the tutorial's form gives inf/NaN
there.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt

from dae import memory
from dae.checks import one_of, positive_int
from dae.config import floatX, scalar
from dae.random import as_random_streams
from dae import updates as update_rules

CORRUPTIONS = ("mask", "gaussian", "salt_and_pepper")
LOSSES = ("cross_entropy", "squared_error")


def init_weight(numpy_rng, n_in, n_out, dtype=None, scale=4.0):
    """W ~ U(+-scale * sqrt(6 / (n_in + n_out))), shape (n_in, n_out).

    ``scale=4`` is Glorot & Bengio's (2010) range for sigmoid units, the
    tutorials' initialization.
    """
    bound = scale * np.sqrt(6.0 / (n_in + n_out))
    return np.asarray(numpy_rng.uniform(low=-bound, high=bound, size=(n_in, n_out)),
                      dtype=dtype or floatX())


def _shared(value, name, given, shape_expected, dtype):
    """A shared parameter: ``given`` if passed (shared with another model), else ``value``."""
    if given is not None:
        got = tuple(given.get_value(borrow=True).shape)
        if got != shape_expected:
            raise ValueError(f"{name} has shape {got}, expected {shape_expected} for this model")
        return given
    return pytensor.shared(np.asarray(value, dtype=dtype), name=name, borrow=True)


class Autoencoder:
    """Tied-weight sigmoid autoencoder, equations (1)-(5) of the module docstring.

    Parameters
    ----------
    numpy_rng : numpy.random.RandomState or numpy.random.Generator
        Draws the initial weights (and the stream's seed when ``theano_rng`` is None).
    theano_rng : None, int or dae.random.RandomStreams
        Symbolic random numbers for the corruption.
    input : symbolic matrix (batch, n_visible) or None
        The model's input ``x``; a new ``pt.matrix('x')`` of dtype floatX if None.
    n_visible, n_hidden : int
    W : shared (n_visible, n_hidden), optional
    bhid : shared (n_hidden,), optional
    bvis : shared (n_visible,), optional
        Passing W, bhid, bvis makes the model share them (the SdA's dA layers
        share W and b with its sigmoid layers).
    W_prime : shared (n_hidden, n_visible), optional
        Decoder weights when ``tied=False``.
    tied : bool
        W' = W^T (default) or a separate decoder matrix.
    corruption : {"mask", "gaussian", "salt_and_pepper"}
        How ``corruption_level`` is read: the fraction of inputs zeroed, the
        noise's standard deviation, or the fraction set to 0 or 1 at random.
    loss : {"cross_entropy", "squared_error"}
    dtype : str, optional
        Parameter dtype; floatX (float32) by default, float64 for gradient checks.
    """

    # The tutorial's dA seeds its random stream from numpy_rng before drawing W; its cA has
    # no stream and draws W first. A subclass sets this False to draw its weights as the
    # tutorial's cA does, so the same seed gives the tutorial's initial weights.
    _stream_seed_first = True

    def __init__(self, numpy_rng, theano_rng=None, input=None, n_visible=784, n_hidden=500,
                 W=None, bhid=None, bvis=None, W_prime=None, tied=True, corruption="mask",
                 loss="cross_entropy", dtype=None):
        n_visible, n_hidden = positive_int(n_visible, "n_visible"), positive_int(n_hidden, "n_hidden")
        one_of(corruption, CORRUPTIONS, "corruption")
        one_of(loss, LOSSES, "loss")
        dtype = dtype or floatX()
        # the weight matrices this constructor draws (not those it is given), and both biases
        n_matrices = (W is None) + (not tied and W_prime is None)
        memory.check((n_matrices * n_visible * n_hidden + n_visible + n_hidden) * np.dtype(dtype).itemsize,
                     f"{n_visible}-{n_hidden} {type(self).__name__}'s parameters",
                     "use fewer hidden units (n_hidden)")
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.tied, self.corruption, self.loss, self.dtype = bool(tied), corruption, loss, dtype
        self.numpy_rng = numpy_rng
        if self._stream_seed_first:
            self.theano_rng = as_random_streams(theano_rng, numpy_rng)

        self.W = _shared(init_weight(numpy_rng, n_visible, n_hidden, dtype) if W is None else None,
                         "W", W, (n_visible, n_hidden), dtype)
        self.b = _shared(np.zeros(n_hidden, dtype), "b", bhid, (n_hidden,), dtype)
        self.b_prime = _shared(np.zeros(n_visible, dtype), "b_prime", bvis, (n_visible,), dtype)
        if self.tied:
            self.W_prime = self.W.T
            self.params = [self.W, self.b, self.b_prime]
        else:
            init = None if W_prime is not None else init_weight(numpy_rng, n_hidden, n_visible, dtype)
            self.W_prime = _shared(init, "W_prime", W_prime, (n_hidden, n_visible), dtype)
            self.params = [self.W, self.b, self.b_prime, self.W_prime]
        if not self._stream_seed_first:
            self.theano_rng = as_random_streams(theano_rng, numpy_rng)
        self.x = pt.matrix("x", dtype=dtype) if input is None else input

    # -- equations (1)-(3) ---------------------------------------------------
    def get_corrupted_input(self, input, corruption_level):
        """Eq. (1). ``corruption_level`` may be a number or a symbolic scalar.

        mask: each input zeroed with probability ``corruption_level`` (the
        tutorial's binomial mask); gaussian: x + N(0, corruption_level^2);
        salt_and_pepper: a ``corruption_level`` fraction of inputs set to 0 or 1
        with equal odds.
        """
        level = scalar(corruption_level, self.dtype)
        rng = self.theano_rng
        if self.corruption == "mask":
            keep = rng.uniform(input.shape, dtype=self.dtype) >= level
            return input * pt.cast(keep, self.dtype)
        if self.corruption == "gaussian":
            return input + level * rng.normal(input.shape, dtype=self.dtype)
        u = rng.uniform(input.shape, dtype=self.dtype)
        salt = pt.cast(u < level / 2, self.dtype)
        hit = pt.cast(u < level, self.dtype)
        return input * (1 - hit) + salt

    def get_hidden_values(self, input):
        """Eq. (2): y = s(x W + b), shape (batch, n_hidden)."""
        return pt.sigmoid(pt.dot(input, self.W) + self.b)

    def get_reconstructed_input(self, hidden):
        """Eq. (3): z = s(y W' + b'), shape (batch, n_visible)."""
        return pt.sigmoid(self._decoder_preactivation(hidden))

    def _decoder_preactivation(self, hidden):
        return pt.dot(hidden, self.W_prime) + self.b_prime

    # -- equations (4)-(5) ---------------------------------------------------
    def reconstruction_loss(self, x, hidden):
        """Eq. (4), one value per example, shape (batch,)."""
        a = self._decoder_preactivation(hidden)
        if self.loss == "cross_entropy":
            return pt.sum(pt.softplus(a) - x * a, axis=1)
        return pt.sum(pt.sqr(x - pt.sigmoid(a)), axis=1) / 2

    def penalty(self, x, hidden):
        """The regularizer added in eq. (5); zero for the plain autoencoder.

        Subclasses may take keyword hyperparameters here (the contraction level,
        the sparsity target); :meth:`get_cost` passes its ``penalty_args`` on.
        """
        return pt.constant(0, dtype=self.dtype)

    def get_cost(self, corruption_level=0.0, **penalty_args):
        """Eq. (5) on ``self.x``; returns ``(cost, hidden)``.

        ``penalty_args`` go to :meth:`penalty` (none for the plain autoencoder).
        """
        x_tilde = self.get_corrupted_input(self.x, corruption_level) if self._corrupts(corruption_level) else self.x
        hidden = self.get_hidden_values(x_tilde)
        cost = pt.mean(self.reconstruction_loss(self.x, hidden)) + self.penalty(self.x, hidden, **penalty_args)
        return cost, hidden

    @staticmethod
    def _corrupts(level):
        return not (isinstance(level, (int, float)) and level == 0)

    def get_cost_updates(self, corruption_level, learning_rate, update_rule="sgd", **rule_args):
        """Cost (5) and the updates of one step of ``update_rule`` (SGD by default).

        Returns ``(cost, updates)``: updates hold the parameters' new values and
        the random state's, so each call of the compiled function draws a fresh
        corruption and a seed reproduces a run exactly.
        """
        cost, _ = self.get_cost(corruption_level)
        return cost, self.updates_for(cost, learning_rate, update_rule, **rule_args)

    def updates_for(self, cost, learning_rate, update_rule="sgd", **rule_args):
        """One step of ``update_rule`` on ``cost`` over ``params``, plus the random state's update.

        Use it for any cost built from this model's graph (a subclass's
        ``get_cost_updates`` with its own penalty arguments, or a cost of yours).
        """
        rule = update_rules.get_rule(update_rule)
        return rule(cost, self.params, learning_rate, **rule_args) + self.theano_rng.updates()

    # -- conveniences ----------------------------------------------------------
    def hyperparameters(self):
        """Constructor arguments that rebuild this model (saved with it)."""
        return {"n_visible": self.n_visible, "n_hidden": self.n_hidden, "tied": self.tied,
                "corruption": self.corruption, "loss": self.loss, "dtype": self.dtype}

    def __repr__(self):
        return model_repr(self)

    def filters(self):
        """W as images: an array (n_hidden, n_visible), one filter per row."""
        return self.W.get_value(borrow=True).T

    def save(self, path):
        """Write the model to ``path`` (an .npz that runs no code on load); see :mod:`dae.io`.

        ``dae.load(path)`` rebuilds it with bit-identical parameters and random state.
        """
        from dae import io
        return io.save(self, path)


def model_repr(model):
    """``dA(n_visible=784, n_hidden=500, ...)``: the class and the hyperparameters that rebuild it.

    As scikit-learn shows an estimator, so a model echoed in a notebook says what it is
    (every model's ``hyperparameters()``, in their order).
    """
    arguments = ", ".join(f"{k}={v!r}" for k, v in model.hyperparameters().items())
    return f"{type(model).__name__}({arguments})"

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
import inspect

import numpy as np
import pytensor
import pytensor.tensor as pt

from dae import memory
from dae.checks import one_of, positive_int
from dae.config import get_mode, floatX, scalar
from dae.layers import init_weight, parameter  # noqa: F401  (init_weight: dae.base's name too)
from dae.random import as_random_streams
from dae import updates as update_rules

CORRUPTIONS = ("mask", "gaussian", "salt_and_pepper")
LOSSES = ("cross_entropy", "squared_error")


class Model:
    """The contract every dae model keeps: dA, cA, sA, SdA, VAE, LinearAutoencoder.

    As scikit-learn's estimators, a model is described by its constructor's
    named hyperparameters, each kept on the model under its own name:

    - :meth:`get_params` reads their names from the constructor's signature
      and their values from the model; ``cls(numpy_rng, **model.get_params())``
      builds a model of the same hyperparameters, and ``repr`` shows them.
      :meth:`hyperparameters` is the same dict under the name model files store
      it by (``meta["hyperparameters"]`` of :mod:`dae.io`).
    - :meth:`variables` are the shared variables a model file holds and
      :meth:`save` writes them; ``dae.load`` reads them back bit-identical.
    - :meth:`get_features` (symbolic) and :meth:`features` (NumPy) are the
      representation a linear probe or ``dae encode`` uses.
    - :meth:`filters` are the first layer's filters, one a row, or None for a
      model that has none (every dae model has them today).
    - ``n_visible`` is the size of one input row, ``x`` the symbolic input,
      ``theano_rng`` the random stream a model file saves the state of.
    - :meth:`get_corrupted_input` and :meth:`get_reconstructed_input` raise
      ValueError on a model that does not corrupt or reconstruct its input.

    Not hyperparameters: the random generators, the symbolic input and the
    shared variables a model may be built over (:attr:`_not_hyperparameters`).
    A constructor that passes ``**options`` on to its parent's takes the
    parent's hyperparameters after its own; one with ``*args`` cannot be
    described and :meth:`get_params` raises TypeError.
    """

    _not_hyperparameters = ("numpy_rng", "theano_rng", "input", "W", "bhid", "bvis", "W_prime")

    @classmethod
    def _get_param_names(cls):
        """The hyperparameters' names, in the constructors' order (scikit-learn's, unsorted)."""
        names = []
        for klass in cls.__mro__:
            if "__init__" not in vars(klass):
                continue
            if klass is Model or klass is object:
                raise TypeError(f"{cls.__name__}'s constructor passes **options to no constructor "
                                "that names them: name every hyperparameter in a signature")
            arguments = list(inspect.signature(klass.__init__).parameters.values())[1:]
            if any(a.kind is a.VAR_POSITIONAL for a in arguments):
                raise TypeError(f"{klass.__name__}.__init__ takes *args: a dae model names each "
                                "hyperparameter in its constructor's signature")
            names += [a.name for a in arguments if a.kind is not a.VAR_KEYWORD
                      and a.name not in names and a.name not in cls._not_hyperparameters]
            if not any(a.kind is a.VAR_KEYWORD for a in arguments):
                return names
        return names

    def get_params(self):
        """``{name: value}`` of the constructor's hyperparameters (lists copied)."""
        params = {}
        for name in self._get_param_names():
            if not hasattr(self, name):
                raise TypeError(f"{type(self).__name__} keeps no attribute {name!r}: a dae model "
                                "keeps each constructor argument under its own name")
            value = getattr(self, name)
            params[name] = list(value) if isinstance(value, list) else value
        return params

    def hyperparameters(self):
        """:meth:`get_params`, under the name a model file stores it by (saved with the model)."""
        return self.get_params()

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({arguments})"

    def variables(self):
        """The shared variables a model file holds, each once: ``params`` by default."""
        return list(self.params)

    def save(self, path, info=None):
        """Write the model to ``path`` (an .npz that runs no code on load); see :mod:`dae.io`.

        ``dae.load(path)`` rebuilds it with bit-identical parameters and random state.
        """
        from dae import io
        return io.save(self, path, info=info)

    def get_features(self, input):
        """The representation of ``input`` (batch, n_visible), symbolic: (batch, n_features)."""
        raise NotImplementedError(f"{type(self).__name__} defines no features")

    def features(self, x, mode=None, batch_size=1000):
        """:meth:`get_features` of each row of ``x`` (n, n_visible): an array (n, n_features).

        Compiled once per model and ``mode`` (see :func:`dae.config.get_mode`), run
        ``batch_size`` rows at a time (a product over another number of rows may round
        the last bit of a float32 value otherwise: keep one batch size to compare runs).
        """
        x = np.asarray(x, dtype=self.x.dtype)
        if x.ndim != 2 or x.shape[1] != self.n_visible or x.shape[0] == 0:
            raise ValueError(f"expected x of shape (n, {self.n_visible}) with n >= 1 (one example "
                             f"a row), got {x.shape}")
        batch_size = positive_int(batch_size, "batch_size")
        compiled = self.__dict__.setdefault("_features_compiled", {})
        key = mode if mode is None or isinstance(mode, str) else id(mode)
        if key not in compiled:
            xs = pt.matrix("x", dtype=self.x.dtype)
            compiled[key] = pytensor.function([xs], self.get_features(xs), mode=get_mode(mode))
        return np.concatenate([compiled[key](x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def filters(self):
        """The first layer's filters, an array (n_filters, n_visible), one a row; None without."""
        return None

    # What a model that does not corrupt or reconstruct its input says when asked to.
    def get_corrupted_input(self, input, corruption_level):
        raise ValueError(f"a {type(self).__name__} does not corrupt its input; pass corruption 0")

    def get_reconstructed_input(self, code):
        raise ValueError(f"a {type(self).__name__} does not reconstruct its input; pass an "
                         "autoencoder (dA, cA, sA) or a VAE")


class Autoencoder(Model):
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
        drawn = [(n_visible, n_hidden)] * (W is None) + [(n_hidden, n_visible)] * (not tied and W_prime is None)
        memory.check_parameters(drawn + [(n_visible,), (n_hidden,)], dtype,
                                f"{n_visible}-{n_hidden} {type(self).__name__}'s parameters",
                                "use fewer hidden units (n_hidden)")
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.tied, self.corruption, self.loss, self.dtype = bool(tied), corruption, loss, dtype
        self.numpy_rng = numpy_rng
        if self._stream_seed_first:
            self.theano_rng = as_random_streams(theano_rng, numpy_rng)

        self.W = parameter("W", (n_visible, n_hidden), lambda: init_weight(numpy_rng, n_visible, n_hidden, dtype),
                           W, dtype)
        self.b = parameter("b", (n_hidden,), given=bhid, dtype=dtype)
        self.b_prime = parameter("b_prime", (n_visible,), given=bvis, dtype=dtype)
        if self.tied:
            self.W_prime = self.W.T
            self.params = [self.W, self.b, self.b_prime]
        else:
            self.W_prime = parameter("W_prime", (n_hidden, n_visible),
                                     lambda: init_weight(numpy_rng, n_hidden, n_visible, dtype), W_prime, dtype)
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

    # -- the model contract (see Model) ------------------------------------------
    def get_features(self, input):
        """Eq. (2) on clean ``input``: the hidden code y, (batch, n_hidden)."""
        return self.get_hidden_values(input)

    def filters(self):
        """W as images: an array (n_hidden, n_visible), one filter per row."""
        return self.W.get_value(borrow=True).T

"""Stacked denoising autoencoder (Vincent et al. 2010), the tutorial's ``SdA``.

An MLP of sigmoid layers and a logistic regression on top, trained in two phases.
With h_0 = x and layers i = 1..L::

    (1) h_i = s(h_{i-1} W_i + b_i)                    sigmoid layer i
    (2) P(Y | x) = softmax(h_L W + b)                 logistic layer
    Pretraining, greedy, layer by layer: layer i is the encoder of an
    autoencoder on h_{i-1} (a dA by default) that shares W_i and b_i and has its
    own visible bias b'_i; it is trained alone on its cost
    (3) cost_i = mean L(h_{i-1}, s(s(h~_{i-1} W_i + b_i) W_i^T + b'_i)),
        h~_{i-1} ~ q(h~ | h_{i-1}) the corruption (dA), or with the penalty
        of a cA or sA layer.
    Fine-tuning: all sigmoid layers and the logistic layer together by SGD on
    (4) NLL = -mean_i log P(Y = y_i | x_i).

Only W_i, b_i are shared between the two phases: the visible biases b'_i serve
pretraining only and are not in ``params``.
"""
import numpy as np
import pytensor.tensor as pt

from dae import memory
from dae.base import Model
from dae.checks import one_of, positive_int, positive_ints
from dae.config import floatX
from dae.layers import HiddenLayer, LogisticRegression
from dae.random import as_random_streams
from dae.train import compile_step, n_batches
from dae import updates as update_rules

LAYER_TYPES = ("dA", "cA", "sA")


def _autoencoder_class(layer_type):
    # Imported lazily: cA and sA are optional modules built on the same base.
    if layer_type == "dA":
        from dae.dA import dA
        return dA
    if layer_type == "cA":
        from dae.cA import cA
        return cA
    from dae.sA import sA
    return sA


class SdA(Model):
    """Stacked denoising autoencoder with the tutorial's API.

    Parameters
    ----------
    numpy_rng : numpy.random.RandomState or Generator
        Draws every initial weight.
    theano_rng : None, int or dae.random.RandomStreams
        The one random stream all layers corrupt with (seeded from
        ``numpy_rng`` when None, as the tutorial does).
    n_ins : int, input dimension (784 for MNIST)
    hidden_layers_sizes : sequence of int, one per sigmoid layer
    n_outs : int, number of classes
    corruption_levels : sequence of float, one per layer: the dA's corruption
        level; for ``layer_type="cA"`` the contraction level; unused by sA.
        None: 0.1 for every layer.
    layer_type : {"dA", "cA", "sA"}
        The autoencoder each layer is pretrained as: denoising (the tutorial),
        contractive or sparse.

    Attributes
    ----------
    x : matrix (batch, n_ins) floatX;  y : ivector (batch,)
    sigmoid_layers : list of HiddenLayer;  dA_layers : list of autoencoders
        (``dA_layers[i]`` shares W and b with ``sigmoid_layers[i]``)
    logLayer : LogisticRegression;  params : W, b of every layer, bottom up
    finetune_cost : eq. (4);  errors : fraction misclassified, symbolic

    The model contract (:class:`dae.base.Model`): the features are the top
    sigmoid layer's h_L, the filters the first layer's W_1^T, ``n_visible`` is
    ``n_ins``; an SdA is a classifier and does not reconstruct its input.
    """

    def __init__(self, numpy_rng, theano_rng=None, n_ins=784, hidden_layers_sizes=(500, 500),
                 n_outs=10, corruption_levels=None, layer_type="dA"):
        n_ins, n_outs = positive_int(n_ins, "n_ins"), positive_int(n_outs, "n_outs")
        sizes = positive_ints(hidden_layers_sizes, "hidden_layers_sizes", example="[1000, 1000]")
        # The tutorial's default, [0.1, 0.1], never reached its layers (its test_SdA
        # builds three layers with it and passes each level to the pretraining
        # functions): here None is 0.1 for every layer, so that call still works.
        levels = [0.1] * len(sizes) if corruption_levels is None else \
            [float(c) for c in corruption_levels]
        if not sizes:
            raise ValueError("hidden_layers_sizes is empty: an SdA needs at least one hidden layer")
        if len(levels) != len(sizes):
            raise ValueError(
                f"got {len(levels)} corruption levels for {len(sizes)} hidden layers "
                f"{sizes}; pass one level per layer")
        one_of(layer_type, LAYER_TYPES, "layer_type")
        if layer_type == "dA" and not all(0 <= c <= 1 for c in levels):
            raise ValueError(f"corruption levels must lie in [0, 1], got {levels}")
        _check_memory([n_ins] + sizes, n_outs)
        autoencoder = _autoencoder_class(layer_type)

        self.n_ins, self.n_outs, self.n_layers = n_ins, n_outs, len(sizes)
        self.hidden_layers_sizes, self.corruption_levels = sizes, levels
        self.layer_type = layer_type
        self.theano_rng = as_random_streams(theano_rng, numpy_rng)
        self.x = pt.matrix("x", dtype=floatX())
        self.y = pt.ivector("y")
        self.sigmoid_layers, self.dA_layers, self.params = [], [], []

        layer_input, input_size = self.x, n_ins
        for n_hidden in sizes:
            layer = HiddenLayer(numpy_rng, layer_input, input_size, n_hidden, activation=pt.sigmoid)
            self.sigmoid_layers.append(layer)
            self.params.extend(layer.params)
            self.dA_layers.append(autoencoder(
                numpy_rng=numpy_rng, theano_rng=self.theano_rng, input=layer_input,
                n_visible=input_size, n_hidden=n_hidden, W=layer.W, bhid=layer.b))
            layer_input, input_size = layer.output, n_hidden

        self.logLayer = LogisticRegression(layer_input, input_size, n_outs)
        self.params.extend(self.logLayer.params)
        self.finetune_cost = self.logLayer.negative_log_likelihood(self.y)
        self.errors = self.logLayer.errors(self.y)

    # -- pretraining ---------------------------------------------------------------
    def pretraining_cost_updates(self, i, corruption_level, learning_rate):
        """Cost (3) of layer ``i`` and one SGD step on its autoencoder's parameters."""
        layer = self.dA_layers[i]
        if self.layer_type == "dA":
            return layer.get_cost_updates(corruption_level, learning_rate)
        if self.layer_type == "cA":
            return layer.get_cost_updates(contraction_level=corruption_level,
                                          learning_rate=learning_rate)
        return layer.get_cost_updates(learning_rate=learning_rate)

    def pretraining_functions(self, train_set_x, batch_size, mode=None):
        """One compiled function per layer: ``f(index, corruption=0.2, lr=0.1) -> cost``.

        ``train_set_x`` is a shared matrix (n, n_ins); ``index`` picks minibatch
        ``train_set_x[index * batch_size:(index + 1) * batch_size]``; ``n_steps``
        calls make an epoch (the last minibatch may be smaller). Each call
        trains layer i's autoencoder one step (the layers below it only encode).
        For sA layers ``corruption`` is accepted and ignored.

        The tutorial cut the minibatch in the graph (``givens`` with a symbolic
        slice), which JAX mode refuses; here it is cut in NumPy and passed in,
        as :func:`dae.train.compile_step` does in every mode.
        """
        batch_size = positive_int(batch_size, "batch_size")
        corruption_level = pt.scalar("corruption", dtype=floatX())
        learning_rate = pt.scalar("lr", dtype=floatX())
        fns = []
        for i in range(self.n_layers):
            cost, updates = self.pretraining_cost_updates(i, corruption_level, learning_rate)
            step = compile_step({self.x: train_set_x}, batch_size, cost, updates, mode,
                                inputs=[corruption_level, learning_rate])
            fns.append(PretrainStep(step))
        return fns

    # -- fine-tuning -----------------------------------------------------------------
    def build_finetune_functions(self, datasets, batch_size, learning_rate, mode=None,
                                 eval_batch_size=None, update_rule="sgd", **rule_args):
        """``train_fn, valid_score, test_score`` for fine-tuning, as in the tutorial.

        Parameters
        ----------
        datasets : [(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]
            As :func:`dae.data.load_data` returns: shared x (n, n_ins), int32 y.
        batch_size : int
        learning_rate : float (SGD step on eq. (4))
        eval_batch_size : int, optional
            Minibatch size of the two scores (``batch_size`` by default, as the
            tutorial); it changes their speed only, never their value.
        update_rule, rule_args : a rule of :mod:`dae.updates` (SGD by default).

        ``train_fn(index)`` does one step on minibatch ``index`` and returns its
        cost; ``valid_score()`` / ``test_score()`` return the list of per-minibatch
        errors of the validation / test set, every example counted (the last
        minibatch may be smaller; their ``.mean(losses)`` weighs each minibatch by
        its size, the exact error rate).
        """
        batch_size = positive_int(batch_size, "batch_size")
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = datasets
        rule = update_rules.get_rule(update_rule)
        updates = rule(self.finetune_cost, self.params, learning_rate, **rule_args)
        train_fn = compile_step({self.x: train_x, self.y: train_y}, batch_size,
                                self.finetune_cost, updates, mode)
        if eval_batch_size is not None:
            eval_batch_size = positive_int(eval_batch_size, "eval_batch_size")
        eval_batch_size = eval_batch_size or batch_size
        return (train_fn, self._score(valid_x, valid_y, eval_batch_size, mode),
                self._score(test_x, test_y, eval_batch_size, mode))

    def _score(self, x, y, batch_size, mode):
        step = compile_step({self.x: x, self.y: y}, batch_size, self.errors, [], mode)
        return Score(step, n_batches(x, 1), batch_size)

    # -- the model contract (see dae.base.Model) ------------------------------------
    @property
    def n_visible(self):
        """The contract's name for ``n_ins``."""
        return self.n_ins

    def variables(self):
        """``params``, then the autoencoder layers' own visible biases b'_i (pretraining's only)."""
        owned = {id(v) for v in self.params}
        return self.params + [v for layer in self.dA_layers for v in layer.params if id(v) not in owned]

    def get_features(self, input):
        """Eq. (1) up the stack: the top sigmoid layer's h_L, (batch, hidden_layers_sizes[-1])."""
        for layer in self.sigmoid_layers:
            input = layer.apply(input)
        return input

    def filters(self):
        """The first sigmoid layer's W_1 as images: (hidden_layers_sizes[0], n_ins)."""
        return self.sigmoid_layers[0].W.get_value(borrow=True).T

    def get_weights(self):
        """The parameters' values, bottom up: ``{"W0": ..., "b0": ..., ..., "W<L>", "b<L>"}``,
        copies as NumPy arrays (in JAX mode a trained parameter holds a JAX array)."""
        values = {}
        for i in range(len(self.params) // 2):
            values[f"W{i}"] = np.array(self.params[2 * i].get_value(borrow=True))
            values[f"b{i}"] = np.array(self.params[2 * i + 1].get_value(borrow=True))
        return values

    def set_weights(self, values):
        """Load what :meth:`get_weights` returned (checked for names and shapes)."""
        for i, param in enumerate(self.params):
            name = f"{'Wb'[i % 2]}{i // 2}"
            if name not in values:
                raise ValueError(f"parameter {name} missing; expected {sorted(self.get_weights())}")
            value = np.asarray(values[name], dtype=param.dtype)
            if value.shape != param.get_value(borrow=True).shape:
                raise ValueError(f"parameter {name} has shape {value.shape}, expected "
                                 f"{param.get_value(borrow=True).shape}")
            param.set_value(value)


class PretrainStep:
    """``f(index, corruption=0.2, lr=0.1) -> cost``, with ``n_steps`` calls per epoch.

    The tutorial gave the defaults with ``theano.In(..., value=...)``; PyTensor 3
    refuses input defaults, so they live in this wrapper's signature. Attributes:
    ``function`` (the compiled PyTensor function), ``n_steps``.
    """

    def __init__(self, step):
        self.step, self.function, self.n_steps = step, step.function, step.n_steps

    def __call__(self, index, corruption=0.2, lr=0.1):
        return self.step(index, corruption, lr)


class Score:
    """``score() -> [error of each minibatch]`` over one split (the tutorial's ``valid_score``)."""

    def __init__(self, step, n, batch_size):
        self.step = step
        self.batch_sizes = np.minimum(batch_size, n - batch_size * np.arange(step.n_steps))

    def __call__(self):
        return [float(self.step(i)) for i in range(self.step.n_steps)]

    def mean(self, losses):
        """The split's error rate: minibatch errors weighted by minibatch size."""
        return float(np.average(losses, weights=self.batch_sizes))


def _check_memory(sizes, n_outs):
    """All the parameters (W_i, b_i, b'_i, the logistic layer's) must fit before the first is drawn."""
    shapes = [shape for n_in, n_out in zip(sizes, sizes[1:]) for shape in ((n_in, n_out), (n_out,), (n_in,))]
    memory.check_parameters(shapes + [(sizes[-1], n_outs), (n_outs,)], floatX(),
                            f"{'-'.join(map(str, sizes + [n_outs]))} SdA's parameters",
                            "use fewer or smaller hidden layers (hidden_layers_sizes)")

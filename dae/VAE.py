"""Variational autoencoder (Kingma & Welling 2014), in the tutorials' style.

An MLP encoder gives a diagonal Gaussian q(z|x); a sample of it, drawn by the
reparameterization trick, goes through an MLP decoder to p(x|z). Training
maximizes the evidence lower bound (ELBO) on log p(x); evaluation also gives the
tighter importance-weighted bound (Burda et al. 2016). Equations (x a row of the
minibatch, f the hidden activation)::

    (1) h_0 = x,  h_l = f(h_{l-1} W_l + b_l)             encoder MLP, l = 1..L
    (2) mu = h_L W_mu + b_mu,  log s^2 = h_L W_s + b_s    q(z|x) = N(mu, diag s^2)
    (3) z = mu + s * eps,  eps ~ N(0, I)                  reparameterized sample
    (4) g_0 = z,  g_l = f(g_{l-1} V_l + c_l),  a = g_L V_out + c_out
                                                          decoder MLP (mirrored sizes)
    (5) log p(x|z) = sum_k [x_k a_k - softplus(a_k)]      Bernoulli with logits a
                   = -sum_k [log(2 pi)/2 + r_k/2 + (x_k - a_k)^2 / (2 e^r_k)]
                                                          or Gaussian, mean a, log variance r
    (6) KL(q(z|x) || N(0, I)) = 1/2 sum_j (mu_j^2 + s_j^2 - log s_j^2 - 1)
    (7) ELBO(x) = log p(x|z) - KL  <=  log p(x)           one sample z per example
    (8) cost = -(1/B) sum_{x in batch} ELBO(x)
    (9) log w_i = log p(x|z_i) + log N(z_i; 0, I) - log q(z_i|x),  z_i ~ q(z|x)
        L_k(x) = logsumexp_i(log w_i) - log k  <=  log p(x)   (IWAE bound, k samples)
    (10) cost_beta = -(1/B) sum_x [log p(x|z) - beta KL]     beta-VAE (Higgins et al. 2017)
    (11) cost_K = -(1/B) sum_x L_K(x)                         IWAE (Burda et al. 2016)

Sums and means, and why:

* (5) is summed over the pixels and (6) over the latent dimensions. The sum is
  the log density of the whole image, so the ELBO (7) is a bound on log p(x) of
  one example in nats, comparable with published NLLs; and the balance between
  reconstruction and KL does not change with the image size (a per-pixel mean
  would shrink the reconstruction term 784 times against the KL, which then
  pushes q(z|x) onto the prior: posterior collapse).
* (8) averages over the minibatch, so the gradient's scale, and with it a good
  learning rate, does not depend on the batch size.

(5) is computed from the logits, never from log(sigmoid(a)): ``x a - softplus(a)``
stays finite when the sigmoid saturates to 0 or 1 in float32. (6) is the
analytic KL of two Gaussians, which has less variance than sampling it. In (9)
the log(2 pi) terms of the prior and of q cancel and the logsumexp subtracts
the largest log w_i first, so no exp overflows or underflows to zero whatever
k and however far apart the weights are.
"""
import numpy as np
import pytensor.tensor as pt

from dae import memory
from dae import updates as update_rules
from dae.base import Model
from dae.checks import one_of, positive_int, positive_ints
from dae.config import floatX
from dae.layers import HiddenLayer, parameter
from dae.random import as_random_streams

OUTPUTS = ("bernoulli", "gaussian")
ACTIVATIONS = {
    "relu": lambda a: pt.maximum(a, 0),
    "softplus": pt.softplus,
    "tanh": pt.tanh,
    "sigmoid": pt.sigmoid,
}


class VAE(Model):
    """Variational autoencoder, equations (1)-(9) of the module docstring.

    Parameters
    ----------
    numpy_rng : numpy.random.RandomState or numpy.random.Generator
        Draws the initial weights (and the stream's seed when ``theano_rng`` is None).
    theano_rng : None, int or dae.random.RandomStreams
        Symbolic random numbers: eps of eq. (3) and, with ``binarize=True``, the
        dynamic binarization of the training input.
    input : symbolic matrix (batch, n_visible) or None
        The model's input ``x``; a new ``pt.matrix('x')`` of ``dtype`` if None.
    n_visible : int
        Pixels per example (784 for MNIST).
    hidden_layers_sizes : sequence of int
        Encoder hidden layers, eq. (1); the decoder mirrors them, eq. (4).
        Empty makes both maps affine.
    n_latent : int
        Dimension of z.
    output : {"bernoulli", "gaussian"}
        p(x|z) of eq. (5): Bernoulli for binary (or binarized) data; Gaussian
        for real-valued data, with the decoder giving the mean and a learned
        per-pixel log variance r (not a function of z, which keeps it stable).
    activation : {"relu", "softplus", "tanh", "sigmoid"}
        f of eqs. (1) and (4). ReLU by default, as in pythae's MNIST VAE; in
        dae's Numba mode softplus costs the same (6.0 vs 6.1 s of CPU per
        epoch of the 784-512-512-50 model), tanh a sixth more.
    dtype : str, optional
        Parameter dtype; floatX (float32) by default, float64 for gradient checks.

    Attributes: ``x``, ``params`` (all shared parameters, encoder first),
    ``theano_rng``, ``n_visible``, ``n_latent``, ``hidden_layers_sizes``.

    The model contract (:class:`dae.base.Model`): the features are the
    posterior mean mu of eq. (2), the filters the first encoder layer's W_1^T
    (the mu layer's without hidden layers).
    """

    def __init__(self, numpy_rng, theano_rng=None, input=None, n_visible=784,
                 hidden_layers_sizes=(512, 512), n_latent=50, output="bernoulli",
                 activation="relu", dtype=None):
        self.n_visible = positive_int(n_visible, "n_visible")
        self.n_latent = positive_int(n_latent, "n_latent")
        self.hidden_layers_sizes = positive_ints(hidden_layers_sizes, "hidden_layers_sizes",
                                                 example="[512, 512]")
        self.output = one_of(output, OUTPUTS, "output")
        self.activation = one_of(activation, tuple(ACTIVATIONS), "activation")
        self.dtype = dtype or floatX()
        self.f = ACTIVATIONS[activation]
        enc_sizes = [self.n_visible] + self.hidden_layers_sizes
        dec_sizes = [self.n_latent] + self.hidden_layers_sizes[::-1]
        self._check_memory(enc_sizes, dec_sizes)
        self.numpy_rng = numpy_rng
        self.theano_rng = as_random_streams(theano_rng, numpy_rng)

        def dense(n_in, n_out, name):
            # linear (the VAE applies f itself), so W ~ U(+-sqrt(6 / (n_in + n_out)))
            return HiddenLayer(numpy_rng, None, n_in, n_out, activation=None, name=name,
                               dtype=self.dtype)

        def stack(sizes, name):
            return [dense(n_in, n_out, f"{name}{i}")
                    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))]

        self.encoder_layers = stack(enc_sizes, "enc")
        self.mu_layer = dense(enc_sizes[-1], self.n_latent, "mu")
        self.log_var_layer = dense(enc_sizes[-1], self.n_latent, "log_var")
        self.decoder_layers = stack(dec_sizes, "dec")
        self.output_layer = dense(dec_sizes[-1], self.n_visible, "out")
        layers = self.encoder_layers + [self.mu_layer, self.log_var_layer] + self.decoder_layers \
            + [self.output_layer]
        self.params = [p for layer in layers for p in layer.params]
        if output == "gaussian":
            self.log_var_x = parameter("log_var_x", (self.n_visible,), dtype=self.dtype)
            self.params.append(self.log_var_x)
        self.x = pt.matrix("x", dtype=self.dtype) if input is None else input

    def _check_memory(self, enc_sizes, dec_sizes):
        """All the parameters must fit before the first is drawn."""
        dense = [(n_in, n_out) for sizes, last in ((enc_sizes, self.n_latent), (dec_sizes, self.n_visible))
                 for n_in, n_out in zip(sizes, sizes[1:] + [last])]
        dense.append((enc_sizes[-1], self.n_latent))  # the second head, log s^2
        shapes = [shape for n_in, n_out in dense for shape in ((n_in, n_out), (n_out,))]
        shapes += [(self.n_visible,)] * (self.output == "gaussian")
        sizes = "-".join(map(str, enc_sizes + [self.n_latent]))
        memory.check_parameters(shapes, self.dtype, f"{sizes} VAE's parameters",
                                "use fewer or smaller layers (hidden_layers_sizes, n_latent)")

    # -- equations (1)-(4) ---------------------------------------------------
    def get_encoder(self, x):
        """Eqs. (1)-(2): ``(mu, log_var)`` of q(z|x), each (batch, n_latent)."""
        h = x
        for layer in self.encoder_layers:
            h = self.f(layer.apply(h))
        return self.mu_layer.apply(h), self.log_var_layer.apply(h)

    def sample_latent(self, mu, log_var, rng=None):
        """Eq. (3): z = mu + exp(log_var / 2) * eps, of mu's shape.

        eps comes from ``rng`` (a :class:`dae.random.RandomStreams`), the model's
        ``theano_rng`` by default; put ``rng.updates()`` in the compiled
        function's updates so each call draws afresh.
        """
        rng = rng or self.theano_rng
        eps = rng.normal(mu.shape, dtype=self.dtype)
        return mu + pt.exp(log_var / 2) * eps

    def get_decoder_logits(self, z):
        """Eq. (4): the decoder's output a, (..., n_visible): logits (Bernoulli) or the mean (Gaussian)."""
        g = z
        for layer in self.decoder_layers:
            g = self.f(layer.apply(g))
        return self.output_layer.apply(g)

    def get_reconstructed_input(self, z):
        """The mean of p(x|z): sigmoid(a) for Bernoulli output, a for Gaussian; (..., n_visible)."""
        a = self.get_decoder_logits(z)
        return pt.sigmoid(a) if self.output == "bernoulli" else a

    # -- equations (5)-(8) ---------------------------------------------------
    def log_likelihood(self, x, a):
        """Eq. (5): log p(x|z) from the decoder output ``a``, summed over the last axis."""
        if self.output == "bernoulli":
            return pt.sum(x * a - pt.softplus(a), axis=-1)
        r = self.log_var_x
        half_log_2pi = np.asarray(0.5 * np.log(2 * np.pi), self.dtype)
        return -pt.sum(half_log_2pi + r / 2 + pt.sqr(x - a) / (2 * pt.exp(r)), axis=-1)

    def kl(self, mu, log_var):
        """Eq. (6): KL(N(mu, exp(log_var)) || N(0, I)) per example, (batch,)."""
        return pt.sum(pt.sqr(mu) + pt.exp(log_var) - log_var - 1, axis=-1) / 2

    def elbo(self, x, rng=None):
        """Eq. (7) per example, (batch,), with one reparameterized sample each.

        Draws from ``rng``, ``theano_rng`` by default: compile with its ``updates()``.
        """
        mu, log_var = self.get_encoder(x)
        z = self.sample_latent(mu, log_var, rng)
        return self.log_likelihood(x, self.get_decoder_logits(z)) - self.kl(mu, log_var)

    def binarize(self, x):
        """x_bin ~ Bernoulli(x), drawn afresh at each call of the compiled function."""
        return pt.cast(self.theano_rng.uniform(x.shape, dtype=self.dtype) < x, self.dtype)

    def get_cost(self, binarize=False, beta=1.0, iwae=None):
        """Eq. (8) on ``self.x``; with ``binarize=True`` on a fresh binarization of it.

        ``beta`` weighs the KL term, eq. (10): above 1 it trades reconstruction for a
        posterior closer to the prior (more disentangled, blurrier), and the cost is
        then no longer a bound on -log p(x). ``iwae=K`` trains on the IWAE bound
        instead, eq. (11), with K samples per example (K = 1 is the ELBO with a
        sampled KL); it takes beta = 1.
        """
        x = self.binarize(self.x) if binarize else self.x
        if iwae is not None:
            if beta != 1:
                raise ValueError(f"beta={beta!r} with iwae={iwae!r}: the IWAE bound has no KL term to "
                                 "weigh; use one or the other")
            return -pt.mean(self.iwae_bound(x, positive_int(iwae, "iwae (samples K)")))
        if beta == 1:
            return -pt.mean(self.elbo(x))  # the same graph as before beta existed
        beta = float(beta)
        if not (np.isfinite(beta) and beta >= 0):
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}; 1 is the plain VAE")
        mu, log_var = self.get_encoder(x)
        log_px = self.log_likelihood(x, self.get_decoder_logits(self.sample_latent(mu, log_var)))
        return -pt.mean(log_px - np.asarray(beta, self.dtype) * self.kl(mu, log_var))

    def get_cost_updates(self, learning_rate, update_rule="adam", binarize=False, beta=1.0,
                         iwae=None, **rule_args):
        """Cost (8), or (10) with ``beta``, or (11) with ``iwae=K`` (see :meth:`get_cost`),
        and the updates of one step of ``update_rule`` (Adam by default).

        Returns ``(cost, updates)``; updates hold the parameters' new values and
        the random state's (eps of eq. (3), and the binarization when
        ``binarize=True``: dynamic binarization, a fresh x_bin ~ Bernoulli(x) at
        every step), so a seed reproduces a run exactly.
        """
        cost = self.get_cost(binarize, beta=beta, iwae=iwae)
        rule = update_rules.get_rule(update_rule)
        updates = rule(cost, self.params, learning_rate, **rule_args)
        return cost, updates + self.theano_rng.updates()

    # -- equation (9) ------------------------------------------------------------
    def log_weights(self, x, k, rng=None):
        """Eq. (9): log w_i for k samples z_i ~ q(z|x) per example, shape (batch, k).

        ``k`` may be an int or a symbolic int scalar; JAX mode needs an int (JAX
        traces the shape (batch, k, n_latent) as constants). The encoder runs once
        per example; the decoder on batch * k samples.
        """
        mu, log_var = self.get_encoder(x)
        shape = (mu.shape[0], k, mu.shape[1])
        mu, log_var = pt.broadcast_to(mu[:, None, :], shape), pt.broadcast_to(log_var[:, None, :], shape)
        z = self.sample_latent(mu, log_var, rng)
        log_px = self.log_likelihood(x[:, None, :], self.get_decoder_logits(z))
        # log N(z; 0, I) - log N(z; mu, s^2), the log(2 pi) terms cancelled
        log_pz_over_q = pt.sum(log_var + pt.sqr(z - mu) * pt.exp(-log_var) - pt.sqr(z), axis=-1) / 2
        return log_px + log_pz_over_q

    def iwae_bound(self, x, k, rng=None):
        """Eq. (9): L_k(x) per example, (batch,); k=1 gives an ELBO with a sampled KL."""
        log_w = self.log_weights(x, k, rng)
        top = pt.max(log_w, axis=1, keepdims=True)
        log_k = pt.log(pt.cast(k, self.dtype))
        return pt.log(pt.sum(pt.exp(log_w - top), axis=1)) + top[:, 0] - log_k

    # -- the model contract (see dae.base.Model) ----------------------------------
    def get_features(self, input):
        """Eq. (2): the posterior mean mu of q(z|x), (batch, n_latent)."""
        return self.get_encoder(input)[0]

    def filters(self):
        """The first encoder layer's W as images (the mu layer's when there is no hidden layer)."""
        return (self.encoder_layers or [self.mu_layer])[0].W.get_value(borrow=True).T

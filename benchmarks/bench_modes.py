"""Each published experiment's training step in dae's Numba and JAX modes, against its peers.

Rows (float32; every setting read from the experiment's ``Config``, dae's steps
built as ``dae/experiments/*.py`` build them, through the model classes and
:func:`dae.train.compile_step`, and run by :func:`dae.train.fit`):

=============  =====================================================================
row            what one step trains
=============  =====================================================================
dA             784-500 dA, 30% masking (the experiment's second stage), cross-entropy,
               SGD 0.1, batch 20
cA             784-500 cA, contraction 0.1, SGD 0.01, batch 10; the experiment's two
               monitors (reconstruction, mean ||J||) as the step's outputs
sA             784-196 sA, KL sparsity (rho 0.1, beta 3), weight decay 3e-3, squared
               error, SGD 0.5, batch 100; outputs cost, KL, mean activation
sda-pre1       the second dA of the 784-1000-1000-1000 SdA (layer 1 encodes, layer 2
               trains), corruption 0.2, SGD 0.001, batch 1 (the experiment's)
sda-pre10      the same graph at batch 10 (``--pretrain-batch-size 10``)
sda-ft10       fine-tuning 784-1000-1000-1000-10, softmax NLL, SGD 0.1, batch 10
sda-ft1        the same at the tutorial's (and the experiment's) batch 1
vae            VAE 784-512-512-50 ReLU, dynamic binarization, -ELBO, Adam 1e-3, batch 100
iwae5          the same on the IWAE bound, k = 5 (``--iwae 5``)
iwae50         k = 50
=============  =====================================================================

Contenders: ``dae-numba`` and ``dae-jax`` (the same graph compiled with ``mode=``
each, in one process: dae's mode is a per-function argument, so no subprocess is
needed), ``torch`` (PyTorch eager, autograd, ``torch.optim``) and ``hand-jax``
(a hand-written ``jax.jit`` step: the data on the device once, the minibatch cut
by ``dynamic_slice``, the noise drawn inside the step, parameters donated). The
two peers run the same network written once (:class:`Ops` names the few
functions that differ between PyTorch and JAX) from dae's initial weights
(``torch.optim.Adam`` adds its epsilon, 1e-8, after the bias correction; dae and
``hand-jax`` before it, a difference far inside the check below).
Before timing, each peer's first two steps on the first minibatch are checked
against dae's graph (compiled in dae's Python mode with its random draws
replaced by the same noise arrays): costs and outputs within 1e-4 relative, or
the script stops. On rows that draw no noise the dae modes' first step is
checked the same way; a mode that differs or fails has its one-line error in
the table instead of a time.

A row's time is the wall seconds of one pass over its examples (fewer for the
batch-1 and IWAE rows), median over ``--repeats`` alternated repeats after one
warm-up pass, each after a 0.3 s pause (``bench_dA.SETTLE``: OpenBLAS's spinning
threads slowed whichever contender came next by 10%); the ratio is each dae mode's median over the fastest peer's
(below 1, dae is faster). Compile times are per graph and mode, each in a fresh
process: *cold* on an empty PyTensor compiledir and Numba cache (JAX's
persistent cache off, its default), *warm* in a second process on the caches
the first left; a trivial graph is compiled first and not counted (the
backend's start-up), and a second step's time is subtracted from the first
step's. ``hand-jax jit`` is the peer's trace and XLA compile in the timing
process. Compiling does not depend on the BLAS kernels, so it is measured once.

``--blas both`` (the default) runs the timing twice, each in its own process:
with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` removed from the environment
(as on a user's machine) and with them as this machine sets them. Threads:
``--threads`` (default 2) for OpenBLAS and PyTorch, set before either loads;
XLA keeps its own pool (one thread with ``--threads 1``). ``--threads 0`` sets
nothing, as in a user's run: dae's Numba mode then runs SciPy's OpenBLAS on one
thread (``dae._numba_kernels``), PyTorch and XLA on every core. A peer that is not
installed is skipped with a note (``pip install torch``, ``pip install jax``).

Examples a row (each a whole number of minibatches): 10,000 for dA, cA, sA and
the VAE; 5,000 for SdA pretraining at batch 10, fine-tuning at batch 10 and the
IWAE k=5; 1,000 for the two batch-1 rows and the IWAE k=50. The whole run, both
BLAS settings and the compile processes, takes about 25 minutes on 2 cores
(estimated from smaller runs: each timing process 7 to 8 minutes, the 32
compile processes 6 to 7; add 3 to 4 minutes of Numba compiling in the first
timing process when the default caches are cold). Run from the repository root,
MNIST in ``$DAE_DATA_DIR`` or ``--data-dir``::

    python benchmarks/bench_modes.py --json modes.json
    python benchmarks/bench_modes.py --quick --no-compile --rows dA vae    # a quick check
"""
import argparse
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_compile import cache_env
from bench_dA import alternate, limit_threads, openblas_kernels
from bench_givens import cpu_name

CONTENDERS = ("dae-numba", "dae-jax", "torch", "hand-jax")
DAE_MODES = {"dae-numba": "numba", "dae-jax": "jax"}
PEERS = ("torch", "hand-jax")
ROWS = ("dA", "cA", "sA", "sda-pre1", "sda-pre10", "sda-ft10", "sda-ft1", "vae", "iwae5", "iwae50")
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SETTINGS = {"unset": "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (as on a user's machine)",
            "set": "the environment as this machine sets it"}
RTOL = 1e-4
QUICK_STEPS = 3  # --quick: minibatches a row


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS, metavar="ROW",
                   help=f"rows to run (default all: {' '.join(ROWS)})")
    p.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    p.add_argument("--repeats", type=int, default=5, help="timed passes per contender (default 5)")
    p.add_argument("--compile-repeats", type=int, default=1,
                   help="cold/warm process pairs per graph and mode (default 1)")
    p.add_argument("--threads", type=int, default=2,
                   help="OpenBLAS/PyTorch threads (default 2); 0: each library's own choice, "
                        "as in a user's run (dae's Numba mode one OpenBLAS thread, PyTorch and "
                        "XLA every core)")
    p.add_argument("--examples", type=int, default=None,
                   help="at most this many examples a row (rounded down to whole minibatches)")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_STEPS} minibatches a row and one repeat: checks the script, "
                        "measures nothing")
    p.add_argument("--no-compile", action="store_true", help="skip the compile-time processes")
    p.add_argument("--blas", choices=("both", "unset", "set"), default="both",
                   help="BLAS environments to time in (default both)")
    p.add_argument("--json", type=Path, default=None, help="write the raw numbers here")
    p.add_argument("--data-dir", type=Path, default=None, help="MNIST folder (default $DAE_DATA_DIR)")
    p.add_argument("--child", choices=("time", "compile"), help=argparse.SUPPRESS)
    p.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if min(args.repeats, args.compile_repeats, args.examples or 1) < 1 or args.threads < 0:
        p.error("repeats, compile repeats and examples must be >= 1, threads >= 0")
    if args.quick:
        args.repeats = 1
    return args


# -- the rows: dae's graph as the experiment builds it, and the peers' network -------------------
@dataclasses.dataclass
class Row:
    """One benchmark row. ``build(x, y)`` returns dae's :class:`Graph`; ``net`` is the peers'
    cost ``net(ops, train, fixed, batch, noise) -> (cost, outputs)``; ``noise`` maps each
    random draw (``uniform``, ``normal``, as dae's graph names them) to its shape for n rows."""

    name: str
    label: str
    graph: str
    batch: int
    examples: int
    build: object
    net: object
    rule: tuple  # ("sgd" or "adam", learning rate)
    noise: dict = dataclasses.field(default_factory=dict)
    labels: bool = False


@dataclasses.dataclass
class Graph:
    """dae's training step, symbolically: what ``compile_step`` compiles, and the parameters."""

    cost: object
    outputs: list
    updates: list
    data: dict  # {symbolic input: data}, the model's x (and y)
    train: dict  # {name: shared}, the parameters the step updates, the peers' names
    fixed: dict = dataclasses.field(default_factory=dict)  # parameters read, not trained
    inputs: list = dataclasses.field(default_factory=list)  # [(symbolic scalar, value)]


def make_rows():
    """The rows, their settings read from the experiments' configs (needs dae)."""
    from dae.experiments import SdA as sda_exp, cA as ca_exp, dA as da_exp, sA as sa_exp, vae as vae_exp

    da, ca, sa = da_exp.Config(), ca_exp.Config(), sa_exp.Config()
    sd, va = sda_exp.Config(), vae_exp.Config()
    assert (sa.update_rule, sa.optimizer, sa.sparsity, sd.layer_type, sd.momentum, va.activation,
            va.likelihood, va.beta) == ("sgd", "sgd", "kl", "dA", 0.0, "relu", "bernoulli", 1.0), \
        "an experiment's default changed: the peers' networks below need the same change"
    level = da.corruption[-1]
    sd_hidden, sd_level = sd.hidden_layers, sd.corruption_levels[1]
    pre_batch = sd.pretrain_batch_size or sd.batch_size
    sd_name = "-".join(map(str, [784] + sd_hidden))
    vae_name = "-".join(map(str, [784] + va.hidden + [va.latent]))
    rows = [
        Row("dA", f"dA 784-{da.n_hidden}, {level:.0%} masking, batch {da.batch_size}", "dA",
            da.batch_size, 10000, lambda x, y: build_dA(da, level),
            autoencoder_net(level=level), ("sgd", da.learning_rate),
            {"uniform": lambda n: (n, 784)}),
        Row("cA", f"cA 784-{ca.n_hidden}, batch {ca.batch_size}", "cA", ca.batch_size, 10000,
            lambda x, y: build_cA(ca), autoencoder_net(penalty=contraction(ca.contraction)),
            ("sgd", ca.learning_rate)),
        Row("sA", f"sA 784-{sa.n_hidden}, batch {sa.batch_size}", "sA", sa.batch_size, 10000,
            lambda x, y: build_sA(sa), autoencoder_net(
                loss=sa.loss, penalty=sparsity(sa.sparsity_target, sa.sparsity_weight,
                                               sa.weight_decay)), ("sgd", sa.learning_rate)),
        Row("sda-pre1", f"SdA {sd_name} layer 2 pretraining, batch {pre_batch}", "sda-pre",
            pre_batch, 1000, lambda x, y: build_sda_layer(sd, 1, sd_level),
            autoencoder_net(level=sd_level, below=1), ("sgd", sd.pretrain_lr),
            {"uniform": lambda n: (n, sd_hidden[0])}),
        Row("sda-pre10", f"SdA {sd_name} layer 2 pretraining, batch 10", "sda-pre", 10, 5000,
            lambda x, y: build_sda_layer(sd, 1, sd_level),
            autoencoder_net(level=sd_level, below=1), ("sgd", sd.pretrain_lr),
            {"uniform": lambda n: (n, sd_hidden[0])}),
        Row("sda-ft10", f"SdA {sd_name}-10 fine-tuning, batch 10", "sda-ft", 10, 5000,
            lambda x, y: build_sda_finetune(sd, x, y), classifier_net(len(sd_hidden)),
            ("sgd", sd.finetune_lr), labels=True),
        Row("sda-ft1", f"SdA {sd_name}-10 fine-tuning, batch {sd.batch_size}", "sda-ft",
            sd.batch_size, 1000, lambda x, y: build_sda_finetune(sd, x, y),
            classifier_net(len(sd_hidden)), ("sgd", sd.finetune_lr), labels=True),
    ]
    for name, k, examples in (("vae", None, 10000), ("iwae5", 5, 5000), ("iwae50", 50, 1000)):
        what = "VAE" if k is None else f"IWAE k={k}"
        samples = (lambda n: (n, va.latent)) if k is None else (lambda n, k=k: (n, k, va.latent))
        rows.append(Row(name, f"{what} {vae_name} {va.activation}, Adam, batch {va.batch_size}",
                        name, va.batch_size, examples, lambda x, y, k=k: build_vae(va, k),
                        vae_net(len(va.hidden), k), ("adam", va.learning_rate),
                        {"uniform": lambda n: (n, 784), "normal": samples}))
    return {row.name: row for row in rows}


def build_dA(c, level):
    """The dA experiment's stage at ``level`` (dae/experiments/dA.py)."""
    import numpy as np
    from dae.dA import dA
    from dae.random import RandomStreams

    rng = np.random.RandomState(c.seed)
    da = dA(numpy_rng=rng, theano_rng=RandomStreams(rng.randint(2**30)), n_visible=784,
            n_hidden=c.n_hidden, corruption=c.corruption_type)
    cost, updates = da.get_cost_updates(corruption_level=level, learning_rate=c.learning_rate)
    return Graph(cost, [cost], updates, {da.x: None}, _names(da, "W", "b", "b_prime"))


def build_cA(c):
    """The cA experiment's step (dae/experiments/cA.py), its monitors as outputs."""
    import numpy as np
    import pytensor.tensor as pt
    from dae.cA import cA

    ca = cA(numpy_rng=np.random.RandomState(c.seed), n_visible=784, n_hidden=c.n_hidden,
            n_batchsize=c.batch_size)
    cost, hidden = ca.get_cost(contraction_level=c.contraction)
    monitors = [pt.mean(ca.reconstruction_loss(ca.x, hidden)),
                pt.mean(pt.sqrt(ca.jacobian_norm_sq(hidden)))]
    return Graph(cost, monitors, ca.updates_for(cost, c.learning_rate), {ca.x: None},
                 _names(ca, "W", "b", "b_prime"))


def build_sA(c):
    """The sA experiment's SGD step (dae/experiments/sA.py), its monitors as outputs."""
    import numpy as np
    import pytensor.tensor as pt
    from dae.sA import sA

    sa = sA(numpy_rng=np.random.RandomState(c.seed), n_visible=784, n_hidden=c.n_hidden,
            sparsity=c.sparsity, loss=c.loss)
    cost, hidden = sa.get_cost(sparsity_target=c.sparsity_target,
                               sparsity_weight=c.sparsity_weight, weight_decay=c.weight_decay)
    monitors = [cost, sa.kl_divergence(hidden, c.sparsity_target), pt.mean(hidden)]
    return Graph(cost, monitors, sa.updates_for(cost, c.learning_rate, c.update_rule), {sa.x: None},
                 _names(sa, "W", "b", "b_prime"))


def _sda(c):
    import numpy as np
    from dae.SdA import SdA

    return SdA(numpy_rng=np.random.RandomState(c.seed), n_ins=784, hidden_layers_sizes=c.hidden_layers,
               n_outs=10, corruption_levels=c.corruption_levels, layer_type=c.layer_type)


def build_sda_layer(c, i, level):
    """Layer ``i``'s function of ``SdA.pretraining_functions`` (the SdA experiment's
    pretraining calls it with the layer's corruption level and the pretraining rate)."""
    import numpy as np
    import pytensor.tensor as pt
    from dae.config import floatX

    sda = _sda(c)
    corruption, lr = pt.scalar("corruption", dtype=floatX()), pt.scalar("lr", dtype=floatX())
    cost, updates = sda.pretraining_cost_updates(i, corruption, lr)
    below = {}
    for j, layer in enumerate(sda.sigmoid_layers[:i]):
        below.update({f"W{j}": layer.W, f"b{j}": layer.b})
    values = (np.asarray(level, floatX()), np.asarray(c.pretrain_lr, floatX()))
    return Graph(cost, [cost], updates, {sda.x: None}, _names(sda.dA_layers[i], "W", "b", "b_prime"),
                 below, list(zip((corruption, lr), values)))


def build_sda_finetune(c, x, y):
    """``train_fn`` of ``SdA.build_finetune_functions`` (its two score functions not built),
    on the tutorial's data: shared x and ``cast(shared_y, 'int32')``."""
    from dae import updates as update_rules
    from dae.data import shared_dataset

    sda = _sda(c)
    train_x, train_y = shared_dataset((x, y))
    updates = update_rules.get_rule("sgd")(sda.finetune_cost, sda.params, c.finetune_lr)
    names = {f"{'Wb'[j % 2]}{j // 2}": p for j, p in enumerate(sda.params)}
    return Graph(sda.finetune_cost, [sda.finetune_cost], updates, {sda.x: train_x, sda.y: train_y},
                 names)


def build_vae(c, k):
    """The VAE experiment's step (dae/experiments/vae.py); ``k``: ``--iwae k``."""
    import numpy as np
    import pytensor
    from dae.config import floatX
    from dae.random import RandomStreams
    from dae.VAE import VAE

    rng = np.random.RandomState(c.seed)
    model = VAE(rng, theano_rng=RandomStreams(rng.randint(2**30)), n_visible=784,
                hidden_layers_sizes=c.hidden, n_latent=c.latent, activation=c.activation,
                output=c.likelihood)
    learning_rate = pytensor.shared(np.asarray(c.learning_rate, floatX()), name="learning_rate")
    cost, updates = model.get_cost_updates(learning_rate, update_rule="adam", binarize=True,
                                           beta=c.beta, iwae=k)
    return Graph(cost, [cost], updates, {model.x: None}, {p.name: p for p in model.params})


def _names(model, *names):
    return {name: getattr(model, name) for name in names}


# -- the peers' networks, written once for PyTorch and JAX ---------------------------------------
class Ops:
    """The array functions the peers' networks call, by one name in PyTorch and in JAX."""

    def __init__(self, lib):
        if lib == "torch":
            import torch
            F = torch.nn.functional
            self.sigmoid, self.softplus, self.relu = torch.sigmoid, F.softplus, torch.relu
            self.sum = lambda a, axis=None: a.sum() if axis is None else a.sum(axis)
            self.mean = lambda a, axis=None: a.mean() if axis is None else a.mean(axis)
            self.logsumexp, self.clip = torch.logsumexp, torch.clamp
            self.log_softmax = lambda a: torch.log_softmax(a, -1)
            self.pick = lambda logp, y: torch.take_along_dim(logp, y[:, None], 1)[:, 0]
            self.as_float = lambda a: a.float()
            lib = torch
        else:
            import jax
            import jax.numpy as jnp
            self.sigmoid, self.softplus, self.relu = jax.nn.sigmoid, jax.nn.softplus, jax.nn.relu
            self.sum, self.mean, self.clip = jnp.sum, jnp.mean, jnp.clip
            self.logsumexp = jax.scipy.special.logsumexp
            self.log_softmax = jax.nn.log_softmax
            self.pick = lambda logp, y: jnp.take_along_axis(logp, y[:, None], 1)[:, 0]
            self.as_float = lambda a: a.astype(jnp.float32)
            lib = jnp
        self.exp, self.log, self.sqrt, self.square = lib.exp, lib.log, lib.sqrt, lib.square


def autoencoder_net(level=None, loss="cross_entropy", penalty=None, below=0):
    """dae.base's tied autoencoder, eqs. (1)-(5); ``below`` frozen sigmoid layers first
    (an SdA layer's input); ``penalty(o, p, y, reconstruction) -> (cost, outputs)``."""
    def net(o, p, fixed, batch, noise):
        x = batch["x"]
        for i in range(below):
            x = o.sigmoid(x @ fixed[f"W{i}"] + fixed[f"b{i}"])
        x_tilde = x * (noise["uniform"] >= level) if level else x
        y = o.sigmoid(x_tilde @ p["W"] + p["b"])
        a = y @ p["W"].T + p["b_prime"]
        if loss == "cross_entropy":
            rec = o.mean(o.sum(o.softplus(a) - x * a, 1))
        else:
            rec = o.mean(o.sum(o.square(x - o.sigmoid(a)), 1) / 2)
        return penalty(o, p, y, rec) if penalty else (rec, [rec])
    return net


def contraction(level):
    """dae.cA's penalty, eq. (6), and the experiment's monitors."""
    def penalty(o, p, y, rec):
        jacobian = o.sum(o.square(y * (1 - y)) * o.sum(o.square(p["W"]), 0), 1)
        return rec + level * o.mean(jacobian), [rec, o.mean(o.sqrt(jacobian))]
    return penalty


def sparsity(rho, beta, decay, eps=1e-6):
    """dae.sA's KL penalty and weight decay, eq. (6), and the experiment's monitors."""
    def penalty(o, p, y, rec):
        rho_hat = o.clip(o.mean(y, 0), eps, 1 - eps)
        kl = o.sum(rho * o.log(rho / rho_hat) + (1 - rho) * o.log((1 - rho) / (1 - rho_hat)))
        cost = rec + beta * kl + decay * o.sum(o.square(p["W"])) / 2
        return cost, [cost, kl, o.mean(y)]
    return penalty


def classifier_net(n_hidden):
    """The SdA's MLP (sigmoid layers, softmax) and its NLL, dae.SdA eqs. (1), (2), (4)."""
    def net(o, p, fixed, batch, noise):
        h = batch["x"]
        for i in range(n_hidden):
            h = o.sigmoid(h @ p[f"W{i}"] + p[f"b{i}"])
        nll = -o.mean(o.pick(o.log_softmax(h @ p[f"W{n_hidden}"] + p[f"b{n_hidden}"]), batch["y"]))
        return nll, [nll]
    return net


def vae_net(n_hidden, k=None):
    """dae.VAE's Bernoulli VAE on a dynamic binarization, eqs. (1)-(8), or its IWAE bound (11)."""
    def net(o, p, fixed, batch, noise):
        x = o.as_float(noise["uniform"] < batch["x"])
        h = x
        for i in range(n_hidden):
            h = o.relu(h @ p[f"W_enc{i}"] + p[f"b_enc{i}"])
        mu, log_var = h @ p["W_mu"] + p["b_mu"], h @ p["W_log_var"] + p["b_log_var"]
        if k is not None:  # k samples of each example's z
            x, mu, log_var = x[:, None], mu[:, None], log_var[:, None]
        z = mu + o.exp(log_var / 2) * noise["normal"]
        g = z
        for i in range(n_hidden):
            g = o.relu(g @ p[f"W_dec{i}"] + p[f"b_dec{i}"])
        a = g @ p["W_out"] + p["b_out"]
        log_px = o.sum(x * a - o.softplus(a), -1)
        if k is None:
            bound = log_px - o.sum(o.square(mu) + o.exp(log_var) - log_var - 1, -1) / 2
        else:
            log_w = log_px + o.sum(log_var + o.square(z - mu) * o.exp(-log_var) - o.square(z), -1) / 2
            bound = o.logsumexp(log_w, 1) - math.log(k)
        cost = -o.mean(bound)
        return cost, [cost]
    return net


# -- contenders: each returns (run one pass, first step's outputs or a check) --------------------
def dae_contender(row, mode, x, y):
    """dae's step compiled in ``mode`` as the experiment compiles it: (pass, first outputs)."""
    import numpy as np
    import pytensor
    from dae.train import compile_step, fit

    graph = row.build(x, y)
    data = {var: pytensor.shared(x, borrow=True) if source is None else source
            for var, source in graph.data.items()}
    step = compile_step(data, row.batch, graph.outputs, graph.updates, mode,
                        inputs=[s for s, _ in graph.inputs])
    values = [v for _, v in graph.inputs]

    def call(i):
        return step(i, *values)
    first = [float(v) for v in np.ravel(call(0))]
    passes = iter(range(1, 10 ** 6))

    def one_pass():
        # Each pass a later epoch of one run (the model trains on across passes, as the peers'
        # do): its divergence check is a later epoch's (finite, in bounds). As epoch 0, a model
        # already trained by earlier passes could have a first step far below its mean.
        epoch = next(passes)
        return fit(call, step.n_steps, epoch + 1, names=[f"out{i}" for i in range(len(first))],
                   start_epoch=epoch)
    return one_pass, first


def init_values(graph):
    """Copies of the graph's parameters: ({trained}, {fixed})."""
    import numpy as np
    return tuple({name: np.array(var.get_value()) for name, var in group.items()}
                 for group in (graph.train, graph.fixed))


def torch_peer(row, init, x, y, threads):
    """PyTorch eager: ``(run one pass, check(batch, noises) -> [(cost, outputs)])``."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    o = Ops("torch")
    train = {k: torch.tensor(v, requires_grad=True) for k, v in init[0].items()}
    fixed = {k: torch.tensor(v) for k, v in init[1].items()}
    rule, lr = row.rule
    optimizer = (torch.optim.SGD if rule == "sgd" else torch.optim.Adam)(list(train.values()), lr=lr)
    gen = torch.Generator().manual_seed(0)
    draw = {"uniform": torch.rand, "normal": torch.randn}
    data = {"x": torch.from_numpy(x)}
    if row.labels:
        data["y"] = torch.from_numpy(y.astype("int64"))

    def step(batch, noise=None):
        n = len(batch["x"])
        if noise is None:
            noise = {name: draw[name](shape(n), generator=gen) for name, shape in row.noise.items()}
        cost, outputs = row.net(o, train, fixed, batch, noise)
        optimizer.zero_grad(set_to_none=True)
        cost.backward()
        optimizer.step()
        return float(cost.detach()), [float(v.detach()) for v in outputs]

    def run():
        b = row.batch
        for start in range(0, len(x), b):
            step({k: v[start:start + b] for k, v in data.items()})

    def check(batch, noises):
        batch = {k: torch.from_numpy(v.astype("int64") if k == "y" else v) for k, v in batch.items()}
        return [step(batch, {k: torch.from_numpy(v) for k, v in noise.items()}) for noise in noises]

    return run, check


def jax_peer(row, init, x, y):
    """A hand-written ``jax.jit`` step: ``(run one pass, check, seconds to trace and compile)``."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    o = Ops("jax")
    state = {"train": {k: jnp.asarray(v) for k, v in init[0].items()}, "key": jax.random.PRNGKey(0)}
    fixed = {k: jnp.asarray(v) for k, v in init[1].items()}
    rule, lr = row.rule
    state["opt"] = () if rule == "sgd" else (  # t, and Adam's two moments
        jnp.zeros((), jnp.float32), *[jax.tree_util.tree_map(jnp.zeros_like, state["train"])
                                      for _ in range(2)])
    data = {"x": jnp.asarray(x)}
    if row.labels:
        data["y"] = jnp.asarray(y)
    draw = {"uniform": jax.random.uniform, "normal": jax.random.normal}
    b = row.batch

    def update(train, opt, fixed, batch, noise):
        (cost, outputs), grads = jax.value_and_grad(
            lambda p: row.net(o, p, fixed, batch, noise), has_aux=True)(train)
        if rule == "sgd":
            return jax.tree_util.tree_map(lambda p, g: p - lr * g, train, grads), opt, cost, outputs
        t, m, v = opt  # dae.updates.adam: bias correction folded into the step size
        t = t + 1
        a = lr * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, grads)
        train = jax.tree_util.tree_map(lambda p, m, v: p - a * m / (jnp.sqrt(v) + 1e-8), train, m, v)
        return train, (t, m, v), cost, outputs

    def drawn_step(train, opt, key, fixed, data, index):
        batch = {k: jax.lax.dynamic_slice_in_dim(v, index * b, b) for k, v in data.items()}
        key, *keys = jax.random.split(key, len(row.noise) + 1)
        noise = {name: draw[name](sub, shape(b)) for sub, (name, shape) in zip(keys, row.noise.items())}
        train, opt, _, outputs = update(train, opt, fixed, batch, noise)
        return train, opt, key, outputs

    started = time.perf_counter()
    compiled = jax.jit(drawn_step, donate_argnums=(0, 1)).lower(
        state["train"], state["opt"], state["key"], fixed, data, np.int32(0)).compile()
    seconds = time.perf_counter() - started

    def run():
        outputs = []
        for i in range(len(x) // b):
            state["train"], state["opt"], state["key"], out = compiled(
                state["train"], state["opt"], state["key"], fixed, data, np.int32(i))
            outputs.append(out)
        jax.block_until_ready(outputs)

    def check(batch, noises):
        given = jax.jit(update)
        results, train, opt = [], state["train"], state["opt"]
        for noise in noises:
            train, opt, cost, outputs = given(train, opt, fixed, batch, noise)
            results.append((float(cost), [float(v) for v in outputs]))
        return results

    return run, check, seconds


# -- the check: the peers against dae's graph, the same batch, weights and noise ----------------
def reference(row, graph, batch, noises):
    """dae's graph in its Python mode, its draws replaced by ``noises``: [(cost, outputs)] of
    its first steps from the initial weights (the graph's parameters change)."""
    import pytensor
    from pytensor.graph.replace import clone_replace
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.random.op import RandomVariable
    from pytensor.tensor.random.type import RandomType
    from dae.config import get_mode

    updates = [(var, new) for var, new in graph.updates if not isinstance(var.type, RandomType)]
    ends = [graph.cost] + graph.outputs + [new for _, new in updates]
    draws = {v.owner for v in ancestors(ends) if v.owner and isinstance(v.owner.op, RandomVariable)}
    given = {}
    for node in draws:
        assert node.op.name in row.noise and node.op.name not in given, \
            f"{row.name}: dae's graph draws {node.op.name} the peers do not draw"
        given[node.op.name] = node.outputs[1].type()
    assert set(given) == set(row.noise), f"{row.name}: the peers draw {set(row.noise) - set(given)}"
    new = clone_replace(ends, {node.outputs[1]: given[node.op.name] for node in draws})
    n_out = 1 + len(graph.outputs)
    inputs = list(graph.data) + [given[name] for name in row.noise] + [s for s, _ in graph.inputs]
    f = pytensor.function(inputs, new[:n_out], mode=get_mode("py"), on_unused_input="ignore",
                          updates=[(var, value) for (var, _), value in zip(updates, new[n_out:])])
    results = []
    for noise in noises:
        out = f(*batch.values(), *[noise[name] for name in row.noise], *[v for _, v in graph.inputs])
        results.append((float(out[0]), [float(v) for v in out[1:]]))
    return results


def close(a, b):
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-7)


def check_noises(row, n):
    import numpy as np

    rng = np.random.default_rng(1)
    return [{name: (rng.random(shape(n), dtype=np.float32) if name == "uniform" else
                    rng.standard_normal(shape(n), dtype=np.float32))
             for name, shape in row.noise.items()} for _ in range(2)]


# -- the timing process ----------------------------------------------------------------------------
def row_examples(row, args):
    n = QUICK_STEPS * row.batch if args.quick else row.examples
    if args.examples:
        n = min(n, args.examples)
    return max(row.batch, n // row.batch * row.batch)


def one_line(exc):
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}"[:160]


def guarded(name, run, errors):
    """``run`` that records its first exception in ``errors[name]`` and is then skipped."""
    def call():
        if name not in errors:
            try:
                run()
            except Exception as exc:  # a dae mode that fails mid-pass: one line in its cell
                errors[name] = one_line(exc)
    return call


def time_row(row, args, x, y):
    """One row: the check, then the alternated passes. Returns its JSON record."""
    record = {"row": row.name, "label": row.label, "graph": row.graph, "batch": row.batch,
              "examples": len(x), "times": {}, "errors": {}, "check": {}, "notes": {}}
    errors = record["errors"]
    check_graph = row.build(x, y)
    init = init_values(check_graph)
    batch = {"x": x[:row.batch]}
    if row.labels:
        batch["y"] = y[:row.batch]
    noises = check_noises(row, row.batch)
    expected = reference(row, check_graph, batch, noises)
    record["check"]["dae graph (py mode)"] = expected
    runs = {}
    for name in args.contenders:
        print(f"  {row.name}: {name}", file=sys.stderr, flush=True)
        try:
            if name in DAE_MODES:
                runs[name], first = dae_contender(row, DAE_MODES[name], x, y)
                record["check"][name] = first
                if not row.noise and not all(map(close, first, expected[0][1])):
                    errors[name] = (f"first step's outputs {first} differ from dae's graph's "
                                    f"{expected[0][1]}")
                continue
            if name == "torch":
                runs[name], check = torch_peer(row, init, x, y, args.threads)
            else:
                runs[name], check, record["notes"]["hand-jax jit s"] = jax_peer(row, init, x, y)
        except ImportError as exc:
            missing = exc.name or "jax"
            record["notes"][name] = f"skipped: {missing} is not installed (pip install {missing})"
            print(f"  [{name} skipped: {missing} is not installed]", file=sys.stderr)
            continue
        except Exception as exc:
            errors[name] = one_line(exc)
            continue
        got = check(batch, noises)
        record["check"][name] = got
        for step, ((cost, outputs), (want, want_outputs)) in enumerate(zip(got, expected), 1):
            assert close(cost, want) and all(map(close, outputs, want_outputs)), (
                f"{row.name}: {name}'s step {step} gives cost {cost}, outputs {outputs}; dae's "
                f"graph {want}, {want_outputs}: not the same computation")
    runs = {name: guarded(name, run, errors) for name, run in runs.items() if name not in errors}
    if runs:
        raw = {}
        result = alternate(runs, args.repeats, raw)
        for name, (median, best) in result.items():
            if name not in errors:
                record["times"][name] = {"median": median, "min": best, "all": raw[name]}
    return record


def time_child(args):
    import numpy as np
    from dae.data import load_mnist

    rows = make_rows()
    (x_all, y_all), _, _ = load_mnist(args.data_dir)
    result = {"environment": {var: os.environ.get(var) for var in BLAS_VARS},
              "openblas": openblas_kernels(), "threads": args.threads, "rows": []}
    for name in args.rows:
        row = rows[name]
        n = row_examples(row, args)
        x, y = np.ascontiguousarray(x_all[:n]), np.ascontiguousarray(y_all[:n])
        started = time.perf_counter()
        result["rows"].append(time_row(row, args, x, y))
        print(f"{name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    args.child_out.write_text(json.dumps(result))


# -- compile times: one process per graph, mode and cache state --------------------------------------
def compile_child(args):
    """Build and call row ``args.rows[0]``'s step in ``args.mode``; write the seconds."""
    import numpy as np
    import pytensor
    import pytensor.tensor as pt
    from dae.config import get_mode

    row = make_rows()[args.rows[0]]
    rng = np.random.RandomState(0)
    x = rng.rand(2 * row.batch, 784).astype("float32")
    y = rng.randint(10, size=2 * row.batch).astype("int32")
    started = time.perf_counter()
    v = pt.fmatrix()
    pytensor.function([v], v + 1, mode=get_mode(args.mode))(x)  # the backend's start-up
    startup = time.perf_counter() - started
    started = time.perf_counter()
    run, _ = dae_contender(row, args.mode, x, y)  # builds, compiles and runs step 0
    first = time.perf_counter() - started
    started = time.perf_counter()
    run()  # steps 0 and 1
    step = (time.perf_counter() - started) / 2
    args.child_out.write_text(json.dumps({"startup": startup, "compile": first - step, "step": step}))


def run_child(args, kind, env, extra=()):
    """A child process of this script: its JSON, or {"error": its last line of stderr}."""
    with tempfile.TemporaryDirectory(prefix="dae-bench-modes-") as tmp:
        out = Path(tmp) / "out.json"
        command = [sys.executable, __file__, "--child", kind, "--child-out", str(out),
                   "--threads", str(args.threads), "--repeats", str(args.repeats), *extra]
        done = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
            return {"error": lines[-1][:160]}
        if kind == "time":
            sys.stderr.write(done.stderr)
        return json.loads(out.read_text())


def measure_compiles(args, graph_of):
    """{graph: {mode: {"cold": median s, "warm": median s, ...}}}, one process each;
    ``graph_of``: {row: graph}, the first row on each graph compiles it."""
    graphs = {}
    for name in args.rows:
        graphs.setdefault(graph_of[name], name)
    found = {}
    modes = [DAE_MODES[c] for c in args.contenders if c in DAE_MODES]
    for graph, name in graphs.items():
        found[graph] = {}
        runs = {mode: {"cold": [], "warm": [], "startup cold": [], "startup warm": []}
                for mode in modes}
        for _ in range(args.compile_repeats):
            for mode in modes:  # alternated, repeat after repeat
                with tempfile.TemporaryDirectory(prefix="dae-bench-modes-cache-") as cache:
                    for kind in ("cold", "warm"):
                        got = run_child(args, "compile", cache_env(Path(cache)),
                                        ["--rows", name, "--mode", mode])
                        if "error" in got:
                            runs[mode]["error"] = got["error"]
                            break
                        runs[mode][kind].append(got["compile"])
                        runs[mode][f"startup {kind}"].append(got["startup"])
        for mode, got in runs.items():
            found[graph][mode] = {k: statistics.median(v) for k, v in got.items() if v and k != "error"}
            if "error" in got:
                found[graph][mode]["error"] = got["error"]
            print(f"compile {graph} {mode}: {found[graph][mode]}", file=sys.stderr, flush=True)
    return found


# -- the tables --------------------------------------------------------------------------------------
def cell(record, name):
    if name in record["errors"]:
        return record["errors"][name].replace("|", "/")
    if name in record["times"]:
        return f"{record['times'][name]['median']:.3f}"
    return record["notes"].get(name, "")


def timing_table(result, contenders):
    peers = [c for c in contenders if c in PEERS]
    daes = [c for c in contenders if c in DAE_MODES]
    head = ["step", "examples"] + [f"{c} s" for c in contenders] + [f"{c} / fastest peer" for c in daes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for record in result["rows"]:
        times = {c: record["times"][c]["median"] for c in contenders if c in record["times"]}
        best = min((times[p], p) for p in peers if p in times) if any(p in times for p in peers) else None
        ratios = [f"{times[c] / best[0]:.2f} ({best[1]})" if best and c in times else ""
                  for c in daes]
        lines.append("| " + " | ".join([record["label"], f"{record['examples']:,}"] +
                                       [cell(record, c) for c in contenders] + ratios) + " |")
    return "\n".join(lines)


def compile_table(compiles, results):
    jit, labels = {}, {}
    for result in results.values():
        for record in result.get("rows", []):
            jit.setdefault(record["graph"], record["notes"].get("hand-jax jit s"))
            labels.setdefault(record["graph"], record["label"].rsplit(", batch", 1)[0])
    modes = sorted({mode for per in compiles.values() for mode in per}, key=list(DAE_MODES.values()).index)
    head = ["graph"] + [f"dae-{m} {kind} s" for m in modes for kind in ("cold", "warm")] + ["hand-jax jit s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for graph, per in compiles.items():
        cells = []
        for mode in modes:
            got = per.get(mode, {})
            cells += [f"{got[k]:.2f}" if k in got else got.get("error", "").replace("|", "/")
                      for k in ("cold", "warm")]
        seconds = jit.get(graph)
        lines.append("| " + " | ".join([labels.get(graph, graph)] + cells +
                                       [f"{seconds:.2f}" if seconds else ""]) + " |")
    startup = [f"dae-{m} {kind} " + "%.2f s" % statistics.median(
        [per[m][f"startup {kind}"] for per in compiles.values() if f"startup {kind}" in per.get(m, {})]
        or [math.nan]) for m in modes for kind in ("cold", "warm")]
    return "\n".join(lines) + "\n\nstart-up (a trivial graph first, not counted above), " \
        "median over the graphs' processes: " + ", ".join(startup)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        limit_threads(args.threads)  # before NumPy, JAX or PyTorch loads, here or in a child
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.child == "time":
        return time_child(args)
    if args.child == "compile":
        return compile_child(args)
    forwarded = ["--rows", *args.rows, "--contenders", *args.contenders]
    forwarded += ["--quick"] * args.quick + ["--examples", str(args.examples)] * bool(args.examples)
    forwarded += ["--data-dir", str(args.data_dir)] * bool(args.data_dir)
    settings = ["unset", "set"] if args.blas == "both" else [args.blas]
    as_set = {var: os.environ.get(var) for var in BLAS_VARS}
    threads = f"{args.threads} thread(s)" if args.threads else "threads as each library chooses"
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; {threads}; load "
          f"{os.getloadavg()[0]:.1f}; this machine sets "
          + ", ".join(f"{k}={v}" for k, v in as_set.items()), flush=True)
    if not any(as_set.values()) and len(settings) > 1:
        print("(neither is set here: the two timing runs differ only by when they ran)")
    started = time.perf_counter()
    results = {}
    for setting in settings:
        env = {k: v for k, v in os.environ.items() if setting == "set" or k not in BLAS_VARS}
        print(f"timing, {SETTINGS[setting]} ...", file=sys.stderr, flush=True)
        results[setting] = run_child(args, "time", env, forwarded)
    compiles = {}
    if not args.no_compile and any(c in DAE_MODES for c in args.contenders):
        print("compile times ...", file=sys.stderr, flush=True)
        compiles = measure_compiles(args, dict(zip(ROWS, GRAPHS)))
    for setting, result in results.items():
        print(f"\n### {SETTINGS[setting]}\n")
        if "error" in result:
            print(f"failed: {result['error']}")
            continue
        kernels = ", ".join(f"{k} {v}" for k, v in result["openblas"].items()) or "unknown"
        print(f"OpenBLAS kernels: {kernels}; median wall seconds of {args.repeats} alternated "
              f"passes{' (--quick: measures nothing)' * args.quick}\n")
        print(timing_table(result, args.contenders))
    if compiles:
        print("\n### compile times, one process each (wall s; a second step's time subtracted)\n")
        print(compile_table(compiles, results))
    print(f"\n({time.perf_counter() - started:.0f} s in all)")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_name(), "cores": os.cpu_count(),
                                         "threads": args.threads, "repeats": args.repeats,
                                         "quick": args.quick, "timing": results,
                                         "compile": compiles}, indent=1))
    return 0


#: Each row's graph (rows on one graph share their compile time), without importing dae.
GRAPHS = ("dA", "cA", "sA", "sda-pre", "sda-pre", "sda-ft", "sda-ft", "vae", "iwae5", "iwae50")

if __name__ == "__main__":
    sys.exit(main())

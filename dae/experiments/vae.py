"""VAE on dynamically binarized MNIST, with a test ELBO and an importance-sampled NLL.

Defaults, and why: a 784-512-512-50 encoder with a mirrored decoder, ReLU
units, Adam at 1e-3 with batches of 100: the usual MLP VAE of the literature
(softplus units cost the same per epoch here, tanh a sixth more). Batches of
100 are large enough to keep the matrix products efficient and small enough
for 500 steps an epoch. The learning rate decays by ``--lr-decay`` (0.98) per
epoch, so the last epochs average the gradient noise out instead of jittering
around the optimum: after 100 epochs it is 1.3e-4. 100 epochs keep the whole
run, training and then k = 1000 importance samples on the 10,000 test images,
under 20 minutes on dae's 2-core development machine, shared with other jobs
(``OPENBLAS_NUM_THREADS=1 python scripts/train_vae.py``: 15.6 min wall, 12 min
of CPU; 6.9 s an epoch, 246 s for the NLL). That run reached a test ELBO of
-92.91 nats and a test NLL of 88.59 +- 0.24 nats (IWAE, k = 1000); published
anchors: pythae's VAE, 89.78 nats (200 importance samples), pylearn2's, about
93.8. The validation ELBO still rose at the end (-93.81 at epoch 90, -93.64
at epoch 100): more epochs would help a little.

Writes ``vae.npz`` (the trained model, for ``dae eval`` and ``dae sample``),
``samples.png``, ``reconstructions.png``, ``manifold.png`` (``--latent 2``),
``results.json`` (the numbers, their protocol and the per-epoch history) and,
as every session does, ``checkpoint.npz`` after every epoch (Adam's moments,
the decayed learning rate and the random state included), ``metrics.jsonl``
and ``learning_curve.png``. Ctrl-C during training or during the NLL saves
and says how to resume; a resumed run ends bit-identical.

Protocol (``likelihood`` bernoulli, the default): dynamic binarization in
training (a fresh x_bin ~ Bernoulli(x) each step); validation and test sets
binarized once with ``eval_seed`` (0), which also seeds the evaluation's
samples. ``likelihood`` gaussian binarizes nothing: p(x|z) = N(f(z), diag sigma^2),
the mean f(z) the decoder's output and log sigma^2 a learned vector, one per
pixel (:class:`dae.VAE.VAE`'s ``output="gaussian"``), so the ELBO and NLL are
densities of the real pixels, not comparable with Bernoulli numbers. Every
number printed or written says which.

With ``data`` (images as dA's ``--data``; labels, if any, only stratify the split)
it trains on those instead of MNIST, cut into training, validation and test sets
by ``split`` as the SdA's are (:func:`dae.customdata.split`).
"""
import dataclasses
import json
import typing
from pathlib import Path

import numpy as np

from dae.experiments.common import Report, open_session, result
from dae.experiments.configs import (Common, ConfigError, check_split, data_option,
                                     non_negative_float, non_negative_int, option, output_option,
                                     positive_float, positive_int, seed_option, split_option)

HELP = "variational autoencoder on binarized MNIST: ELBO, importance-sampled NLL, samples"


@dataclasses.dataclass
class Config(Common):
    MAY_CHANGE: typing.ClassVar[tuple] = ("epochs", "mode", "k")
    hidden: typing.List[int] = option([512, 512], "encoder hidden layer sizes; the decoder mirrors them",
                                      check=positive_int)
    latent: int = option(50, "latent dimensions", check=positive_int)
    activation: str = option("relu", "hidden units", choices=("relu", "softplus", "tanh", "sigmoid"))
    learning_rate: float = option(1e-3, "Adam step", check=positive_float)
    lr_decay: float = option(0.98, "learning rate factor after each epoch (1 keeps it constant)",
                             check=positive_float)
    batch_size: int = option(100, "minibatch size", check=positive_int)
    epochs: int = option(100, "training epochs", check=positive_int)
    beta: float = option(1.0, "weight of the KL term in the training cost (1: the VAE; above 1 a "
                              "beta-VAE)", check=non_negative_float)
    iwae: typing.Optional[int] = option(None, "train on the importance-weighted bound with K samples "
                                              "(Burda et al. 2016) instead of the ELBO (default: the "
                                              "ELBO)", check=positive_int, metavar="K")
    k: int = option(1000, "importance samples for the test NLL", check=positive_int)
    eval_seed: int = option(0, "seed binarizing the validation and test sets once, and of the "
                               "evaluation's samples", check=non_negative_int)
    likelihood: str = option(
        "bernoulli", "p(x|z): bernoulli (pixels in [0, 1], binarized: dynamically in training, once "
                     "for validation and test) or gaussian (pixels as they are, N(f(z), diag "
                     "sigma^2) with sigma^2 learned per pixel)", choices=("bernoulli", "gaussian"))
    data: typing.Optional[Path] = data_option(
        "train on these images instead of MNIST, split by --split")
    split: typing.List[float] = split_option()
    seed: int = seed_option(123)
    output_dir: Path = output_option("vae_plots")

    def check(self):
        if self.iwae is not None and self.beta != 1:
            raise ConfigError(f"--beta {self.beta:g} with --iwae {self.iwae}: the IWAE bound has no "
                              "KL term to weigh; give one or the other")
        check_split(self)


def run(config=None, report=None, resume=False, command=None, typed=None):
    """Train the VAE, then its test ELBO and NLL; the result's numbers are ``test_elbo``,
    ``test_nll``, ``test_nll_stderr`` and ``eval_seconds``."""
    report = report or Report()
    with open_session("vae", config or Config(), report, resume, command, typed) as session:
        c = session.config
        import pytensor

        from dae.config import floatX
        from dae.customdata import three_sets
        from dae.evaluate import PROTOCOL, Evaluator, binarize
        from dae.random import RandomStreams
        from dae.train import compile_step
        from dae.utils import atomic_write
        from dae.VAE import VAE

        bernoulli = c.likelihood == "bernoulli"
        train, valid, test, how = three_sets(
            c.data, c.data_dir, c.split, loss="cross_entropy" if bernoulli else "squared_error")
        if how:
            report.line(how)
        train_x = train.x
        session.bind_data(train_x)
        session.info["image_shape"] = train.image_shape
        if bernoulli:
            valid_x, test_x = binarize(valid.x, c.eval_seed), binarize(test.x, c.eval_seed)
            once = PROTOCOL.format(seed=c.eval_seed)
        else:
            valid_x, test_x = valid.x, test.x
            once = "not binarized (Gaussian p(x|z))"

        rng = np.random.RandomState(c.seed)
        model = VAE(rng, theano_rng=RandomStreams(rng.randint(2**30)), n_visible=train_x.shape[1],
                    hidden_layers_sizes=c.hidden, n_latent=c.latent, activation=c.activation,
                    output=c.likelihood)
        learning_rate = pytensor.shared(np.asarray(c.learning_rate, floatX()), name="learning_rate")
        cost, updates = model.get_cost_updates(learning_rate, update_rule="adam", binarize=bernoulli,
                                               beta=c.beta, iwae=c.iwae)
        step = compile_step({model.x: pytensor.shared(train_x, borrow=True)}, c.batch_size, cost,
                            updates, c.mode)
        # Reseeded at every call, so a validation ELBO depends on the weights only
        # (and a resumed run reports the same numbers), and `dae eval vae.npz
        # --samples K --seed S` reproduces the test numbers below.
        evaluator = Evaluator(model, seed=c.eval_seed, mode=c.mode)
        report.line(f"VAE {'-'.join(map(str, [model.n_visible] + model.hidden_layers_sizes + [model.n_latent]))}"
                    f" ({c.activation}), Adam lr {c.learning_rate:g} x {c.lr_decay:g}/epoch, "
                    f"batch {c.batch_size}, {c.epochs} epochs; cost = {_objective(c)} "
                    f"({_likelihood(c)}) on {'dynamically binarized' if bernoulli else 'the'} "
                    f"batches, valid ELBO on the validation set {once}")

        def on_epoch(record):
            record["valid_elbo"] = float(evaluator.elbo(valid_x).mean())
            learning_rate.set_value(learning_rate.get_value() * np.asarray(c.lr_decay, floatX()))

        session.fit("vae", model, step, c.epochs, on_epoch=on_epoch, state=[learning_rate])
        session.wrote(session.save_model(model, "vae.npz"))

        def evaluate(check):
            import time
            started = time.perf_counter()
            elbo = float(evaluator.elbo(test_x).mean())
            bar = report.progress(f"IWAE k={c.k}")

            def batches(starts):  # stops cleanly between batches on Ctrl-C
                for start in (starts if bar is None else bar(starts, 0)):
                    check()
                    yield start
            iwae = evaluator.iwae(test_x, c.k, progress=batches)
            return {"test_elbo": elbo, "test_nll": -float(iwae.mean()),
                    "test_nll_stderr": float(iwae.std() / np.sqrt(len(iwae))),
                    "eval_seconds": time.perf_counter() - started}

        results = session.run("evaluate", evaluate)
        report.line(f"test ELBO {results['test_elbo']:.2f} nats (one z per image, analytic KL; "
                    f"test set {once})")
        report.line(f"test NLL {results['test_nll']:.2f} nats (IWAE k={c.k}; test set {once}) "
                    f"+- {results['test_nll_stderr']:.2f} standard error over images; "
                    f"{results['eval_seconds']:.0f} s")

        _pictures(model, test_x, train, c, session)

        history = [r for r in session.history if r["stage"] == "vae"]
        summary = {
            "likelihood": c.likelihood,
            "protocol": f"{_likelihood(c)}; " + (
                f"dynamic binarization in training; validation and test sets binarized once "
                f"with seed {c.eval_seed}" if bernoulli else "no binarization"),
            **results, "test_elbo_method": "one z per image, analytic KL",
            "test_nll_method": f"IWAE bound, k={c.k}", "k": c.k,
            "train_seconds": sum(r["seconds"] for r in history),
            "hyperparameters": model.hyperparameters(),
            "config": c.saved(),
            "history": history,
        }
        with atomic_write(c.output_dir / "results.json", "w") as f:
            json.dump(summary, f, indent=1)
        session.wrote(c.output_dir / "results.json")
        session.wrote(session.finish())
    return result(session, **{k: results[k] for k in ("test_elbo", "test_nll", "test_nll_stderr",
                                                      "eval_seconds")})


def _objective(c):
    if c.iwae is not None:
        return f"-L_{c.iwae} (IWAE bound, {c.iwae} samples)"
    return "-ELBO" if c.beta == 1 else f"-(log p(x|z) - {c.beta:g} KL) (beta-VAE)"


def _likelihood(c):
    if c.likelihood == "bernoulli":
        return "Bernoulli p(x|z)"
    return "Gaussian p(x|z) = N(f(z), diag sigma^2), sigma^2 learned per pixel"


def _pictures(model, test_x, train, c, session):
    """samples.png, reconstructions.png (of ``test_x``) and, with 2 latents, manifold.png;
    none, with a line saying why, when the images' shape is not known."""
    from dae.plots import manifold_image, reconstructions_image, samples_image
    from dae.utils import save_png

    shape = train.image_shape
    if shape is None:
        session.report(f"no pictures: {train.source} gives rows of {train.x.shape[1]} values, not "
                       "images; pass (n, height, width) arrays to get them")
        return
    pictures = {"samples.png": samples_image(model, 100, seed=c.seed, image_shape=shape, mode=c.mode),
                "reconstructions.png": reconstructions_image(model, test_x[:50], shape, mode=c.mode)}
    if model.n_latent == 2:
        pictures["manifold.png"] = manifold_image(model, image_shape=shape, mode=c.mode)
    for name, image in pictures.items():
        session.wrote(save_png(image, c.output_dir / name))

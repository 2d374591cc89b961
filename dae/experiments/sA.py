"""Sparse autoencoder on MNIST with UFLDL's settings, ``sae_filters.png``.

Model: 784-196, rho = 0.1, beta = 3, lambda = 3e-3, squared-error
reconstruction, as in UFLDL's MNIST exercise (eq. (6) of :mod:`dae.sA`).

Training: UFLDL ran L-BFGS on the whole batch; here it is plain minibatch SGD,
chosen by measuring the alternatives on the training set (50,000 images, seed
123, tied weights). After 8 epochs SGD at rate 0.5 on minibatches of 100 had
the lowest cost (15.8) against Adam at 1e-3 (18.0) or 3e-3 (16.0) and momentum
0.9 at 0.05 (16.2); at rate 1.0 the first epoch overshot (the KL term averaged
45) and the cost stayed higher (17.7 after 6 epochs, against 16.0). After 30
epochs SGD's cost was 15.13, falling by 0.1% an epoch (Adam at 3e-3: 15.25).
An epoch takes about 2 s on a quiet 2-core machine, so the 30 take a minute,
a few where the machine is shared.

Minibatches of 100 because the KL term reads rho^ off the minibatch: for a
unit active on 10% of the examples that estimate has a standard deviation of
sqrt(0.1 * 0.9 / 100) = 0.03 at 100 examples, against 0.09, as large as rho
itself, at 10. That noise also inflates the minibatch KL, by about
sum_j Var(y_j) / (2 * 100 * rho * (1 - rho)), up to 1 for 196 units that are
either off or on: after the default run the KL printed per epoch is 1.20 and
the KL over the whole training set, printed at the end, 0.78.

``optimizer='lbfgs'`` (``--optimizer lbfgs``) trains as UFLDL did instead: L-BFGS on the cost of the
whole training set (:mod:`dae.optimize`), in rounds of ``lbfgs_iterations``
that are the run's epochs (a checkpoint after each; a round starts its
curvature estimate afresh); the KL term then reads the whole set's mean
activation, as UFLDL's does.

Each epoch prints the cost, the KL term (sum_j KL(rho || rho^_j), before beta),
the mean hidden activation and the seconds; at the end, the mean activation
(which should lie near rho) and the KL term over the whole training set. It
writes ``sae_filters.png`` (one tile per hidden unit, 14x14 for 196), ``sA.npz`` (the
model), and, as every session does, ``checkpoint.npz``, ``metrics.jsonl`` and
``learning_curve.png`` (see :mod:`dae.session`). With ``data`` it trains on
all of those images instead of MNIST's 50,000.
"""
import dataclasses
import typing
from pathlib import Path

import numpy as np

from dae.experiments.common import Report, open_session, result
from dae.experiments.configs import (Common, data_option, non_negative_float, open_fraction, option,
                                     output_option, positive_float, positive_int, seed_option)
from dae.experiments.dA import write_filters
from dae.updates import RULES

HELP = "sparse autoencoder on MNIST (UFLDL's settings)"


@dataclasses.dataclass
class Config(Common):
    learning_rate: float = option(0.5, "step size", check=positive_float)
    batch_size: int = option(100, "minibatch size", check=positive_int)
    epochs: int = option(30, "training epochs", check=positive_int)
    update_rule: str = option("sgd", "update rule", choices=tuple(sorted(RULES)))
    optimizer: str = option("sgd", "minibatch steps of --update-rule, or full-batch L-BFGS as UFLDL "
                                   "trained it (dae.optimize), where an epoch is --lbfgs-iterations "
                                   "iterations: UFLDL's 400 are --epochs 8", choices=("sgd", "lbfgs"))
    lbfgs_iterations: int = option(50, "L-BFGS iterations per epoch, each epoch checkpointed",
                                   check=positive_int)
    n_hidden: int = option(196, "hidden units", check=positive_int)
    sparsity_target: float = option(0.1, "rho, each hidden unit's target mean activation, in (0, 1)",
                                    check=open_fraction)
    sparsity_weight: float = option(3.0, "beta, the sparsity penalty's weight", check=non_negative_float)
    weight_decay: float = option(3e-3, "lambda, the weight decay's weight", check=non_negative_float)
    sparsity: str = option("kl", "sparsity penalty: KL to the target, or L1 of the activations",
                           choices=("kl", "l1"))
    loss: str = option("squared_error", "reconstruction loss (squared_error as in UFLDL)",
                       choices=("squared_error", "cross_entropy"))
    data: typing.Optional[Path] = data_option("train on these images instead of MNIST (all of them)")
    seed: int = seed_option(123)
    output_dir: Path = output_option("sA_plots")


def run(config=None, report=None, resume=False, command=None, typed=None):
    """Train the sA; the result's numbers are the last epoch's ``cost``, ``kl`` and
    ``mean_activation``, and the whole training set's (``full_mean_activation``, ``full_kl``)."""
    report = report or Report()
    with open_session("sA", config or Config(), report, resume, command, typed) as session:
        c = session.config
        import pytensor
        import pytensor.tensor as pt

        from dae.config import get_mode
        from dae.customdata import check_fits, dataset
        from dae.sA import sA
        from dae.train import compile_step

        images = check_fits(dataset(c.data, c.data_dir), loss=c.loss)
        session.bind_data(images.x)
        session.info["image_shape"] = images.image_shape
        train_x = pytensor.shared(images.x, borrow=True)
        sa = sA(numpy_rng=np.random.RandomState(c.seed), n_visible=images.x.shape[1],
                n_hidden=c.n_hidden, sparsity=c.sparsity, loss=c.loss)
        cost, hidden = sa.get_cost(sparsity_target=c.sparsity_target,
                                   sparsity_weight=c.sparsity_weight, weight_decay=c.weight_decay)
        monitors = [cost, sa.kl_divergence(hidden, c.sparsity_target), pt.mean(hidden)]
        names = ("cost", "kl", "mean_activation")
        if c.optimizer == "lbfgs":
            from dae.optimize import LBFGSStep

            # an epoch is a round of L-BFGS on the whole set; the monitors are full-batch
            step = LBFGSStep(sa, cost, images.x, iterations=c.lbfgs_iterations,
                             monitors=monitors, mode=c.mode)
        else:
            step = compile_step({sa.x: train_x}, c.batch_size, monitors,
                                sa.updates_for(cost, c.learning_rate, c.update_rule), c.mode)
        session.fit("sA", sa, step, c.epochs, names=names)
        full = sa.get_hidden_values(train_x)
        activation, kl = pytensor.function(
            [], [pt.mean(full), sa.kl_divergence(full, c.sparsity_target)], mode=get_mode(c.mode))()
        report.line(f"over {images.source}: mean hidden activation {float(activation):.4f} "
                    f"(target {c.sparsity_target:g}), KL {float(kl):.4f}")
        session.wrote(session.save_model(sa, "sA.npz"))
        side = int(np.ceil(np.sqrt(c.n_hidden)))
        write_filters(sa, images, (side, side), c.output_dir / "sae_filters.png", session)
        session.wrote(session.finish())
    last = session.history[-1]
    return result(session, **{name: last[name] for name in names},
                  full_mean_activation=float(activation), full_kl=float(kl))

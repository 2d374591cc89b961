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

``--optimizer lbfgs`` trains as UFLDL did instead: L-BFGS on the cost of the
whole training set (:mod:`dae.optimize`), in rounds of ``--lbfgs-iterations``
that are the run's epochs (a checkpoint after each; a round starts its
curvature estimate afresh); the KL term then reads the whole set's mean
activation, as UFLDL's does.

Each epoch prints the cost, the KL term (sum_j KL(rho || rho^_j), before beta),
the mean hidden activation and the seconds; at the end, the mean activation
(which should lie near rho) and the KL term over the whole training set. It
writes ``sae_filters.png`` (one tile per hidden unit, 14x14 for 196), ``sA.npz`` (the
model), and, as every session does, ``checkpoint.npz``, ``metrics.jsonl`` and
``learning_curve.png`` (see :mod:`dae.session`). With ``--data`` it trains on
all of those images instead of MNIST's 50,000.
"""
import argparse

import numpy as np

from dae.experiments.common import (add_common_flags, fraction, non_negative_float, positive_float,
                                    positive_int, start_session)
from dae.experiments.dA import write_filters

HELP = "sparse autoencoder on MNIST (UFLDL's settings)"


def run(args, report):
    with start_session(args, "sA", report) as session:  # on --resume, restores the run's flags
        import pytensor
        import pytensor.tensor as pt

        from dae.config import get_mode
        from dae.customdata import check_fits, dataset
        from dae.sA import sA
        from dae.train import compile_step

        images = check_fits(dataset(args.data, args.data_dir), loss=args.loss)
        session.bind_data(images.x)
        session.info["image_shape"] = images.image_shape
        train_x = pytensor.shared(images.x, borrow=True)
        sa = sA(numpy_rng=np.random.RandomState(args.seed), n_visible=images.x.shape[1],
                n_hidden=args.n_hidden, sparsity=args.sparsity, loss=args.loss)
        cost, hidden = sa.get_cost(sparsity_target=args.sparsity_target,
                                   sparsity_weight=args.sparsity_weight, weight_decay=args.weight_decay)
        monitors = [cost, sa.kl_divergence(hidden, args.sparsity_target), pt.mean(hidden)]
        if args.optimizer == "lbfgs":
            from dae.optimize import LBFGSStep

            # an epoch is a round of L-BFGS on the whole set; the monitors are full-batch
            step = LBFGSStep(sa, cost, images.x, iterations=args.lbfgs_iterations,
                             monitors=monitors, mode=args.mode)
            session.fit("sA", sa, step, args.epochs, names=("cost", "kl", "mean_activation"),
                        state=[])
        else:
            step = compile_step({sa.x: train_x}, args.batch_size, monitors,
                                sa.updates_for(cost, args.learning_rate, args.update_rule), args.mode)
            session.fit("sA", sa, step, args.epochs, names=("cost", "kl", "mean_activation"))
        full = sa.get_hidden_values(train_x)
        activation, kl = pytensor.function(
            [], [pt.mean(full), sa.kl_divergence(full, args.sparsity_target)],
            mode=get_mode(args.mode))()
        report.line(f"over {images.source}: mean hidden activation {float(activation):.4f} "
                    f"(target {args.sparsity_target:g}), KL {float(kl):.4f}")
        report.line(f"wrote {session.save_model(sa, 'sA.npz')}")
        side = int(np.ceil(np.sqrt(args.n_hidden)))
        write_filters(sa, images, (side, side), args.output_dir / "sae_filters.png", report)
        report.line(f"wrote {session.finish()}")
    return 0


def open_fraction(text):
    """A number strictly between 0 and 1 (a KL target of 0 or 1 has no finite penalty)."""
    value = fraction(text)
    if value in (0.0, 1.0):
        raise argparse.ArgumentTypeError(f"expected a value strictly between 0 and 1, got {text}")
    return value


def add_flags(p):
    from dae.updates import RULES

    p.add_argument("--learning-rate", type=positive_float, default=0.5, help="step size (default 0.5)")
    p.add_argument("--batch-size", type=positive_int, default=100, help="minibatch size (default 100)")
    p.add_argument("--epochs", type=positive_int, default=30, help="training epochs (default 30)")
    p.add_argument("--update-rule", choices=sorted(RULES), default="sgd", help="update rule (default sgd)")
    p.add_argument("--optimizer", choices=("sgd", "lbfgs"), default="sgd",
                   help="minibatch steps of --update-rule (default), or full-batch L-BFGS as UFLDL "
                        "trained it (dae.optimize), where an epoch is --lbfgs-iterations "
                        "iterations: UFLDL's 400 are --epochs 8")
    p.add_argument("--lbfgs-iterations", type=positive_int, default=50,
                   help="L-BFGS iterations per epoch, each epoch checkpointed (default 50)")
    p.add_argument("--n-hidden", type=positive_int, default=196, help="hidden units (default 196)")
    p.add_argument("--sparsity-target", type=open_fraction, default=0.1,
                   help="rho, each hidden unit's target mean activation, in (0, 1) (default 0.1)")
    p.add_argument("--sparsity-weight", type=non_negative_float, default=3.0,
                   help="beta, the sparsity penalty's weight (default 3)")
    p.add_argument("--weight-decay", type=non_negative_float, default=3e-3,
                   help="lambda, the weight decay's weight (default 3e-3)")
    p.add_argument("--sparsity", choices=("kl", "l1"), default="kl",
                   help="sparsity penalty: KL to the target (default) or L1 of the activations")
    p.add_argument("--loss", choices=("squared_error", "cross_entropy"), default="squared_error",
                   help="reconstruction loss (default squared_error, as in UFLDL)")
    add_common_flags(p, seed=123, output_dir="sA_plots", data=True)

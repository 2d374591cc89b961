"""The tutorial's cA experiment: MNIST, 784-500, contraction 0.1, ``cae_filters.png``.

The tutorial's defaults: SGD at learning rate 0.01, minibatches of 10, 20
epochs, 500 hidden units, contraction level 0.1, weights drawn from
``numpy.random.RandomState(123)``. Each epoch prints the mean reconstruction
cost (eq. 3 of :mod:`dae.cA`), the mean ||J_f(x)||_F and the seconds it took.
It writes ``cae_filters.png`` (the first 100 filters), ``cA.npz`` (the model),
and, as every session does, ``checkpoint.npz``, ``metrics.jsonl`` and
``learning_curve.png`` (see :mod:`dae.session`). With ``--data`` it trains on
all of those images instead of MNIST's 50,000.
"""
import numpy as np

from dae.experiments.common import (add_common_flags, non_negative_float, positive_float,
                                    positive_int, start_session)
from dae.experiments.dA import write_filters

HELP = "contractive autoencoder on MNIST (the tutorial's experiment)"


def run(args, report):
    with start_session(args, "cA", report) as session:  # on --resume, restores the run's flags
        import pytensor
        import pytensor.tensor as pt

        from dae.cA import cA
        from dae.customdata import check_fits, dataset
        from dae.train import compile_step

        images = check_fits(dataset(args.data, args.data_dir))
        session.bind_data(images.x)
        session.info["image_shape"] = images.image_shape
        ca = cA(numpy_rng=np.random.RandomState(args.seed), n_visible=images.x.shape[1],
                n_hidden=args.n_hidden, n_batchsize=args.batch_size)
        cost, hidden = ca.get_cost(contraction_level=args.contraction)
        monitors = [pt.mean(ca.reconstruction_loss(ca.x, hidden)),
                    pt.mean(pt.sqrt(ca.jacobian_norm_sq(hidden)))]
        step = compile_step({ca.x: pytensor.shared(images.x, borrow=True)}, args.batch_size,
                            monitors, ca.updates_for(cost, args.learning_rate), args.mode)
        # The tutorial printed numpy.mean(c_array[0]) and numpy.mean(numpy.sqrt(c_array[1]))
        # of c_array = numpy.vstack(c), which has one row per minibatch: rows 0 and 1
        # are the first two minibatches, not the two monitored columns. fit() averages
        # each output over every minibatch of the epoch.
        session.fit("cA", ca, step, args.epochs, names=("reconstruction", "mean_jacobian_norm"))
        report.line(f"wrote {session.save_model(ca, 'cA.npz')}")
        write_filters(ca, images, (10, 10), args.output_dir / "cae_filters.png", report)
        report.line(f"wrote {session.finish()}")
    return 0


def add_flags(p):
    p.add_argument("--learning-rate", type=positive_float, default=0.01, help="SGD step (default 0.01)")
    p.add_argument("--batch-size", type=positive_int, default=10, help="minibatch size (default 10)")
    p.add_argument("--epochs", type=positive_int, default=20, help="training epochs (default 20)")
    p.add_argument("--n-hidden", type=positive_int, default=500, help="hidden units (default 500)")
    p.add_argument("--contraction", type=non_negative_float, default=0.1,
                   help="contraction level: the Jacobian penalty's weight (default 0.1)")
    add_common_flags(p, seed=123, output_dir="cA_plots", data=True)

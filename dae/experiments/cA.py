"""The tutorial's cA experiment: MNIST, 784-500, contraction 0.1, ``cae_filters.png``.

The tutorial's defaults: SGD at learning rate 0.01, minibatches of 10, 20
epochs, 500 hidden units, contraction level 0.1, weights drawn from
``numpy.random.RandomState(123)``. Each epoch prints the mean reconstruction
cost (eq. 3 of :mod:`dae.cA`), the mean ||J_f(x)||_F and the seconds it took.
It writes ``cae_filters.png`` (the first 100 filters), ``cA.npz`` (the model),
and, as every session does, ``checkpoint.npz``, ``metrics.jsonl`` and
``learning_curve.png`` (see :mod:`dae.session`). With ``data`` it trains on
all of those images instead of MNIST's 50,000.
"""
import dataclasses
import typing
from pathlib import Path

import numpy as np

from dae.experiments.common import Report, open_session, result
from dae.experiments.configs import (Common, data_option, non_negative_float, option, output_option,
                                     positive_float, positive_int, seed_option)
from dae.experiments.dA import write_filters

HELP = "contractive autoencoder on MNIST (the tutorial's experiment)"


@dataclasses.dataclass
class Config(Common):
    learning_rate: float = option(0.01, "SGD step", check=positive_float)
    batch_size: int = option(10, "minibatch size", check=positive_int)
    epochs: int = option(20, "training epochs", check=positive_int)
    n_hidden: int = option(500, "hidden units", check=positive_int)
    contraction: float = option(0.1, "contraction level: the Jacobian penalty's weight",
                                check=non_negative_float)
    data: typing.Optional[Path] = data_option("train on these images instead of MNIST (all of them)")
    seed: int = seed_option(123)
    output_dir: Path = output_option("cA_plots")


def run(config=None, report=None, resume=False, command=None, typed=None):
    """Train the cA; the result's numbers are the last epoch's ``reconstruction`` and
    ``mean_jacobian_norm``."""
    report = report or Report()
    with open_session("cA", config or Config(), report, resume, command, typed) as session:
        c = session.config
        import pytensor
        import pytensor.tensor as pt

        from dae.cA import cA
        from dae.customdata import check_fits, dataset
        from dae.train import compile_step

        images = check_fits(dataset(c.data, c.data_dir))
        session.bind_data(images.x)
        session.info["image_shape"] = images.image_shape
        ca = cA(numpy_rng=np.random.RandomState(c.seed), n_visible=images.x.shape[1],
                n_hidden=c.n_hidden, n_batchsize=c.batch_size)
        cost, hidden = ca.get_cost(contraction_level=c.contraction)
        monitors = [pt.mean(ca.reconstruction_loss(ca.x, hidden)),
                    pt.mean(pt.sqrt(ca.jacobian_norm_sq(hidden)))]
        step = compile_step({ca.x: pytensor.shared(images.x, borrow=True)}, c.batch_size,
                            monitors, ca.updates_for(cost, c.learning_rate), c.mode)
        # The tutorial printed numpy.mean(c_array[0]) and numpy.mean(numpy.sqrt(c_array[1]))
        # of c_array = numpy.vstack(c), which has one row per minibatch: rows 0 and 1
        # are the first two minibatches, not the two monitored columns. fit() averages
        # each output over every minibatch of the epoch.
        names = ("reconstruction", "mean_jacobian_norm")
        session.fit("cA", ca, step, c.epochs, names=names)
        session.wrote(session.save_model(ca, "cA.npz"))
        write_filters(ca, images, (10, 10), c.output_dir / "cae_filters.png", session)
        session.wrote(session.finish())
    last = session.history[-1]
    return result(session, **{name: last[name] for name in names})

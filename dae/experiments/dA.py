"""The tutorial's dA experiment: MNIST, 784-500, corruption 0% then 30%, filter PNGs.

One stage per corruption level, each a fresh dA drawn from ``seed``. Per
level it writes ``filters_corruption_<pct>.png`` and ``dA_corruption_<pct>.npz``
(the model); the run writes ``checkpoint.npz`` after every epoch,
``metrics.jsonl`` and ``learning_curve.png`` (see :mod:`dae.session`).
With ``data`` it trains on all of those images instead of MNIST's 50,000.
"""
import dataclasses
import typing
from pathlib import Path

import numpy as np

from dae.experiments.common import Report, open_session, result
from dae.experiments.configs import (Common, ConfigError, data_option, fraction, option,
                                     output_option, positive_float, positive_int, seed_option)

HELP = "denoising autoencoder on MNIST (the tutorial's experiment)"


@dataclasses.dataclass
class Config(Common):
    """The tutorial's defaults: 784-500, SGD at 0.1, minibatches of 20, 15 epochs a level."""

    learning_rate: float = option(0.1, "SGD step", check=positive_float)
    batch_size: int = option(20, "minibatch size", check=positive_int)
    epochs: int = option(15, "training epochs", check=positive_int)
    n_hidden: int = option(500, "hidden units", check=positive_int)
    corruption: typing.List[float] = option([0.0, 0.3], "one or more corruption levels in [0, 1]",
                                            check=fraction)
    corruption_type: str = option(
        "mask", "how a level corrupts: the fraction of inputs zeroed (mask, the tutorial's), the "
                "noise's standard deviation (gaussian), or the fraction set to 0 or 1 (salt_and_pepper)",
        choices=("mask", "gaussian", "salt_and_pepper"))
    data: typing.Optional[Path] = data_option("train on these images instead of MNIST (all of them)")
    seed: int = seed_option(123)
    output_dir: Path = output_option("dA_plots")

    def stages(self):
        return [f"corruption_{round(level * 100)}" for level in self.corruption]

    def check(self):
        if len(set(self.stages())) < len(self.stages()):
            raise ConfigError(f"--corruption {' '.join(map(str, self.corruption))} repeats a level "
                              "(to the percent); give each level once")


def run(config=None, report=None, resume=False, command=None, typed=None):
    """Train one dA per corruption level; returns a :class:`dae.experiments.common.Result`
    whose numbers are each level's last-epoch cost (``cost_corruption_30``...)."""
    report = report or Report()
    with open_session("dA", config or Config(), report, resume, command, typed) as session:
        c = session.config
        import pytensor

        from dae.customdata import check_fits, dataset
        from dae.dA import dA
        from dae.random import RandomStreams
        from dae.train import compile_step

        images = check_fits(dataset(c.data, c.data_dir))
        session.bind_data(images.x)
        session.info["image_shape"] = images.image_shape
        train_x = pytensor.shared(images.x, borrow=True)
        for level, stage in zip(c.corruption, c.stages()):
            if session.done(stage):
                continue
            rng = np.random.RandomState(c.seed)
            da = dA(numpy_rng=rng, theano_rng=RandomStreams(rng.randint(2**30)),
                    n_visible=images.x.shape[1], n_hidden=c.n_hidden, corruption=c.corruption_type)
            cost, updates = da.get_cost_updates(corruption_level=level, learning_rate=c.learning_rate)
            step = compile_step({da.x: train_x}, c.batch_size, cost, updates, c.mode)
            session.fit(stage, da, step, c.epochs)
            session.wrote(session.save_model(da, f"dA_{stage}.npz"))
            write_filters(da, images, (10, 10), c.output_dir / f"filters_{stage}.png", session)
        session.wrote(session.finish())
    return result(session, **last_costs(session.history, "cost"))


def last_costs(history, name):
    """``{name_<stage>: value}`` of each stage's last epoch."""
    last = {r["stage"]: r[name] for r in history if name in r}
    return {f"{name}_{stage}": value for stage, value in last.items()}


def write_filters(model, images, tile_shape, path, session):
    """Tile the model's first filters into ``path``, or say why there is no picture."""
    from dae.plots import filters_image
    from dae.utils import save_png

    if images.image_shape is None:
        session.report(f"no filters picture: {images.source} gives rows of {images.x.shape[1]} "
                       "values, not images; pass (n, height, width) arrays to get one")
        return
    image = filters_image(model, image_shape=images.image_shape, tile_shape=tile_shape)
    session.wrote(save_png(image, path))

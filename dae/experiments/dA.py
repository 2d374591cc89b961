"""The tutorial's dA experiment: MNIST, 784-500, corruption 0% then 30%, filter PNGs.

One stage per corruption level, each a fresh dA drawn from ``--seed``. Per
level it writes ``filters_corruption_<pct>.png`` and ``dA_corruption_<pct>.npz``
(the model); the run writes ``checkpoint.npz`` after every epoch,
``metrics.jsonl`` and ``learning_curve.png`` (see :mod:`dae.session`).
With ``--data`` it trains on all of those images instead of MNIST's 50,000.
"""
import numpy as np

from dae.experiments.common import (UserError, add_common_flags, fraction, positive_float,
                                    positive_int, start_session)

HELP = "denoising autoencoder on MNIST (the tutorial's experiment)"


def run(args, report):
    with start_session(args, "dA", report) as session:  # on --resume, restores the run's flags
        stages = [f"corruption_{round(level * 100)}" for level in args.corruption]
        if len(set(stages)) < len(stages):
            raise UserError(f"--corruption {' '.join(map(str, args.corruption))} repeats a level "
                            "(to the percent); give each level once")
        import pytensor

        from dae.customdata import check_fits, dataset
        from dae.dA import dA
        from dae.random import RandomStreams
        from dae.train import compile_step

        images = check_fits(dataset(args.data, args.data_dir))
        session.bind_data(images.x)
        session.info["image_shape"] = images.image_shape
        train_x = pytensor.shared(images.x, borrow=True)
        for level, stage in zip(args.corruption, stages):
            if session.done(stage):
                continue
            rng = np.random.RandomState(args.seed)
            da = dA(numpy_rng=rng, theano_rng=RandomStreams(rng.randint(2**30)),
                    n_visible=images.x.shape[1], n_hidden=args.n_hidden,
                    corruption=args.corruption_type)
            cost, updates = da.get_cost_updates(corruption_level=level, learning_rate=args.learning_rate)
            step = compile_step({da.x: train_x}, args.batch_size, cost, updates, args.mode)
            session.fit(stage, da, step, args.epochs)
            report.line(f"wrote {session.save_model(da, f'dA_{stage}.npz')}")
            write_filters(da, images, (10, 10), args.output_dir / f"filters_{stage}.png", report)
        report.line(f"wrote {session.finish()}")
    return 0


def write_filters(model, images, tile_shape, path, report):
    """Tile the model's first filters into ``path``, or say why there is no picture."""
    from dae.plots import filters_image
    from dae.utils import save_png

    if images.image_shape is None:
        report.line(f"no filters picture: {images.source} gives rows of {images.x.shape[1]} "
                    "values, not images; pass (n, height, width) arrays to get one")
        return
    image = filters_image(model, image_shape=images.image_shape, tile_shape=tile_shape)
    report.line(f"wrote {save_png(image, path)}")


def add_flags(p):
    p.add_argument("--learning-rate", type=positive_float, default=0.1, help="SGD step (default 0.1)")
    p.add_argument("--batch-size", type=positive_int, default=20, help="minibatch size (default 20)")
    p.add_argument("--epochs", type=positive_int, default=15, help="training epochs (default 15)")
    p.add_argument("--n-hidden", type=positive_int, default=500, help="hidden units (default 500)")
    p.add_argument("--corruption", type=fraction, nargs="+", default=[0.0, 0.3],
                   help="one or more corruption levels in [0, 1] (default 0.0 0.3)")
    p.add_argument("--corruption-type", choices=("mask", "gaussian", "salt_and_pepper"),
                   default="mask", help="how a level corrupts: the fraction of inputs zeroed "
                   "(mask, the tutorial's), the noise's standard deviation (gaussian), or the "
                   "fraction set to 0 or 1 (salt_and_pepper) (default mask)")
    add_common_flags(p, seed=123, output_dir="dA_plots", data=True)

"""The tutorial's dA experiment: MNIST, 784-500, corruption 0% then 30%, filter PNGs."""
import numpy as np

from dae.cli import add_common_flags, fraction, positive_float, positive_int, progress_bar, say

HELP = "denoising autoencoder on MNIST (the tutorial's experiment)"


def run(args):
    from dae.config import set_mode
    from dae.data import load_data
    from dae.dA import dA
    from dae.random import RandomStreams
    from dae.train import compile_step, fit
    from dae.utils import save_png, tile_raster_images

    set_mode(args.mode)
    (train_x, _), _, _ = load_data(args.data_dir)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for level in args.corruption:
        rng = np.random.RandomState(args.seed)
        da = dA(numpy_rng=rng, theano_rng=RandomStreams(rng.randint(2**30)),
                n_visible=train_x.get_value(borrow=True).shape[1], n_hidden=args.n_hidden)
        cost, updates = da.get_cost_updates(corruption_level=level, learning_rate=args.learning_rate)
        step = compile_step({da.x: train_x}, args.batch_size, cost, updates, args.mode)
        tag = f"corruption {level:.0%}"
        fit(step, step.n_steps, args.epochs,
            on_epoch=lambda r: say(f"{tag} epoch {r['epoch']:3d}  cost {r['cost']:.4f}  {r['seconds']:.1f} s"),
            progress=progress_bar(args.quiet, tag))
        image = tile_raster_images(da.filters(), img_shape=(28, 28), tile_shape=(10, 10),
                                   tile_spacing=(1, 1))
        path = save_png(image, args.output_dir / f"filters_corruption_{round(level * 100)}.png")
        say(f"wrote {path}")
    return 0


def add_flags(p):
    p.add_argument("--learning-rate", type=positive_float, default=0.1, help="SGD step (default 0.1)")
    p.add_argument("--batch-size", type=positive_int, default=20, help="minibatch size (default 20)")
    p.add_argument("--epochs", type=positive_int, default=15, help="training epochs (default 15)")
    p.add_argument("--n-hidden", type=positive_int, default=500, help="hidden units (default 500)")
    p.add_argument("--corruption", type=fraction, nargs="+", default=[0.0, 0.3],
                   help="one or more corruption levels in [0, 1] (default 0.0 0.3)")
    add_common_flags(p, seed=123, output_dir="dA_plots")



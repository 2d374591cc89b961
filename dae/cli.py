"""The ``dae`` command and the scripts' shared front end.

This is the layer that talks to the user: it parses flags, prints one line per
epoch, draws progress bars and turns every user error into one message and a
non-zero exit, never a traceback. The library modules it calls do not print.
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np

USER_ERRORS = (ValueError, OSError, FloatingPointError)


class UserError(Exception):
    """An error the user can fix; printed as one message without a traceback."""


# -- flag types ------------------------------------------------------------------
def _number(kind, low=None, high=None, low_open=False):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}")
        if not np.isfinite(value) or (low is not None and (value <= low if low_open else value < low)) \
                or (high is not None and value > high):
            bounds = f"{'>' if low_open else '>='} {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"expected a value {bounds}, got {text}")
        return value
    return parse


positive_int = _number(int, 1)
non_negative_int = _number(int, 0)
positive_float = _number(float, 0, low_open=True)
non_negative_float = _number(float, 0)
fraction = _number(float, 0, 1)


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_common_flags(p, seed, output_dir):
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder with MNIST (the four IDX .gz files or mnist.pkl.gz); "
                        "default: $DAE_DATA_DIR, then data/, downloading if absent")
    p.add_argument("--output-dir", type=Path, default=Path(output_dir),
                   help=f"where PNGs go (created if missing; default {output_dir})")
    p.add_argument("--seed", type=non_negative_int, default=seed, help=f"random seed (default {seed})")
    p.add_argument("--mode", default=None,
                   help="PyTensor compile mode: numba (default), c, jax, py; or set DAE_MODE")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


# -- output ------------------------------------------------------------------------
def progress_bar(quiet, desc):
    """A tqdm bar over an epoch's batches; off when quiet or stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    def wrap(batches, epoch):
        return tqdm(batches, desc=f"{desc} epoch {epoch}", leave=False, unit="batch",
                    file=sys.stderr, mininterval=0.5)
    return wrap


def say(*parts):
    print(*parts, flush=True)


# -- experiments -------------------------------------------------------------------
def train_dA(args):
    import dae
    from dae.config import set_mode
    from dae.data import load_data
    from dae.dA import dA
    from dae.random import RandomStreams
    from dae.train import compile_step, fit, n_batches
    from dae.utils import save_png, tile_raster_images

    set_mode(args.mode)
    (train_x, _), _, _ = load_data(args.data_dir)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    steps = n_batches(train_x, args.batch_size)
    for level in args.corruption:
        rng = np.random.RandomState(args.seed)
        da = dA(numpy_rng=rng, theano_rng=RandomStreams(rng.randint(2**30)),
                n_visible=train_x.get_value(borrow=True).shape[1], n_hidden=args.n_hidden)
        cost, updates = da.get_cost_updates(corruption_level=level, learning_rate=args.learning_rate)
        step = compile_step(da.x, train_x, args.batch_size, cost, updates, args.mode)
        tag = f"corruption {level:.0%}"
        fit(step, steps, args.epochs,
            on_epoch=lambda r: say(f"{tag} epoch {r['epoch']:3d}  cost {r['cost']:.4f}  {r['seconds']:.1f} s"),
            progress=progress_bar(args.quiet, tag))
        image = tile_raster_images(da.filters(), img_shape=(28, 28), tile_shape=(10, 10),
                                   tile_spacing=(1, 1))
        path = save_png(image, args.output_dir / f"filters_corruption_{round(level * 100)}.png")
        say(f"wrote {path}")
    return 0


def add_dA_flags(p):
    p.add_argument("--learning-rate", type=positive_float, default=0.1, help="SGD step (default 0.1)")
    p.add_argument("--batch-size", type=positive_int, default=20, help="minibatch size (default 20)")
    p.add_argument("--epochs", type=positive_int, default=15, help="training epochs (default 15)")
    p.add_argument("--n-hidden", type=positive_int, default=500, help="hidden units (default 500)")
    p.add_argument("--corruption", type=fraction, nargs="+", default=[0.0, 0.3],
                   help="one or more corruption levels in [0, 1] (default 0.0 0.3)")
    add_common_flags(p, seed=123, output_dir="dA_plots")


EXPERIMENTS = {
    "dA": (add_dA_flags, train_dA, "denoising autoencoder on MNIST (the tutorial's experiment)"),
}


def build_parser(prog="dae"):
    parser = Parser(prog=prog, description="Autoencoders of the deeplearning.net tutorials, on PyTensor.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train = sub.add_parser("train", help="train a model on MNIST")
    models = train.add_subparsers(dest="model", required=True, parser_class=Parser)
    for name, (add_flags, run, help_text) in EXPERIMENTS.items():
        p = models.add_parser(name, help=help_text, description=help_text)
        add_flags(p)
        p.set_defaults(run=run)
    return parser


def run(args, prog):
    """Run a parsed command; user errors become one message and exit status 1."""
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except USER_ERRORS + (UserError,) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1


def main(argv=None):
    """The ``dae`` console script."""
    return run(build_parser().parse_args(argv), "dae")


def script_main(model, argv=None):
    """Entry point of ``scripts/train_<model>.py``: ``dae train <model>`` under the script's name."""
    add_flags, train, help_text = EXPERIMENTS[model]
    prog = os.path.basename(sys.argv[0])
    parser = Parser(prog=prog, description=help_text)
    add_flags(parser)
    parser.set_defaults(run=train)
    return run(parser.parse_args(argv), prog)

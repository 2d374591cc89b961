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
# One module per experiment in dae/experiments/, each with HELP, add_flags(parser)
# and run(args); the `dae train` subcommands and scripts/train_*.py share them.
EXPERIMENTS = ("dA",)


def experiment(name):
    import importlib
    return importlib.import_module(f"dae.experiments.{name}")


def build_parser(prog="dae"):
    parser = Parser(prog=prog, description="Autoencoders of the deeplearning.net tutorials, on PyTensor.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train = sub.add_parser("train", help="train a model on MNIST")
    models = train.add_subparsers(dest="model", required=True, parser_class=Parser)
    for name in EXPERIMENTS:
        module = experiment(name)
        p = models.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_flags(p)
        p.set_defaults(run=module.run)
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
    module = experiment(model)
    prog = os.path.basename(sys.argv[0])
    parser = Parser(prog=prog, description=module.HELP)
    module.add_flags(parser)
    parser.set_defaults(run=module.run)
    return run(parser.parse_args(argv), prog)

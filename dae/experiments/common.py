"""What the experiments and the ``dae`` command share: flag types, common flags,
the user-error type, and the :class:`Report` an experiment talks through.

An experiment is a module with ``HELP``, ``add_flags(parser)`` and
``run(args, report)``. It never prints: every line goes to ``report.line`` and
every progress bar comes from ``report.progress``, so the CLI decides what the
user sees in a terminal and a notebook decides what it shows in a cell.
Dependencies point one way: the CLI imports the experiments and this module;
nothing here imports the CLI.
"""
import argparse
import sys
from pathlib import Path

import numpy as np


class UserError(Exception):
    """An error the user can fix; the CLI prints it as one line, without a traceback."""


# -- flag types ------------------------------------------------------------------------
def _number(kind, low=None, high=None, low_open=False):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
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


def add_common_flags(p, seed, output_dir, data=False):
    """Flags every experiment takes; ``data=True`` adds ``--data`` (the user's own images)."""
    source = p.add_mutually_exclusive_group() if data else p
    source.add_argument("--data-dir", type=Path, default=None,
                        help="folder with MNIST (the four IDX .gz files or mnist.pkl.gz); "
                             "default: $DAE_DATA_DIR, then data/, downloading if absent")
    if data:
        add_data_flag(source, "train on these images instead of MNIST (all of them)")
    p.add_argument("--output-dir", type=Path, default=Path(output_dir),
                   help=f"where the run's files go (created if missing; default {output_dir})")
    p.add_argument("--seed", type=non_negative_int, default=seed, help=f"random seed (default {seed})")
    p.add_argument("--mode", default=None,
                   help="PyTensor compile mode: numba (default), c, jax, py; or set DAE_MODE")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in OUTPUT_DIR/checkpoint.npz with its flags "
                        "(epoch counts, learning rates and --mode may change)")


def add_data_flag(p, what):
    p.add_argument("--data", type=Path, default=None, metavar="PATH",
                   help=f"{what}: an .npy/.npz array (n, h, w) or (n, h*w), uint8 0..255 or "
                        "float 0..1, or a folder of same-size grayscale PNGs")


# -- reporting -----------------------------------------------------------------------------
class Report:
    """How a run talks to its user. Silent unless given somewhere to write.

    Parameters
    ----------
    line : callable(str) or None
        Receives each line (an epoch's numbers, a file written); None drops them.
    bars : bool
        Show a progress bar over each epoch's minibatches (``tqdm.auto``: a
        text bar in a terminal, a widget in a notebook).
    """

    def __init__(self, line=None, bars=False):
        self._line, self.bars = line, bars

    def line(self, text):
        if self._line is not None:
            self._line(text)

    def progress(self, description):
        """None, or ``wrap(iterable, epoch) -> iterable`` drawing a bar labelled ``description``."""
        if not self.bars:
            return None
        from tqdm.auto import tqdm

        def wrap(batches, epoch):
            return tqdm(batches, desc=f"{description} epoch {epoch}", leave=False, unit="batch",
                        file=sys.stderr, mininterval=0.5)
        return wrap


def start_session(args, experiment, report, **options):
    """The :class:`dae.session.Session` of an experiment's run, reporting to ``report``.

    The session is opened before anything is compiled or loaded: the output
    folder is checked, locked and cleaned first; on ``--resume`` the run's
    saved flags are restored into ``args``. Use it as a context manager.
    """
    from dae.config import get_mode
    from dae.session import Session

    get_mode(args.mode)  # a bad --mode or $DAE_MODE is one line now, not after the data loaded
    return Session(args, experiment, report=report.line, progress=report.progress, **options)

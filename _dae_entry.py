"""The first lines the ``dae`` command and ``scripts/train_*.py`` run.

Importing dae imports PyTensor, a few seconds during which a Ctrl-C would print a
traceback from deep inside an import. This module is outside the ``dae`` package,
so it imports in no time: it guards that import, and a Ctrl-C (or SIGTERM) there
is one line and exit status 130; from ``dae.cli.main`` on, :mod:`dae.interrupt`
handles it.
"""
import os
import signal
import sys


def _stop(signum, frame):
    raise KeyboardInterrupt


def _import(name, prog):
    """``dae.cli.<name>``, imported with Ctrl-C and SIGTERM as one line and exit 130."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _stop)
    try:
        from dae import cli
        return getattr(cli, name)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted while starting; nothing was written", file=sys.stderr)
        sys.exit(130)


def _run(function, prog, *args):
    try:
        return function(*args)
    except KeyboardInterrupt:  # outside the command's own handling: as it started or ended
        print(f"\n{prog}: interrupted; every file written so far is whole", file=sys.stderr)
        return 130


def main():
    """The ``dae`` console script."""
    return _run(_import("main", "dae"), "dae")


def script(model):
    """``scripts/train_<model>.py``: ``dae train <model>`` under the script's name."""
    prog = os.path.basename(sys.argv[0])
    return _run(_import("script_main", prog), prog, model)

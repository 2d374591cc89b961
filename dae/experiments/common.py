"""What the experiments share: the user-error type, the :class:`Report` a run talks
through, the :class:`Result` it returns, and how it opens its session.

An experiment is a module with ``HELP``, a ``Config`` dataclass (its options,
:mod:`dae.experiments.configs`) and ``run(config, report=None, resume=False) ->
Result``. It never prints: every line goes to ``report.line`` and every
progress bar comes from ``report.progress``, so the CLI decides what the user
sees in a terminal and a notebook what it shows in a cell::

    from dae.experiments import dA
    result = dA.run(dA.Config(epochs=5, corruption=[0.3]))
    result.numbers, result.files

Dependencies point one way: the CLI imports the experiments and this module;
nothing here imports the CLI.
"""
import dataclasses
import sys
from pathlib import Path

from dae.errors import UserError  # noqa: F401 -- the experiments' and the CLI's, from here


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


@dataclasses.dataclass
class Result:
    """What a run did: ``numbers`` (the final figures it printed, by name), ``files`` (the
    paths it wrote), ``history`` (its epoch records, as in ``metrics.jsonl``) and the
    ``config`` it ran with (on resume, the saved one merged)."""

    numbers: dict
    files: list
    history: list
    config: object

    @property
    def output_dir(self):
        return Path(self.config.output_dir)


def open_session(name, config, report=None, resume=False, command=None, typed=None):
    """The :class:`dae.session.Session` of experiment ``name``'s run, reporting to ``report``.

    The session is opened before anything is compiled or loaded: the output
    folder is checked, locked and cleaned first; on ``resume`` the run's saved
    config is merged with ``config`` (``session.config`` is the one to use;
    ``typed``: the fields the caller set, see :func:`dae.experiments.configs.merge`).
    Use it as a context manager.
    """
    import dataclasses

    from dae.config import default_mode
    from dae.session import Session

    report = report or Report()
    if config.mode is None:  # the experiment's fastest mode (dae.config.FASTEST)
        sizes = [getattr(config, f, None) for f in ("batch_size", "pretrain_batch_size")]
        config = dataclasses.replace(config, mode=default_mode(
            name, batch=min((b for b in sizes if b), default=None)))
    return Session(name, config, command=command, report=report.line, progress=report.progress,
                   resume=resume, typed=typed)


def result(session, **numbers):
    """The :class:`Result` of a finished session."""
    return Result(numbers=numbers, files=list(session.files), history=list(session.history),
                  config=session.config)

"""The one training loop every model and script uses.

:func:`compile_step` turns a model's symbolic cost and updates into a function
of a minibatch index (the tutorials' ``train_da(index)``); :func:`fit` runs it
for some epochs and reports each epoch through a callback. Nothing here prints:
the caller decides what the user sees.
"""
import math
import time

import numpy as np
import pytensor
import pytensor.tensor as pt

from dae.config import get_mode


class Diverged(FloatingPointError):
    """A monitored value turned NaN or inf during an epoch."""

    def __init__(self, epoch, name, value):
        self.epoch, self.name, self.value = epoch, name, value
        super().__init__(f"{name} became {value} in epoch {epoch}")


def compile_step(data, batch_size, outputs, updates, mode=None):
    """Compile one training step over minibatch ``index``: the tutorials' ``train_da(index)``.

    Parameters
    ----------
    data : dict {symbolic input: shared data}
        Each input the graph was built on (the model's ``x``; for supervised
        fine-tuning also ``y``) and the tensor (n, ...) its minibatches are cut from.
    batch_size : int
        The last minibatch is smaller when ``n`` is not a multiple of it.
    outputs : symbolic scalar or list of them (the first is the cost).
    updates : list of (shared, new value) pairs.
    mode : compile mode name (see :func:`dae.config.get_mode`).

    Returns a function ``step(index)`` with attribute ``n_steps``: the number of
    calls that make one epoch (see :func:`fit`).
    """
    index = pt.lscalar("index")
    start, stop = index * batch_size, (index + 1) * batch_size
    fn = pytensor.function(
        [index], outputs, updates=updates,
        givens={var: source[start:stop] for var, source in data.items()},
        mode=get_mode(mode),
    )
    return Step(fn, n_batches(next(iter(data.values())), batch_size))


class Step:
    """A compiled training step and the number of calls that make an epoch."""

    def __init__(self, function, n_steps):
        self.function, self.n_steps = function, n_steps

    def __call__(self, index):
        return self.function(index)


def n_batches(data, batch_size):
    """Number of minibatches in an epoch, the last one possibly smaller."""
    if hasattr(data, "get_value"):
        n = data.get_value(borrow=True).shape[0]
    elif hasattr(data, "owner") and data.owner is not None:  # e.g. cast(shared_y, 'int32')
        n = data.owner.inputs[0].get_value(borrow=True).shape[0]
    else:
        n = len(data)
    return math.ceil(n / batch_size)


def fit(step, n_steps, n_epochs, names=("cost",), start_epoch=0, on_epoch=None,
        progress=None):
    """Run ``step(i)`` for i in range(n_steps), once per epoch.

    Parameters
    ----------
    step : callable index -> value or list of values (one per name); it may
        also return an array (k, len(names)) of the k minibatches it ran.
    n_steps : int, calls per epoch (``step.n_steps`` for a compiled step).
    n_epochs : int, the epoch to stop before (epochs are numbered from 0).
    names : names of step's outputs; each epoch record holds their means.
    start_epoch : int, first epoch to run (for resuming).
    on_epoch : callable(record) called after each epoch; record is a dict
        ``{"epoch": e, name: mean, ..., "seconds": s}``.
    progress : callable(iterable, epoch) -> iterable wrapping the batches
        (a progress bar), or None.

    Returns the list of epoch records. Raises :class:`Diverged` when an output's
    mean is not finite; epochs already reported stay reported.
    """
    history = []
    for epoch in range(start_epoch, n_epochs):
        start = time.perf_counter()
        batches = range(n_steps) if progress is None else progress(range(n_steps), epoch)
        values = [step(i) for i in batches]
        means = np.mean(np.asarray(values, dtype=np.float64).reshape(-1, len(names)), axis=0)
        record = {"epoch": epoch}
        record.update({name: float(v) for name, v in zip(names, means)})
        record["seconds"] = time.perf_counter() - start
        for name in names:
            if not np.isfinite(record[name]):
                raise Diverged(epoch, name, record[name])
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return history

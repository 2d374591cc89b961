"""The one training loop every model and script uses.

:func:`compile_step` turns a model's symbolic cost and updates into a function
of a minibatch index (the tutorials' ``train_da(index)``); :func:`fit` runs it
for some epochs and reports each epoch through a callback. Nothing here prints:
the caller decides what the user sees.

Why the step is not the tutorial's ``givens={x: data[i * b:(i + 1) * b]}``:
the minibatch is cut in NumPy (a view, no copy) and passed in as an input, so
every backend gets the same graph: JAX mode refuses a slice whose bounds are
symbolic. (In dae's Numba mode the tutorial's slice runs as fast now:
``benchmarks/bench_givens.py``.) The function is called with ``trust_input``:
the data's dtype, rank and any fixed shape are checked once, here, not on
every call. Measurements in ``benchmarks/README.md``.
"""
import math
import time
import typing

import numpy as np
import pytensor
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.traversal import graph_inputs

from dae.checks import positive_int
from dae.config import get_mode


class Diverged(FloatingPointError):
    """A monitored value turned NaN or inf during an epoch."""

    def __init__(self, epoch, name, value):
        self.epoch, self.name, self.value = epoch, name, value
        super().__init__(f"{name} became {value} in epoch {epoch}")


#: A cost this many times what its stage started from (its first step's, its first epoch's) has diverged.
DIVERGED_GROWTH = 10.0
#: Magnitudes no sane run reaches, though still finite in float32: beyond them a run has diverged.
COST_BOUND = 1e15
PARAMETER_BOUND = 1e10
#: :func:`fit` checks the cost after steps 1, 2, 4, ... of an epoch, then every this many steps.
CHECK_EVERY = 64


def _judge(epoch, name, value, start=None, where=""):
    """Raise :class:`Diverged` if ``value`` is not finite, beyond :data:`COST_BOUND`, or over
    :data:`DIVERGED_GROWTH` times ``start`` (``where`` says what start was)."""
    if not isinstance(value, (int, float)):
        return
    if not math.isfinite(value):
        raise Diverged(epoch, name, value)
    if isinstance(start, (int, float)) and start > 0 and value > DIVERGED_GROWTH * start:
        raise Diverged(epoch, name, f"{value:.4g}, over {DIVERGED_GROWTH:g} times its {where} {start:.4g},")
    if abs(value) > COST_BOUND:
        raise Diverged(epoch, name, f"{value:.4g}, beyond {COST_BOUND:g} (no sane run gets there),")


def check_epoch(record, names, first=None, params=()):
    """Raise :class:`Diverged` if an epoch's record or parameters have diverged.

    Each output of ``names`` must be finite, within :data:`COST_BOUND` and at most
    :data:`DIVERGED_GROWTH` times its value in ``first`` (the stage's first epoch's record);
    each parameter in ``params`` (shared variables) finite and within :data:`PARAMETER_BOUND`.
    Only reads values.
    """
    for name in names:
        _judge(record["epoch"], name, record.get(name), (first or {}).get(name), "first epoch's")
    for var in params:
        value = var.get_value(borrow=True)
        peak = float(np.max(np.abs(value))) if np.size(value) else 0.0
        if not peak <= PARAMETER_BOUND:
            raise Diverged(record["epoch"], f"parameter {var.name}", "infinite or NaN"
                           if not math.isfinite(peak) else f"as large as {peak:.3g}, beyond "
                           f"{PARAMETER_BOUND:g} (no sane run gets there),")


class _Watch:
    """:func:`fit`'s check inside an epoch: the first output's mean over the steps so far, against
    the first step of epoch 0 (the cost the model started from) and :data:`COST_BOUND`.
    Cheap: it looks at the outputs fit keeps anyway, after steps 1, 2, 4, ... and every
    :data:`CHECK_EVERY` steps."""

    def __init__(self, width):
        self.width, self.start = width, None

    def begin(self, epoch):
        self.epoch, self.total, self.rows, self.seen, self.next = epoch, 0.0, 0, 0, 1

    def __call__(self, values, force=False):
        n = len(values)
        if n < self.next and not (force and n > self.seen):
            return
        self.next = 2 * n if n < CHECK_EVERY else n + CHECK_EVERY
        costs = np.asarray(values[self.seen:n], dtype=np.float64).reshape(-1, self.width)[:, 0]
        if self.start is None and self.epoch == 0 and self.seen == 0:
            self.start = float(costs[0])
        self.total, self.rows, self.seen = self.total + float(costs.sum()), self.rows + costs.size, n
        return self.total / self.rows


def _on_host(values):
    """``fit``'s step outputs as NumPy (a pipelined JAX-mode step returns JAX arrays)."""
    def host(v):
        if isinstance(v, (list, tuple)):
            return [host(e) for e in v]
        return v if isinstance(v, (np.ndarray, float, int)) else np.asarray(v)
    last = values[-1] if values else None
    leaf = last[0] if isinstance(last, (list, tuple)) and last else last
    if leaf is None or isinstance(leaf, (np.ndarray, np.generic, float, int)):
        return values  # NumPy already (every mode but a pipelined JAX one)
    return [host(v) for v in values]


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C (a notebook's stop button) stopped :func:`fit` between two steps.

    The model is whole: it holds the parameters the last step left, and can be
    used, saved or trained on. Attributes: ``history`` (the finished epochs, a
    :class:`History`), ``epoch`` (the epoch stopped in), ``steps`` (the steps of
    it that ran), ``n_steps`` (steps per epoch) and ``outputs`` (those steps' outputs,
    what a checkpoint keeps to resume mid-epoch exactly).
    """

    def __init__(self, history, epoch, steps, n_steps, outputs=()):
        self.history, self.epoch, self.steps, self.n_steps = history, epoch, steps, n_steps
        self.outputs = list(outputs)  # the stopped epoch's step outputs so far
        super().__init__(f"interrupted in epoch {epoch} after step {steps} of {n_steps}: the model "
                         f"holds that step's parameters; the {len(history)} finished epoch"
                         f"{'s' * (len(history) != 1)} are in this exception's .history")


class History(list):
    """The epoch records :func:`fit` returns, a list of dicts; its repr sums them up.

    ``History(30 epochs: corruption_0 15, corruption_30 15; last corruption_30 epoch 14:
    cost 64.78; 48.1 s)``: how many epochs of each stage, the last record's metrics and
    the seconds all of them took.
    """

    def __repr__(self):
        if not self:
            return "History([])"
        stages = {}
        for record in self:
            stages[record.get("stage")] = stages.get(record.get("stage"), 0) + 1
        counts = "" if list(stages) == [None] else ": " + ", ".join(
            f"{stage} {count}" for stage, count in stages.items())
        last = self[-1]
        metrics = format_metrics(last, ", ", spec=".4g")
        where = " ".join(str(w) for w in (last.get("stage"), "epoch", last.get("epoch")) if w is not None)
        seconds = sum(r.get("seconds", 0) for r in self)
        return (f"History({len(self)} epoch{'s' * (len(self) != 1)}{counts}; last {where}: "
                f"{metrics}; {seconds:.1f} s)")


def format_metrics(record, sep="  ", spec=None):
    """``"cost 74.1234  valid_error 0.0213"``: an epoch record's metrics (not its stage,
    epoch or seconds), four decimals below 1e5 and four digits above, or ``spec`` for all."""
    return sep.join(f"{k} {v:{spec or ('.4f' if abs(v) < 1e5 else '.4g')}}"
                    for k, v in record.items()
                    if k not in ("stage", "epoch", "seconds") and isinstance(v, (int, float)))


def compile_step(data, batch_size, outputs, updates, mode=None, inputs=()):
    """Compile one training step over minibatch ``index``: the tutorials' ``train_da(index)``.

    Parameters
    ----------
    data : dict {symbolic input: data}
        Each input the graph was built on (the model's ``x``; for supervised
        fine-tuning also ``y``) and the data (n, ...) its minibatches are cut
        from: a shared variable, an expression of shared variables (the
        tutorial's ``T.cast(shared_y, 'int32')``) or a NumPy array. Every data
        has the same n and the input's dtype and rank.
    batch_size : int
        The last minibatch is smaller when ``n`` is not a multiple of it.
    outputs : symbolic scalar or list of them (the first is the cost).
    updates : list of (shared, new value) pairs.
    mode : compile mode name (see :func:`dae.config.get_mode`).
    inputs : more symbolic scalar inputs the graph takes (the SdA tutorial's
        ``corruption`` and ``lr``), given at each call after the index.

    Returns a :class:`Step`: ``step(index, *values)`` trains on minibatch
    ``index`` and returns the outputs; ``step.n_steps`` calls make one epoch (see :func:`fit`).
    Minibatch ``index`` holds rows ``index * batch_size`` up to the next
    multiple, read from the shared variables' current values at each call.
    """
    if not isinstance(data, dict) or not data:
        raise ValueError("data must be a non-empty dict {symbolic input: data}, e.g. {model.x: train_x}")
    batch_size = positive_int(batch_size, "batch_size")
    sources = [_Source(var, source, mode) for var, source in data.items()]
    n = {source.n for source in sources}
    if len(n) > 1:
        raise ValueError(f"the data have different numbers of rows {sorted(n)}: each input's data "
                         "must hold one row per example, the same examples")
    n = n.pop()
    if n == 0:
        raise ValueError("the data have no rows: there is nothing to train on")
    for source in sources:
        source.check_batches({min(batch_size, n), n - (math.ceil(n / batch_size) - 1) * batch_size})
    # Fresh inputs stand for the model's (given, not replaced in place), so the
    # model's own variables may be used by other functions too.
    batches = [source.var.type() for source in sources]
    function = pytensor.function(batches + list(inputs), outputs, updates=updates,
                                 givens=[(s.var, i) for s, i in zip(sources, batches)],
                                 mode=get_mode(mode), on_unused_input="ignore")
    function.trust_input = True
    return Step(function, sources, batch_size, n, [i.type.dtype for i in inputs])


class Step:
    """A compiled training step: ``step(index)`` runs minibatch ``index``.

    Attributes: ``function`` (the compiled PyTensor function of the
    minibatch arrays), ``n_steps`` (calls per epoch), ``batch_size``.
    """

    def __init__(self, function, sources, batch_size, n, dtypes=()):
        self.function, self.batch_size = function, batch_size
        self.n_steps = math.ceil(n / batch_size)
        self._sources, self._dtypes = sources, list(dtypes)

    def state_variables(self):
        """The shared variables a call updates (see :class:`StepProtocol`)."""
        return updated_variables(self.function)

    def __call__(self, index, *values):
        if not 0 <= index < self.n_steps:
            raise IndexError(f"minibatch index {index} out of range: this step has "
                             f"{self.n_steps} minibatches (0 to {self.n_steps - 1})")
        if len(values) != len(self._dtypes):
            raise TypeError(f"this step takes the minibatch index and {len(self._dtypes)} more "
                            f"values, got {len(values)}")
        start = int(index) * self.batch_size
        stop = start + self.batch_size
        # trust_input: the extra values are converted here to the exact dtypes
        return self.function(*[source.array()[start:stop] for source in self._sources],
                             *(np.asarray(v, dtype) for v, dtype in zip(values, self._dtypes)))


def updated_variables(function):
    """The shared variables a compiled PyTensor function updates, in a fixed order."""
    return [i.variable for i in function.maker.inputs if i.update is not None]


class _Source:
    """The data of one input: its current array, checked against the input's type."""

    def __init__(self, var, source, mode):
        if not isinstance(var, Variable) or not hasattr(var.type, "dtype"):
            raise ValueError(f"data keys must be the symbolic inputs of the graph (such as "
                             f"model.x), got {var!r}")
        self.var = var
        if isinstance(source, Variable) and hasattr(source, "get_value"):
            self.array = lambda: source.get_value(borrow=True)
        elif isinstance(source, Variable):
            self.array = _evaluator(source, mode)
        else:
            value = np.asarray(source)
            self.array = lambda: value
        value = self.array()
        expected = f"{var.type.ndim}-d {var.type.dtype}"
        if getattr(value, "ndim", 0) != var.type.ndim or value.dtype != var.type.dtype:
            raise ValueError(f"the data for {var} are {value.ndim}-d {value.dtype}, expected "
                             f"{expected} like the input; convert them (e.g. with "
                             f"numpy.asarray(data, dtype='{var.type.dtype}')) before sharing them")
        if var.type.ndim == 0:
            raise ValueError(f"{var} is a scalar: data are cut into minibatches along their first "
                             "axis, so each input needs one (a vector, a matrix)")
        fixed = [(axis, size) for axis, size in enumerate(var.type.shape[1:], 1)
                 if size is not None and size != value.shape[axis]]
        if fixed:
            raise ValueError(f"the data for {var} have shape {value.shape}, but the input fixes "
                             f"axis {fixed[0][0]} to {fixed[0][1]}")
        self.n = value.shape[0]

    def check_batches(self, sizes):
        """The step skips PyTensor's input checks: refuse a fixed minibatch size here."""
        fixed = self.var.type.shape[0]
        if fixed is not None and set(sizes) != {fixed}:
            raise ValueError(f"{self.var} fixes the minibatch size to {fixed} rows, but the "
                             f"minibatches have {sorted(set(sizes))}: build the input without a "
                             "fixed shape, or pick a batch_size that divides the data")


def _evaluator(expression, mode):
    """A function returning ``expression``'s value, recomputed only when a shared input changes."""
    roots = [v for v in graph_inputs([expression]) if not isinstance(v, Constant)]
    if not all(hasattr(v, "get_value") for v in roots):
        raise ValueError(f"data expression {expression} depends on symbolic inputs: data must "
                         "be shared variables, expressions of shared variables or arrays")
    compute = pytensor.function([], expression, mode=get_mode(mode))
    cache = {}

    def value():
        key = tuple(id(v.get_value(borrow=True)) for v in roots)
        if cache.get("key") != key:
            cache["key"], cache["value"] = key, np.asarray(compute())
        return cache["value"]

    return value


def n_batches(data, batch_size):
    """Number of minibatches in an epoch, the last one possibly smaller."""
    if hasattr(data, "get_value"):
        n = data.get_value(borrow=True).shape[0]
    elif hasattr(data, "owner") and data.owner is not None:  # e.g. cast(shared_y, 'int32')
        n = data.owner.inputs[0].get_value(borrow=True).shape[0]
    else:
        n = len(data)
    return math.ceil(n / batch_size)


@typing.runtime_checkable
class StepProtocol(typing.Protocol):
    """What :func:`fit` and a :class:`dae.session.Session` train with, whatever the step's kind.

    ``step(index)`` trains on minibatch ``index`` (0 <= index < ``n_steps``) and returns
    its outputs (the cost first); ``n_steps`` calls make an epoch;
    ``state_variables()`` lists the shared variables a call updates besides the
    model's parameters (an optimizer's moments, random generators), which a
    checkpoint must hold for a resumed run to end bit-identical.
    """

    n_steps: int

    def __call__(self, index): ...

    def state_variables(self): ...


def fit(step, n_steps, n_epochs, names=("cost",), start_epoch=0, on_epoch=None,
        progress=None, replay=(), first=None, params=()):
    """Run ``step(i)`` for i in range(n_steps), once per epoch: the one training loop.

    Parameters
    ----------
    step : callable index -> value or list of values (one per name); it may
        also return an array (k, len(names)) of the k minibatches it ran.
    n_steps : int, calls per epoch (``step.n_steps`` for a compiled step).
    n_epochs : int, the epoch to stop before (epochs are numbered from 0).
    names : names of step's outputs; each epoch record holds their means.
    start_epoch : int, first epoch to run (for resuming).
    on_epoch : callable(record), the epoch-end hook, called after each epoch passed
        the divergence check; record is a dict ``{"epoch": e, name: mean, ...,
        "seconds": s}``. Returning True stops training after this epoch (early stopping).
    progress : callable(iterable, epoch) -> iterable wrapping the batches
        (a progress bar), or None.
    replay : the outputs of the first steps of ``start_epoch``, computed before an
        interruption: used instead of running those steps again (the resume position).
    first : the stage's first epoch record, when it ran before (resuming): the
        divergence check compares with it.
    params : shared variables checked at each epoch's end (:func:`check_epoch`).

    Returns the epoch records, a :class:`History`. Raises :class:`Diverged` when
    the run diverges (:func:`check_epoch` at each epoch's end; inside an epoch, the
    cost's mean so far against the first step of epoch 0 and :data:`COST_BOUND`), as
    soon as it is seen; epochs already reported stay reported.

    Ctrl-C (SIGINT, SIGTERM, a notebook's stop button) is :mod:`dae.interrupt`'s:
    training ends before the next step, so the model is never left half-updated,
    and :class:`FitInterrupted` is raised, holding the finished epochs and the
    outputs of the steps run in the stopped epoch; a second Ctrl-C stops at once.
    """
    from dae import interrupt, jax_mode

    history, watch, replay = History(), _Watch(len(names)), list(replay)
    first = dict(first) if first else None
    # pipelined: a JAX-mode step returns before XLA has run it, so the next step's Python
    # overlaps it (benchmarks/README.md: 17% of a VAE step); only the step's own calls, not
    # on_epoch's (a validation error must come back NumPy). Nothing changes in other modes.
    with interrupt.handling(), interrupt.stoppable(), jax_mode.pipelined():
        for epoch in range(start_epoch, n_epochs):
            start = time.perf_counter()
            watch.begin(epoch)
            batches = range(n_steps) if progress is None else progress(range(n_steps), epoch)
            values, replay = replay, []
            try:
                for i in batches:
                    if i < len(values):
                        continue  # run before the interruption: its outputs are replayed
                    if interrupt.requested():
                        raise FitInterrupted(history, epoch, len(values), n_steps, _on_host(values))
                    with jax_mode.lazy:
                        values.append(step(i))
                    if len(values) >= watch.next:
                        _judge(epoch, names[0], watch(values), watch.start, "first epoch's first step's")
            finally:
                getattr(batches, "close", lambda: None)()  # a progress bar ends here too
            values = _on_host(values)
            jax_mode.flush()  # the random streams' states, before anyone (on_epoch) reads them
            means = np.mean(np.asarray(values, dtype=np.float64).reshape(-1, len(names)), axis=0)
            record = {"epoch": epoch}
            record.update({name: float(v) for name, v in zip(names, means)})
            record["seconds"] = time.perf_counter() - start
            _judge(epoch, names[0], watch(values, force=True), watch.start, "first epoch's first step's")
            check_epoch(record, names, first, params)
            first = first or record
            history.append(record)
            if on_epoch is not None and on_epoch(record):
                break
    return history

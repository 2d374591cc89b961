"""One training run of an experiment: checkpoints, resume, records, Ctrl-C.

A :class:`Session` runs :func:`dae.train.fit` for each stage of an experiment
(the dA's corruption levels, the SdA's layers then fine-tuning) and keeps the
run's files in its output folder:

``checkpoint.npz``
    After every epoch, and when Ctrl-C stops the run, atomically: a model file
    (:mod:`dae.io`) that also holds everything the compiled step updates (the
    optimizer's state, the random generators), the run's flags, the stage and
    epoch reached, the step within the epoch and the run's history.
``metrics.jsonl``
    One JSON object per epoch: ``{"stage", "epoch", <outputs>, "seconds"}``.
``learning_curve.png``
    Each metric against the epoch, one line per stage (:func:`draw_learning_curve`).

A run started with ``args.resume`` restores the checkpoint and continues where
it stopped, with the flags it was started with; since minibatches come in a
fixed order and the random state is restored, its parameters end bit-identical
to those of an uninterrupted run. Epoch counts (and the learning rate, to
recover from a divergence, and the compile mode) may change on resume: the stage in progress trains to
the new count; stages already finished are kept as they are.

The first Ctrl-C stops training at the next step: the session saves the
checkpoint (the partial epoch included) and raises :class:`Interrupted`, whose
message says how to resume; a second Ctrl-C stops at once, leaving the last
checkpoint. A NaN or infinite cost stops the run with :class:`RunDiverged` and
leaves the checkpoint of the last good epoch. Nothing here prints: lines go to
the ``report`` callback.
"""
import collections
import contextlib
import json
import shlex
import signal
import threading
from pathlib import Path

import numpy as np

from dae import io
from dae import train

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.jsonl"
CURVE = "learning_curve.png"

# Flags that say how a run is shown, not what it computes, and the folder the
# checkpoint is found in (a run may be moved): never saved, never compared. (The compile mode is saved: Numba and C kernels round
# differently, so a resumed run keeps its mode to end bit-identical.)
NOT_SAVED = {"run", "resume", "quiet", "command", "model", "output_dir"}
PARTIAL = "partial epoch outputs"


class SessionError(ValueError):
    """A run cannot start or resume as asked (no checkpoint, flags that differ...)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; the checkpoint was saved. ``str()`` says how to resume."""


class RunDiverged(FloatingPointError):
    """The cost turned NaN or infinite; the last good checkpoint was kept."""


class _Stop(Exception):
    pass


class Session:
    """The run of experiment ``experiment`` with flags ``args`` (an argparse Namespace).

    Parameters
    ----------
    args : Namespace with ``output_dir``; ``resume`` (bool) to continue a run;
        ``_explicit`` (set of flag names the user typed; the cli sets it) and
        ``_invocation`` (the command's words, for the resume hint).
        On resume the run's saved flags replace those the user did not type.
    experiment : str, the experiment's name (checked on resume).
    report : callable(str), receives one line per epoch; None: silent.
    progress : callable(description) -> None or wrapper(batches, epoch) -> iterable
        (a progress bar, see :func:`dae.cli.progress_bar`).
    may_change : flag names a resumed run may change (others must match).

    Attributes
    ----------
    info : dict stored in every model file of the run (``image_shape``...).
    history : the run's epoch records so far.
    """

    def __init__(self, args, experiment, report=None, progress=None,
                 may_change=("epochs", "learning_rate", "mode")):
        self.args, self.experiment = args, experiment
        self.report = report or (lambda line: None)
        self.progress = progress or (lambda description: None)
        self.may_change = set(may_change)
        self.output_dir = Path(args.output_dir)
        self.checkpoint_path = self.output_dir / CHECKPOINT
        self.info, self.history, self.stages_done = {}, [], []
        self._resume, self._last, self._stop = None, None, False
        self._saved = False       # a checkpoint of this run exists
        self._metrics_open = False
        if getattr(args, "resume", False):
            self._start_resumed()
        else:
            self._refuse_to_overwrite_unfinished()
        self._flags = _flags(args)
        args._session = self

    # -- starting --------------------------------------------------------------------
    def _start_resumed(self):
        if not self.checkpoint_path.exists():
            raise SessionError(f"nothing to resume: no {CHECKPOINT} in {self.output_dir}; "
                               "start the run without --resume (or pass its --output-dir)")
        record = io.read(self.checkpoint_path)
        training = record.info.get("training")
        if not isinstance(training, dict) or "stage" not in training:
            raise SessionError(f"{self.checkpoint_path} is a model file, not a checkpoint of a "
                               "dae train run; it cannot be resumed")
        if training["experiment"] != self.experiment:
            raise SessionError(f"{self.checkpoint_path} is a checkpoint of 'dae train "
                               f"{training['experiment']}', not of {self.experiment}; resume it with "
                               f"that command, or use another --output-dir")
        self._adopt_flags(training["args"], training.get("paths", []))
        self._resume = record
        self._saved = True
        self.info = {k: v for k, v in record.info.items() if k != "training"}
        self.history = list(training["history"])
        self.stages_done = list(training["stages_done"])
        self._last = training["stage"]

    def _adopt_flags(self, saved, paths):
        explicit = getattr(self.args, "_explicit", None)
        for key, value in saved.items():
            if key in paths and value is not None:
                value = Path(value)
            current = getattr(self.args, key, None)
            typed = explicit is None or key in explicit
            if typed and _jsonable(current) != _jsonable(value):
                if key in self.may_change:
                    continue
                raise SessionError(
                    f"{_flag(key)} {_show(current)} differs from the run being resumed "
                    f"({_flag(key)} {_show(value)}); drop it to resume that run as it was, or "
                    "start a new run with another --output-dir")
            setattr(self.args, key, value)

    def _refuse_to_overwrite_unfinished(self):
        try:
            training = io.read(self.checkpoint_path).info.get("training") or {}
        except io.ModelFileError:
            return  # missing or unreadable: nothing to lose
        if training.get("finished", True):
            return
        epochs = training.get("epochs")
        raise SessionError(
            f"{self.output_dir} holds an unfinished run ({training.get('stage')}, {epochs} "
            f"epoch{'s' * (epochs != 1)} done); continue it with --resume, or delete "
            f"{self.checkpoint_path} (or pick another --output-dir) to start a new one")

    # -- stages -----------------------------------------------------------------------
    def done(self, stage):
        """True if the run being resumed finished ``stage`` before the one it stopped in."""
        return stage in self.stages_done

    def epochs_done(self, stage):
        """Epochs of ``stage`` finished so far, in the run being resumed too."""
        return sum(r["stage"] == stage for r in self.history)

    def fit(self, stage, model, step, n_epochs, names=("cost",), on_epoch=None, state=None):
        """Train ``stage``: :func:`dae.train.fit` with checkpoints, records and Ctrl-C.

        Epochs run from :meth:`epochs_done` (where a resumed run stopped) up to
        ``n_epochs``, so a loop that decides after each epoch whether to go on
        (early stopping) may call it once per epoch with ``n_epochs`` one more.

        Parameters
        ----------
        stage : str, unique within the run (``"corruption_30"``, ``"pretrain_0"``)
        model : the model to checkpoint (a class of :data:`dae.io.REGISTRY`)
        step : compiled step ``step(i)`` with ``n_steps`` (:func:`dae.train.compile_step`);
            minibatch i must be the same every epoch, so resume is exact.
        n_epochs : int, epochs of this stage
        names : names of the step's outputs
        on_epoch : callable(record), optional: may add entries (a validation
            error) before the record is saved and reported
        state : more shared variables to checkpoint, besides the model's
            parameters and those the compiled ``step.function`` updates (which
            are found by themselves): a learning rate changed between epochs,
            or all that a step without ``.function`` updates.

        Returns the records of the epochs run now. Raises :class:`Interrupted`
        on Ctrl-C and :class:`RunDiverged` when an output turns NaN or inf.
        """
        if self._last is not None and stage != self._last and self._last not in self.stages_done:
            self.stages_done.append(self._last)
        if stage in self.stages_done:
            raise ValueError(f"stage {stage!r} is finished in this run: skip the stages for which "
                             "session.done(stage) is true, and give each stage its own name")
        self._last = stage
        variables = _state_variables(model, step, state)
        start, replay = self.epochs_done(stage), None
        if self._resume is not None and self._resume.info["training"]["stage"] == stage:
            start, replay = self._restore(model, variables)
        if start > n_epochs:
            raise SessionError(f"the run being resumed trained {stage} for {start} epochs "
                               f"already, more than the {n_epochs} asked for now")
        if start == n_epochs and not replay:
            self.report(f"{stage}: all {n_epochs} epochs done already")
        self._model, self._variables = model, variables
        self._outputs, self._epoch, bar = [], start, self.progress(stage)

        def batches(indices, epoch):
            self._outputs, self._epoch = [], epoch
            wrapped = indices if bar is None else bar(indices, epoch)
            try:
                for i in wrapped:
                    if self._stop:
                        raise _Stop()
                    yield i
            finally:
                getattr(wrapped, "close", lambda: None)()

        def run_step(i):
            value = replay.popleft() if replay else step(i)
            self._outputs.append(value)
            return value

        def epoch_done(record):
            record = {"stage": stage, **record}
            if on_epoch is not None:
                on_epoch(record)
            self.history.append(record)
            self._checkpoint(stage, record["epoch"] + 1)
            self._write_metrics(record)
            self.report(_line(record))
            done.append(record)

        done = []
        with self._sigint():
            try:
                train.fit(run_step, step.n_steps, n_epochs, names=names, start_epoch=start,
                          on_epoch=epoch_done, progress=batches)
            except train.Diverged as exc:
                self._draw_quietly()
                raise RunDiverged(self._diverged_message(stage, exc)) from None
            except _Stop:
                position = len(self._outputs)
                self._checkpoint(stage, self._epoch, self._outputs)
                raise self._interrupted(f"{stage}, epoch {self._epoch}, step {position} of "
                                        f"{step.n_steps}") from None
            if self._stop:  # Ctrl-C during the last step: the last checkpoint has it all
                raise self._interrupted(f"{stage}, after epoch {n_epochs - 1}")
        return done

    def save_model(self, model, filename, stage=None):
        """Save ``model`` as ``output_dir/filename`` with the run's info; return the path."""
        stage = stage or self._last
        records = [r for r in self.history if r["stage"] == stage]
        training = {"experiment": self.experiment, "stage": stage, "epochs": len(records),
                    "finished": True, "args": self._flags["args"], "history": records}
        return io.save(model, self.output_dir / filename, info={**self.info, "training": training})

    def finish(self):
        """End the run: mark the checkpoint finished and draw the learning curve; return its path."""
        if self._last is not None and getattr(self, "_model", None) is not None:
            self._checkpoint(self._last, self.epochs_done(self._last), finished=True)
        return self._draw()

    # -- checkpoints ------------------------------------------------------------------
    def _checkpoint(self, stage, epochs, partial=(), finished=False):
        arrays = [v for v in self._variables if not _is_generator(v)]
        generators = [v.get_value(borrow=True).bit_generator.state
                      for v in self._variables if _is_generator(v)]
        state = [(v.name or "state", v.get_value(borrow=True)) for v in arrays]
        values = [np.asarray(v, dtype=np.float64) for v in partial]
        if values:
            state.append((PARTIAL, np.concatenate([v.reshape(-1) for v in values])))
        training = {"experiment": self.experiment, "stage": stage, "epochs": epochs,
                    "position": len(values), "partial_shapes": [list(v.shape) for v in values],
                    "generators": generators, "stages_done": self.stages_done,
                    "history": self.history, "finished": finished, **self._flags}
        self.output_dir.mkdir(parents=True, exist_ok=True)
        io.save(self._model, self.checkpoint_path, info={**self.info, "training": training},
                state=state)
        self._saved = True

    def _restore(self, model, variables):
        record, self._resume = self._resume, None
        training = record.info["training"]
        try:
            io.assign(model, record)
        except io.ModelFileError as exc:
            raise SessionError(f"the checkpoint does not fit the model this run builds (were the "
                               f"data changed?): {exc}") from None
        arrays = [v for v in variables if not _is_generator(v)]
        generators = [v for v in variables if _is_generator(v)]
        saved = [(n, a) for n, a in record.state if n != PARTIAL]
        shapes = [(v.name, v.get_value(borrow=True).shape, v.get_value(borrow=True).dtype) for v in arrays]
        if [(n, a.shape, a.dtype) for n, a in saved] != shapes or \
                len(training["generators"]) != len(generators):
            raise SessionError(f"{self.checkpoint_path} holds training state {[n for n, _ in saved]} "
                               f"but this run's step updates {[s[0] for s in shapes]}; it was "
                               "written by a different version of the experiment: start a new run")
        for var, (_, value) in zip(arrays, saved):
            var.set_value(np.array(value, copy=True), borrow=True)
        for var, state in zip(generators, training["generators"]):
            generator = np.random.default_rng()
            generator.bit_generator.state = state
            var.set_value(generator, borrow=True)
        flat = dict(record.state).get(PARTIAL)
        replay, offset = collections.deque(), 0
        for shape in training["partial_shapes"]:
            size = int(np.prod(shape))
            replay.append(flat[offset:offset + size].reshape(shape))
            offset += size
        return training["epochs"], replay

    # -- Ctrl-C ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _sigint(self):
        self._stop = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._stop:
                raise KeyboardInterrupt  # pressed twice: stop now, the last checkpoint stays
            self._stop = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _interrupted(self, where):
        self._draw_quietly()
        return Interrupted(f"interrupted in {where}; saved {self.checkpoint_path}. "
                           f"Resume with: {self.resume_command()}")

    def resume_command(self, *extra):
        """The command that resumes this run (None if nothing was saved yet)."""
        if not self._saved:
            return None
        words = list(getattr(self.args, "_invocation", None) or ["dae", "train", self.experiment])
        words += ["--output-dir", str(self.output_dir), "--resume", *extra]
        return " ".join(shlex.quote(w) for w in words)

    def _diverged_message(self, stage, exc):
        rate = getattr(self.args, "learning_rate", None)
        lower = [] if rate is None else ["--learning-rate", f"{rate / 10:g}"]
        told = f"{exc.name} became {exc.value} in epoch {exc.epoch} of {stage}"
        if rate is not None:
            told += f" (learning rate {rate:g})"
        if not self._saved:
            return (f"{told}: training stopped before any epoch finished, nothing was saved. "
                    f"Start again with a lower learning rate{' (' + ' '.join(lower) + ')' if lower else ''}")
        return (f"{told}: training stopped. The last good checkpoint is kept in "
                f"{self.checkpoint_path}; continue from it with a lower learning rate: "
                f"{self.resume_command(*lower)}")

    # -- records -----------------------------------------------------------------------
    def _write_metrics(self, record):
        from dae.utils import atomic_write

        path = self.output_dir / METRICS
        if not self._metrics_open:
            # The first record of this process rewrites the file from the run's
            # history: a resumed run drops records the checkpoint does not hold.
            with atomic_write(path, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in self.history)
            self._metrics_open = True
        else:
            with open(path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def _draw(self):
        if not self.history:
            return None
        return draw_learning_curve(self.history, self.output_dir / CURVE)

    def _draw_quietly(self):
        try:
            self._draw()
        except (OSError, ValueError):
            pass  # the picture is a convenience; the error being reported matters more


def updated_variables(function):
    """The shared variables a compiled PyTensor function updates, in a fixed order."""
    return [i.variable for i in function.maker.inputs if i.update is not None]


def _state_variables(model, step, state):
    """What a checkpoint holds besides the model file's variables: the shared
    variables ``step.function`` updates, then ``state``, each once."""
    function = getattr(step, "function", None)
    if function is None and state is None:
        raise TypeError("cannot tell which shared variables this step updates: give it a "
                        "compiled .function, or pass state=[...] (the shared variables it updates)")
    found = (updated_variables(function) if function is not None else []) + list(state or ())
    seen = {id(v) for v in io.model_variables(model)}
    variables = []
    for var in found:
        if id(var) not in seen:
            seen.add(id(var))
            variables.append(var)
    return variables


def _is_generator(var):
    return isinstance(var.get_value(borrow=True), np.random.Generator)


def _flags(args):
    saved, paths = {}, []
    for key, value in vars(args).items():
        if key in NOT_SAVED or key.startswith("_") or callable(value):
            continue
        if isinstance(value, Path):
            paths.append(key)
        saved[key] = _jsonable(value)
    return {"args": saved, "paths": paths}


def _jsonable(value):
    if isinstance(value, Path):  # absolute: a resumed run may start in another folder
        return str(value.expanduser().resolve())
    if isinstance(value, tuple):
        return list(value)
    return value


def _flag(key):
    return "--" + key.replace("_", "-")


def _show(value):
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def format_metrics(record, sep="  "):
    """``"cost 74.1234  valid_error 0.0213"``: a record's metrics, readable at any scale."""
    return sep.join(f"{k} {v:.4f}" if abs(v) < 1e5 else f"{k} {v:.4g}" for k, v in record.items()
                    if k not in ("stage", "epoch", "seconds") and isinstance(v, (int, float)))


def _line(record):
    return f"{record['stage']} epoch {record['epoch']:3d}  {format_metrics(record)}  {record['seconds']:.1f} s"


# -- the learning curve -----------------------------------------------------------------------
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127)]


def draw_learning_curve(history, path, width=640, panel_height=260):
    """Draw each metric of ``history`` against the epoch, one panel per metric and one
    line per stage, with labelled ticks; write the PNG atomically and return ``path``."""
    from PIL import Image, ImageDraw

    from dae.utils import save_png

    metrics = [k for k in dict.fromkeys(k for r in history for k in r)
               if k not in ("stage", "epoch", "seconds")]
    stages = list(dict.fromkeys(r["stage"] for r in history))
    image = Image.new("RGB", (width, panel_height * max(1, len(metrics))), "white")
    draw, font = ImageDraw.Draw(image), _font(12)
    for p, metric in enumerate(metrics):
        lines = {s: [(r["epoch"], r[metric]) for r in history
                     if r["stage"] == s and isinstance(r.get(metric), (int, float))] for s in stages}
        _panel(draw, font, (0, p * panel_height, width, (p + 1) * panel_height), metric,
               {s: pts for s, pts in lines.items() if pts}, stages)
    save_png(np.asarray(image), path)
    return path


def _font(size):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def _panel(draw, font, box, title, lines, stages):
    left, top, right, bottom = box[0] + 72, box[1] + 28, box[2] - 20, box[3] - 44
    xs = [x for pts in lines.values() for x, _ in pts]
    ys = [y for pts in lines.values() for _, y in pts]
    draw.text(((left + right) // 2, box[1] + 8), title, fill="black", font=font, anchor="mt")
    if not xs:
        return
    x_ticks = _ticks(min(xs), max(xs), integer=True)
    y_ticks = _ticks(min(ys), max(ys))
    (x0, x1), (y0, y1) = (x_ticks[0], x_ticks[-1]), (y_ticks[0], y_ticks[-1])

    def at(x, y):
        return (left + (x - x0) / (x1 - x0) * (right - left),
                bottom - (y - y0) / (y1 - y0) * (bottom - top))

    for x in x_ticks:
        px = at(x, y0)[0]
        draw.line([(px, top), (px, bottom)], fill=(230, 230, 230))
        draw.line([(px, bottom), (px, bottom + 4)], fill="black")
        draw.text((px, bottom + 6), _label(x, x_ticks), fill="black", font=font, anchor="mt")
    for y in y_ticks:
        py = at(x0, y)[1]
        draw.line([(left, py), (right, py)], fill=(230, 230, 230))
        draw.line([(left - 4, py), (left, py)], fill="black")
        draw.text((left - 7, py), _label(y, y_ticks), fill="black", font=font, anchor="rm")
    draw.rectangle([left, top, right, bottom], outline="black")
    draw.text(((left + right) // 2, bottom + 24), "epoch", fill="black", font=font, anchor="mt")
    for name, pts in lines.items():
        colour = COLOURS[stages.index(name) % len(COLOURS)]
        points = [at(x, y) for x, y in pts]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for px, py in points:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
    if len(lines) > 1 or len(stages) > 1:
        draw.rectangle([right - 158, top + 2, right - 2, top + 18 + 16 * (len(lines) - 1)],
                       fill="white", outline=(200, 200, 200))
        for i, name in enumerate(lines):
            colour = COLOURS[stages.index(name) % len(COLOURS)]
            y = top + 10 + 16 * i
            draw.line([(right - 150, y), (right - 128, y)], fill=colour, width=2)
            draw.text((right - 122, y), name, fill="black", font=font, anchor="lm")


def _ticks(low, high, integer=False, target=5):
    """Round tick values (1, 2 or 5 times a power of ten) covering [low, high]."""
    if high - low < 1e-12 * max(1.0, abs(high)):
        pad = 1.0 if integer or low == 0 else abs(low) * 0.05
        low, high = low - pad, high + pad
    raw = (high - low) / target
    step = 10 ** np.floor(np.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if raw <= m * step)
    if integer:
        step = max(1.0, round(step))
    first, last = np.floor(low / step) * step, np.ceil(high / step) * step
    return [float(v) for v in np.arange(first, last + step / 2, step)]


def _label(value, ticks):
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = max(0, -int(np.floor(np.log10(step)))) if step < 1 else 0
    return f"{value:.{decimals}f}"

"""One run of an experiment: checkpoints, resume, records, Ctrl-C, the output folder.

Every phase of every experiment runs through a :class:`Session`: each dA, cA
or sA stage, each SdA pretraining layer, SdA fine-tuning with early stopping,
VAE training and its final evaluation. It keeps the run's files in its output
folder:

``checkpoint.npz``
    After every epoch, and when Ctrl-C stops the run, atomically: a model file
    (:mod:`dae.io`) that also holds everything the compiled step updates (the
    optimizer's state, the random generators), the state of the objects a
    stage keeps (early stopping, the best parameters so far), the run's flags,
    a fingerprint of its training data, the stage and epoch reached, the step
    within the epoch, the run's history and the results of finished
    evaluations.
``metrics.jsonl``
    One JSON object per epoch: ``{"stage", "epoch", <outputs>, "seconds"}``.
``learning_curve.png``
    Each metric against the epoch, one line per stage (:func:`dae.plots.learning_curve`).
``.dae-lock``
    While the run lives: its process id, so a second run on the folder is refused.

Before anything is compiled the folder is checked (writable, not a file),
locked, and cleared of temporary files a killed save left behind.

A run started with ``args.resume`` restores the checkpoint and continues where
it stopped, with the flags it was started with; since minibatches come in a
fixed order and all state is restored, its parameters end bit-identical to
those of an uninterrupted run. Epoch counts, learning rates and the compile
mode may change on resume (``may_change``).

Ctrl-C (or SIGTERM) while a stage trains or evaluates stops it at the next
step: the session saves the checkpoint, partial epoch included, and raises
:class:`Interrupted`, whose message says how to resume. Anywhere else, or
pressed a second time, it stops at once and the last checkpoint stays (every
file is written atomically, so none is left damaged). A cost that turns NaN or
inf, grows to ``train.DIVERGED_GROWTH`` times its first epoch's (or, inside the
first epoch, its first step's), or a cost or parameters beyond magnitudes no sane
run reaches (:func:`dae.train.check_epoch`) stop the run with :class:`RunDiverged` before the epoch is saved: the
last good checkpoint and model files stay. Nothing here prints: lines go to
the ``report`` callback.
"""
import collections
import contextlib
import hashlib
import json
import os
import shlex
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np

from dae import io
from dae import train
from dae.train import format_metrics

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.jsonl"
CURVE = "learning_curve.png"
LOCK = ".dae-lock"

# Flags that say how a run is shown, not what it computes, and the folder the
# checkpoint is found in (a run may be moved): never saved, never compared.
# (The compile mode is saved: Numba and C kernels round differently, so a
# resumed run keeps its mode to end bit-identical unless told otherwise.)
NOT_SAVED = {"run", "resume", "quiet", "command", "model", "output_dir"}
PARTIAL = "partial epoch outputs"
KEEP = "keep"


class SessionError(ValueError):
    """A run cannot start or resume as asked (no checkpoint, flags that differ, locked...)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the run; ``str()`` says what was saved and how to resume."""


class RunDiverged(FloatingPointError):
    """Training diverged; the last good checkpoint was kept."""


class _Stop(Exception):
    pass


def interrupted_by_user(exc):
    """True if ``exc`` is, or was raised while handling, a KeyboardInterrupt.

    Ctrl-C landing inside compiled code can surface as another exception (a
    ``SystemError`` from Numba's runtime) whose context is the KeyboardInterrupt.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


class Session:
    """The run of experiment ``experiment`` with flags ``args`` (an argparse Namespace).

    Use it as a context manager: the lock and the signal handlers live as long
    as the ``with`` block (a session used without one still handles Ctrl-C
    inside :meth:`fit` and :meth:`run`; call :meth:`close` at the end).

    Parameters
    ----------
    args : Namespace with ``output_dir``; ``resume`` (bool) to continue a run;
        ``_explicit`` (set of flag names the user typed; the cli sets it) and
        ``_invocation`` (the command's words, for the resume hint).
        On resume the run's saved flags replace those the user did not type.
    experiment : str, the experiment's name (checked on resume).
    report : callable(str), receives one line per epoch; None: silent.
    progress : callable(description) -> None or wrapper(batches, epoch) -> iterable
        (a progress bar, see :class:`dae.experiments.common.Report`).
    may_change : flag names a resumed run may change (others must match).

    Attributes
    ----------
    info : dict stored in every model file of the run (``image_shape``...).
    history : the run's epoch records so far.
    results : dict, the results of finished :meth:`run` stages.
    """

    def __init__(self, args, experiment, report=None, progress=None,
                 may_change=("epochs", "learning_rate", "mode")):
        self.args, self.experiment = args, experiment
        self.report = report or (lambda line: None)
        self.progress = progress or (lambda description: None)
        self.may_change = set(may_change)
        self.output_dir = Path(args.output_dir)
        self.checkpoint_path = self.output_dir / CHECKPOINT
        self.info, self.history, self.stages_done, self.results = {}, [], [], {}
        self._resume, self._last, self._model, self._variables, self._keep = None, None, None, [], []
        self._complete, self._data = False, None
        self._stop = self._polling = self._handlers = False
        self._saved = False       # a checkpoint of this run exists
        self._lock = None
        self._prepare_output_dir()
        try:
            if getattr(args, "resume", False):
                self._start_resumed()
            else:
                self._refuse_to_overwrite_unfinished()
        except BaseException:
            self._release_lock()
            raise
        self._flags = _flags(args)
        args._session = self

    # -- the output folder ---------------------------------------------------------------
    def _prepare_output_dir(self):
        """Check the folder can be written, lock it, remove what killed saves left."""
        folder = self.output_dir
        if folder.exists() and not folder.is_dir():
            raise SessionError(f"--output-dir {folder} is a file, not a folder; pass a folder "
                               "(it is created if missing)")
        self._created = not folder.exists()  # removed again if the run writes nothing
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        except PermissionError:
            raise SessionError(f"cannot write into {folder}: permission denied; pass an --output-dir "
                               "you can write to") from None
        except OSError as exc:
            if isinstance(exc, SessionError):
                raise
            raise SessionError(f"cannot write into {folder}: {exc.strerror or exc}; pass another "
                               "--output-dir") from None
        removed = [p for p in folder.glob(".*.tmp") if p.is_file()]
        for path in removed:
            with contextlib.suppress(OSError):
                path.unlink()
        if removed:
            self.report(f"removed {len(removed)} temporary file{'s' * (len(removed) != 1)} an "
                        f"interrupted save left in {folder}")

    def _take_lock(self):
        """Create ``.dae-lock`` holding this process's id, or refuse: one run per folder.

        The lock is written whole under another name and hard-linked into place,
        so no run ever reads a half-written lock; a lock whose process is gone
        (or that cannot be read) is taken over.
        """
        path = self.output_dir / LOCK
        mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                "command": " ".join(getattr(self.args, "_invocation", None) or
                                    ["dae", "train", self.experiment])}
        draft = self.output_dir / f"{LOCK}.{os.getpid()}"
        draft.write_text(json.dumps(mine))
        try:
            for attempt in range(2):
                try:
                    os.link(draft, path)
                except FileExistsError:
                    holder = _read_lock(path)
                    if attempt == 0 and not _alive(holder):
                        with contextlib.suppress(FileNotFoundError):
                            path.unlink()
                        who = f"process {holder['pid']}" if holder else "an unreadable lock"
                        self.report(f"took over the lock of {self.output_dir}: {who} is gone")
                        continue
                    who = "another process" if holder is None else (
                        f"process {holder['pid']}, '{holder['command']}', started "
                        f"{time.strftime('%H:%M:%S', time.localtime(holder['started']))}")
                    raise SessionError(f"{self.output_dir} is in use by another run ({who}); wait "
                                       "for it to end, or pass another --output-dir") from None
                self._lock = path
                return
        finally:
            draft.unlink()

    def _release_lock(self):
        if self._lock is not None:
            if (_read_lock(self._lock) or {}).get("pid") == os.getpid():
                with contextlib.suppress(OSError):
                    self._lock.unlink()
            self._lock = None
            if self._created:  # a run that failed before writing anything leaves no folder
                with contextlib.suppress(OSError):
                    self.output_dir.rmdir()  # only if empty

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
        self.results = dict(training.get("results", {}))
        self._data = training.get("data")
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

    def bind_data(self, *arrays):
        """Record the training data's fingerprint (shape, dtype, a hash of the bytes).

        A resumed run must bind the same data: other data would silently mix
        two trainings, so it is refused.
        """
        digest = hashlib.blake2b(digest_size=16)
        described = []
        for array in arrays:
            array = np.ascontiguousarray(array)
            digest.update(memoryview(array).cast("B"))
            described.append(f"{array.dtype} {'x'.join(map(str, array.shape))}")
        fingerprint = {"arrays": described, "blake2b": digest.hexdigest()}
        if self._data is not None and self._data != fingerprint:
            raise SessionError(
                f"the run in {self.output_dir} was trained on other data ({', '.join(self._data['arrays'])}, "
                f"hash {self._data['blake2b'][:12]}) than this one loads ({', '.join(described)}, hash "
                f"{fingerprint['blake2b'][:12]}); resume with the same --data/--data-dir, or start a "
                "new run with another --output-dir")
        self._data = fingerprint

    def restore(self, model):
        """On resume, copy the checkpoint's parameters and random state into ``model``.

        For experiments whose stages train one model in turn (the SdA's layers,
        then fine-tuning): a stage that starts after the checkpoint's must
        start from its parameters. Returns True if something was restored.
        """
        if self._resume is None:
            return False
        self._assign(model, self._resume)
        return True

    # -- stages -----------------------------------------------------------------------
    def done(self, stage):
        """True if the run being resumed finished ``stage`` before the one it stopped in."""
        return stage in self.stages_done

    def epochs_done(self, stage):
        """Epochs of ``stage`` finished so far, in the run being resumed too."""
        return sum(r["stage"] == stage for r in self.history)

    def fit(self, stage, model, step, n_epochs, names=("cost",), on_epoch=None, state=None,
            keep=(), rate="learning_rate"):
        """Train ``stage``: :func:`dae.train.fit` with checkpoints, records and Ctrl-C.

        Epochs run from :meth:`epochs_done` (where a resumed run stopped) up to
        ``n_epochs``, or until ``on_epoch`` returns True (early stopping); a
        stage that ended so is not trained again on resume.

        Parameters
        ----------
        stage : str, unique within the run (``"corruption_30"``, ``"pretrain_0"``)
        model : the model to checkpoint (a class of :data:`dae.io.REGISTRY`)
        step : compiled step ``step(i)`` with ``n_steps`` (:func:`dae.train.compile_step`);
            minibatch i must be the same every epoch, so resume is exact.
        n_epochs : int, epochs of this stage
        names : names of the step's outputs
        on_epoch : callable(record) -> bool or None, optional: may add entries
            (a validation error) before the record is saved and reported;
            returning True ends the stage after this epoch.
        state : more shared variables to checkpoint, besides the model's
            parameters and those the compiled ``step.function`` updates (which
            are found by themselves): a learning rate changed between epochs,
            or all that a step without ``.function`` updates.
        keep : objects with ``state_dict()`` (a dict of JSON values and NumPy
            arrays) and ``load_state_dict(d)``, checkpointed with the stage
            (:class:`dae.stopping.EarlyStopping`, the SdA experiment's ``Best``).
        rate : the flag holding this stage's learning rate (named when it diverges).

        Returns the records of the epochs run now (a :class:`dae.train.History`).
        Raises :class:`Interrupted` on Ctrl-C and :class:`RunDiverged` when the run diverges.
        """
        if self._last is not None and stage != self._last and self._last not in self.stages_done:
            self.stages_done.append(self._last)
        if stage in self.stages_done:
            raise ValueError(f"stage {stage!r} is finished in this run: skip the stages for which "
                             "session.done(stage) is true, and give each stage its own name")
        self._last, self._complete = stage, False
        self._model, self._keep = model, list(keep)
        self._variables = _state_variables(model, step, state)
        start, replay = self.epochs_done(stage), None
        if self._resume is not None and self._resume.info["training"]["stage"] == stage:
            start, replay, self._complete = self._restore(model, self._variables, self._keep)
        if self._complete:
            self.report(f"{stage}: finished already (resumed)")
            return []
        if start > n_epochs:
            raise SessionError(f"the run being resumed trained {stage} for {start} epochs "
                               f"already, more than the {n_epochs} asked for now")
        if start == n_epochs and not replay:
            self.report(f"{stage}: all {n_epochs} epochs done already")
        self._outputs, self._epoch, bar = [], start, self.progress(stage)
        first = next((r for r in self.history if r["stage"] == stage), None)

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
            nonlocal first
            record = {"stage": stage, **record}
            stop = on_epoch(record) if on_epoch is not None else None
            train.check_epoch(record, names, first, io.model_variables(self._model))
            first = first or record
            self.history.append(record)
            self._complete = bool(stop)  # ended early: not trained again, whatever the epoch count
            self._checkpoint(stage, record["epoch"] + 1)
            self._write_metrics()
            self.report(_line(record))
            done.append(record)
            return stop

        done = train.History()
        with self._interruptible():
            try:
                train.fit(run_step, step.n_steps, n_epochs, names=names, start_epoch=start,
                          on_epoch=epoch_done, progress=batches)
            except train.Diverged as exc:
                self._draw_quietly()
                self.close()  # the run ends here; a resumed one is a new session
                raise RunDiverged(self._diverged_message(stage, exc, rate)) from None
            except _Stop:
                position = len(self._outputs)
                self._checkpoint(stage, self._epoch, self._outputs)
                raise self._interrupted(f"{stage}, epoch {self._epoch}, step {position} of "
                                        f"{step.n_steps}") from None
            if self._stop:  # Ctrl-C during the last step: the last checkpoint has it all
                raise self._interrupted(f"{stage}, after epoch {self._epoch}")
        self._draw_quietly()
        return done

    def run(self, stage, compute):
        """Run ``compute(check)`` once and keep its result (JSON values) in the checkpoint.

        For work after training that takes a while (the VAE's importance-sampled
        NLL): ``compute`` calls ``check()`` between its pieces, which raises on
        Ctrl-C; the checkpoint then still holds the trained model, and the
        resumed run computes again. A run resumed after ``stage`` finished gets
        the saved result without computing.
        """
        if stage in self.results:
            self.report(f"{stage}: done already (resumed)")
            return self.results[stage]

        def check():
            if self._stop:
                raise _Stop()

        with self._interruptible():
            try:
                result = compute(check)
                check()
            except _Stop:
                raise self._interrupted(f"{stage}; the trained model is in the checkpoint and "
                                        f"the resumed run does {stage} again") from None
        self.results[stage] = result
        if self._model is not None:
            self._checkpoint(self._last, self.epochs_done(self._last))
        return result

    def save_model(self, model, filename, stage=None, **extra):
        """Save ``model`` as ``output_dir/filename`` with the run's info; return the path.

        ``extra`` (JSON values) joins the file's training record: the SdA's best
        model says which epoch it comes from (``best={"epoch": ..., ...}``).
        """
        stage = stage or self._last
        records = [r for r in self.history if r["stage"] == stage]
        training = {"experiment": self.experiment, "stage": stage, "epochs": len(records),
                    "finished": True, "args": self._flags["args"], "history": records, **extra}
        return io.save(model, self.output_dir / filename, info={**self.info, "training": training})

    def finish(self):
        """End the run: mark the checkpoint finished, draw the learning curve; return its path."""
        if self._last is not None and self._model is not None:
            self._checkpoint(self._last, self.epochs_done(self._last), finished=True)
        path = self._draw()
        self.close()
        return path

    def close(self):
        """Release the folder's lock and the signal handlers (the ``with`` block's end)."""
        self._restore_handlers()
        self._release_lock()

    def __enter__(self):
        self._install_handlers()
        return self

    def __exit__(self, kind, exc, tb):
        self.close()
        if exc is not None and not isinstance(exc, Interrupted) and interrupted_by_user(exc):
            raise self._interrupted_at_once() from None
        return False

    # -- checkpoints ------------------------------------------------------------------
    def _checkpoint(self, stage, epochs, partial=(), finished=False):
        arrays = [v for v in self._variables if not _is_generator(v)]
        generators = [v.get_value(borrow=True).bit_generator.state
                      for v in self._variables if _is_generator(v)]
        state = [(v.name or "state", v.get_value(borrow=True)) for v in arrays]
        kept = []
        for i, obj in enumerate(self._keep):
            values = obj.state_dict()
            kept.append({k: v for k, v in values.items() if not isinstance(v, np.ndarray)})
            state += [(f"{KEEP}:{i}:{k}", v) for k, v in values.items() if isinstance(v, np.ndarray)]
        values = [np.asarray(v, dtype=np.float64) for v in partial]
        if values:
            state.append((PARTIAL, np.concatenate([v.reshape(-1) for v in values])))
        training = {"experiment": self.experiment, "stage": stage, "epochs": epochs,
                    "complete": self._complete, "position": len(values),
                    "partial_shapes": [list(v.shape) for v in values],
                    "generators": generators, "keep": kept, "stages_done": self.stages_done,
                    "history": self.history, "results": self.results, "data": self._data,
                    "finished": finished, **self._flags}
        io.save(self._model, self.checkpoint_path, info={**self.info, "training": training},
                state=state)
        self._saved = True

    def _assign(self, model, record):
        try:
            io.assign(model, record)
        except io.ModelFileError as exc:
            raise SessionError(f"the checkpoint does not fit the model this run builds (were the "
                               f"flags or data changed?): {exc}") from None

    def _restore(self, model, variables, keep):
        record, self._resume = self._resume, None
        training = record.info["training"]
        self._assign(model, record)
        arrays = [v for v in variables if not _is_generator(v)]
        generators = [v for v in variables if _is_generator(v)]
        saved = [(n, a) for n, a in record.state if n != PARTIAL and not n.startswith(KEEP + ":")]
        shapes = [(v.name or "state", v.get_value(borrow=True).shape, v.get_value(borrow=True).dtype)
                  for v in arrays]
        kept = training.get("keep", [])
        if [(n, a.shape, a.dtype) for n, a in saved] != shapes or \
                len(training["generators"]) != len(generators) or len(kept) != len(keep):
            raise SessionError(f"{self.checkpoint_path} holds training state {[n for n, _ in saved]} "
                               f"but this run's step updates {[s[0] for s in shapes]}; it was "
                               "written by a different version of the experiment: start a new run")
        for var, (_, value) in zip(arrays, saved):
            var.set_value(np.array(value, copy=True), borrow=True)
        for var, state in zip(generators, training["generators"]):
            generator = np.random.default_rng()
            generator.bit_generator.state = state
            var.set_value(generator, borrow=True)
        for i, obj in enumerate(keep):
            prefix = f"{KEEP}:{i}:"
            values = dict(kept[i])
            values.update({n[len(prefix):]: np.array(a, copy=True) for n, a in record.state
                           if n.startswith(prefix)})
            obj.load_state_dict(values)
        flat = dict(record.state).get(PARTIAL)
        replay, offset = collections.deque(), 0
        for shape in training["partial_shapes"]:
            size = int(np.prod(shape))
            replay.append(flat[offset:offset + size].reshape(shape))
            offset += size
        return training["epochs"], replay, bool(training.get("complete"))

    # -- divergence ---------------------------------------------------------------------
    def _diverged_message(self, stage, exc, rate_flag):
        rate = getattr(self.args, rate_flag, None) if rate_flag else None
        lower = [] if rate is None else [_flag(rate_flag), f"{rate / 10:g}"]
        told = f"{exc.name} became {exc.value} in epoch {exc.epoch} of {stage}"
        if rate is not None:
            told += f" ({_flag(rate_flag)} {rate:g})"
        if not self._saved:
            return (f"{told}: training diverged before any epoch finished, nothing was saved. "
                    f"Start again with a lower learning rate{' (' + ' '.join(lower) + ')' if lower else ''}")
        return (f"{told}: training diverged and stopped. The last good checkpoint is kept in "
                f"{self.checkpoint_path}; continue from it with a lower learning rate: "
                f"{self.resume_command(*lower)}")

    # -- Ctrl-C and SIGTERM -----------------------------------------------------------
    def _handler(self, signum, frame):
        if self._stop or not self._polling:
            raise KeyboardInterrupt  # twice, or outside a loop that stops cleanly: at once
        self._stop = True  # the loop stops at its next step and saves

    def _install_handlers(self):
        if self._handlers or threading.current_thread() is not threading.main_thread():
            return
        self._previous = {s: signal.signal(s, self._handler) for s in (signal.SIGINT, signal.SIGTERM)}
        self._handlers = True

    def _restore_handlers(self):
        if self._handlers:
            for s, previous in self._previous.items():
                signal.signal(s, previous)
            self._handlers = False

    @contextlib.contextmanager
    def _interruptible(self):
        """Ctrl-C in this block stops at the next step (the loop saves first)."""
        own = not self._handlers
        if own:
            self._install_handlers()
        self._stop, self._polling = False, True
        try:
            yield
        except BaseException as exc:
            if isinstance(exc, (Interrupted, _Stop)) or not interrupted_by_user(exc):
                raise
            raise self._interrupted_at_once() from None
        finally:
            self._polling = False
            if own:
                self._restore_handlers()

    def _interrupted(self, where):
        self._draw_quietly()
        self.close()  # the run ends here; a resumed one is a new session
        return Interrupted(f"interrupted in {where}; saved {self.checkpoint_path}. "
                           f"Resume with: {self.resume_command()}")

    def _interrupted_at_once(self):
        self._draw_quietly()
        self.close()
        if not self._saved:
            return Interrupted("interrupted before the first epoch finished; nothing was saved")
        return Interrupted(f"interrupted; the last checkpoint ({self.checkpoint_path}) is kept. "
                           f"Resume with: {self.resume_command()}")

    def resume_command(self, *extra):
        """The command that resumes this run (None if nothing was saved yet)."""
        if not self._saved:
            return None
        words = list(getattr(self.args, "_invocation", None) or ["dae", "train", self.experiment])
        words += ["--output-dir", str(self.output_dir), "--resume", *extra]
        return " ".join(shlex.quote(w) for w in words)

    # -- records -----------------------------------------------------------------------
    def _write_metrics(self):
        """Rewrite ``metrics.jsonl`` from the run's history, atomically.

        Appending would be cheaper, but a Ctrl-C in the middle of an append
        leaves half a line; the whole file (one short line an epoch) is
        rewritten instead, so it always matches the checkpoint.
        """
        from dae.utils import atomic_write

        with atomic_write(self.output_dir / METRICS, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in self.history)

    def _draw(self):
        if not self.history:
            return None
        from dae.plots import learning_curve
        return learning_curve(self.history, self.output_dir / CURVE)

    def _draw_quietly(self):
        try:
            self._draw()
        except (OSError, ValueError):
            pass  # the picture is a convenience; the run and its errors matter more


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


def _read_lock(path):
    try:
        holder = json.loads(Path(path).read_text())
        return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def _alive(holder):
    """Whether the process holding a lock still runs (on another host: assume so)."""
    if holder is None:
        return False
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def _line(record):
    return f"{record['stage']} epoch {record['epoch']:3d}  {format_metrics(record)}  {record['seconds']:.1f} s"

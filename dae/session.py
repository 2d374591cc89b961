"""One run of an experiment: its folder, checkpoints, resume, records and Ctrl-C.

Every phase of every experiment runs through a :class:`Session`: each dA, cA
or sA stage, each SdA pretraining layer, SdA fine-tuning with early stopping,
VAE training and its final evaluation. It keeps the run's files in its output
folder:

``checkpoint.npz``
    After every epoch, and when Ctrl-C stops the run, atomically
    (:mod:`dae.checkpoint`): the model, everything the step updates, the kept
    objects' state, the run's config, a fingerprint of its training data, the
    stage and epoch reached, the step within the epoch, the run's history and
    the results of finished evaluations.
``metrics.jsonl``, ``learning_curve.png``
    One JSON object per epoch, and each metric against the epoch (:mod:`dae.records`).
``.dae-lock``
    While the run lives: its process id, so a second run on the folder is
    refused (:mod:`dae.folder`).

A session is opened with the experiment's config (:mod:`dae.experiments.configs`);
with ``resume=True`` it restores the checkpoint and continues where it stopped,
with the config it was started with, merged with the fields given now that the
experiment lets change (:func:`dae.experiments.configs.merge`); ``session.config``
is the config the run goes on with. Since minibatches come in a fixed order and
all state is restored, its parameters end bit-identical to those of an
uninterrupted run.

Ctrl-C and SIGTERM are :mod:`dae.interrupt`'s: while a stage trains or
evaluates the run stops at the next step, the session saves the checkpoint,
partial epoch included, and raises :class:`Interrupted`, whose message says how
to resume; between stages, at the next boundary; anywhere else, or pressed a
second time, at once, and the last checkpoint stays (every file is written
atomically, so none is left damaged). A run that diverges (:func:`dae.train.check_epoch`)
stops with :class:`RunDiverged` before the epoch is saved: the last good
checkpoint and model files stay. Nothing here prints: lines go to the ``report``
callback.
"""
import contextlib
import dataclasses
import hashlib
import os
import shlex
from pathlib import Path

import numpy as np

from dae import checkpoint, interrupt, io, records, train
from dae.folder import SessionError, OutputFolder

__all__ = ["Session", "SessionError", "Interrupted", "RunDiverged", "CHECKPOINT", "METRICS", "CURVE"]

CHECKPOINT = "checkpoint.npz"
METRICS, CURVE = records.METRICS, records.CURVE


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the run; ``str()`` says what was saved and how to resume."""


class RunDiverged(FloatingPointError):
    """Training diverged; the last good checkpoint was kept."""


class Session:
    """The run of experiment ``name`` with ``config``.

    Use it as a context manager: the lock and the Ctrl-C handler live as long as
    the ``with`` block (:meth:`close` ends a session used without one).

    Parameters
    ----------
    name : str, the experiment's name (checked on resume).
    config : the experiment's Config (a :class:`dae.experiments.configs.Common`), or a
        dict of JSON values for a run of the library outside an experiment (on
        resume every key must match but ``mode``).
    output_dir : the run's folder (default ``config.output_dir``).
    command : the words that start the run again (the resume hint adds
        ``--output-dir DIR --resume``); default ``dae train NAME``.
    report : callable(str), receives one line per epoch; None: silent.
    progress : callable(description) -> None or wrapper(batches, epoch) -> iterable
        (a progress bar, see :class:`dae.experiments.common.Report`).
    resume : continue the run saved in the folder.
    typed : the config fields the caller set (the flags typed); None: all.

    Attributes
    ----------
    config : the config the run goes on with (on resume: the saved one, merged).
    info : dict stored in every model file of the run (``image_shape``...).
    history : the run's epoch records so far.
    results : dict, the results of finished :meth:`run` stages.
    files : the files the run wrote (:meth:`wrote`).
    """

    def __init__(self, name, config, output_dir=None, command=None, report=None, progress=None,
                 resume=False, typed=None):
        self.experiment, self.config = name, config
        self.report = report or (lambda line: None)
        self.progress = progress or (lambda description: None)
        self.output_dir = Path(output_dir if output_dir is not None else config.output_dir)
        self.command = list(command or ["dae", "train", name])
        self.checkpoint_path = self.output_dir / CHECKPOINT
        self.info, self.history, self.stages_done, self.results, self.files = {}, [], [], {}, []
        self._resume, self._last, self._model, self._variables, self._keep = None, None, None, [], []
        self._complete, self._data, self._saved, self._own_handler = False, None, False, False
        self._folder = OutputFolder(self.output_dir, " ".join(self.command), self.report).open()
        try:
            if resume:
                self._start_resumed(typed)
            else:
                self._refuse_to_overwrite_unfinished()
        except BaseException:
            self._folder.release()
            raise

    # -- starting --------------------------------------------------------------------
    def _start_resumed(self, typed):
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
        saved = training.get("config", training.get("args", {}))  # "args": checkpoints before configs
        self.config = _merge(self.config, saved, typed)
        self._resume, self._saved = record, True
        self.info = {k: v for k, v in record.info.items() if k != "training"}
        self.history = list(training["history"])
        self.stages_done = list(training["stages_done"])
        self.results = dict(training.get("results", {}))
        self._data = training.get("data")
        self._last = training["stage"]

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
        checkpoint.assign(model, self._resume, self.checkpoint_path)
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
        step : a :class:`dae.train.StepProtocol` (``step(i)``, ``n_steps``,
            ``state_variables()``); minibatch i must be the same every epoch, so
            resume is exact.
        n_epochs : int, epochs of this stage
        names : names of the step's outputs
        on_epoch : callable(record) -> bool or None, optional: may add entries
            (a validation error) before the record is saved and reported;
            returning True ends the stage after this epoch.
        state : more shared variables to checkpoint, besides the model's
            parameters and the step's ``state_variables()``: a learning rate
            changed between epochs.
        keep : objects with ``state_dict()`` (a dict of JSON values and NumPy
            arrays) and ``load_state_dict(d)``, checkpointed with the stage
            (:class:`dae.stopping.EarlyStopping`, the SdA experiment's ``Best``).
        rate : the config field holding this stage's learning rate (named when it diverges).

        Returns the records of the epochs run now (a :class:`dae.train.History`).
        Raises :class:`Interrupted` on Ctrl-C and :class:`RunDiverged` when the run diverges.
        """
        self.boundary(f"before {stage}")
        if self._last is not None and stage != self._last and self._last not in self.stages_done:
            self.stages_done.append(self._last)
        if stage in self.stages_done:
            raise ValueError(f"stage {stage!r} is finished in this run: skip the stages for which "
                             "session.done(stage) is true, and give each stage its own name")
        self._last, self._complete = stage, False
        self._model, self._keep = model, list(keep)
        self._variables = checkpoint.state_variables(model, step, state)
        start, replay = self.epochs_done(stage), []
        if self._resume is not None and self._resume.info["training"]["stage"] == stage:
            record, self._resume = self._resume, None
            start, replay, self._complete = checkpoint.restore(record, model, self._variables,
                                                               self._keep, self.checkpoint_path)
        if self._complete:
            self.report(f"{stage}: finished already (resumed)")
            return []
        if start > n_epochs:
            raise SessionError(f"the run being resumed trained {stage} for {start} epochs "
                               f"already, more than the {n_epochs} asked for now")
        if start == n_epochs and not replay:
            self.report(f"{stage}: all {n_epochs} epochs done already")
        done = train.History()

        def epoch_end(record):  # the loop's hook: the experiment's, then the records
            record = {"stage": stage, **record}
            stop = on_epoch(record) if on_epoch is not None else None
            self.history.append(record)
            self._complete = bool(stop)  # ended early: not trained again, whatever the epoch count
            self._checkpoint(stage, record["epoch"] + 1)
            records.write_metrics(self.output_dir, self.history)
            self.report(records.line(record))
            done.append(record)
            return stop

        first = next((r for r in self.history if r["stage"] == stage), None)
        with self._guard():
            try:
                train.fit(step, step.n_steps, n_epochs, names=names, start_epoch=start,
                          on_epoch=epoch_end, progress=self.progress(stage), replay=replay,
                          first=first, params=model.variables())
            except train.Diverged as exc:
                self._end()
                raise RunDiverged(self._diverged_message(stage, exc, rate)) from None
            except train.FitInterrupted as stop:
                self._checkpoint(stage, stop.epoch, stop.outputs)
                raise self._interrupted(f"in {stage}, epoch {stop.epoch}, step {stop.steps} of "
                                        f"{stop.n_steps}") from None
        self.boundary(f"after {stage}")
        records.draw_quietly(self.output_dir, self.history)
        return done

    def run(self, stage, compute):
        """Run ``compute(check)`` once and keep its result (JSON values) in the checkpoint.

        For work after training that takes a while (the VAE's importance-sampled
        NLL): ``compute`` calls ``check()`` between its pieces, which raises on
        Ctrl-C; the checkpoint then still holds the trained model, and the
        resumed run computes again. A run resumed after ``stage`` finished gets
        the saved result without computing. An interrupted computation is never kept.
        """
        if stage in self.results:
            self.report(f"{stage}: done already (resumed)")
            return self.results[stage]
        self.boundary(f"before {stage}")
        where = f"in {stage}; the trained model is in the checkpoint and the resumed run does {stage} again"

        with self._guard():
            try:
                result = compute(interrupt.check)
                interrupt.check()
            except interrupt.StopRequested:
                raise self._interrupted(where) from None
        self.results[stage] = result
        if self._model is not None:
            self._checkpoint(self._last, self.epochs_done(self._last))
        return result

    def boundary(self, where):
        """A stage boundary: raise :class:`Interrupted` if a stop was requested (a Ctrl-C
        that landed where it could not stop the run at once is acted on here)."""
        if interrupt.requested():
            raise self._interrupted(where)

    def save_model(self, model, filename, stage=None, **extra):
        """Save ``model`` as ``output_dir/filename`` with the run's info; return the path.

        ``extra`` (JSON values) joins the file's training record: the SdA's best
        model says which epoch it comes from (``best={"epoch": ..., ...}``).
        """
        stage = stage or self._last
        history = [r for r in self.history if r["stage"] == stage]
        training = {"experiment": self.experiment, "stage": stage, "epochs": len(history),
                    "finished": True, "config": self._saved_config(), "history": history, **extra}
        return io.save(model, self.output_dir / filename, info={**self.info, "training": training})

    def wrote(self, path):
        """Note a file the run wrote (``Result.files``) and report it; returns ``path``."""
        if path is not None and Path(path) not in self.files:
            self.files.append(Path(path))
        self.report(f"wrote {path}")
        return path

    def finish(self):
        """End the run: mark the checkpoint finished, draw the learning curve; return its path."""
        self.boundary("after the last stage, before the run was marked finished")  # its files stay
        if self._last is not None and self._model is not None:
            self._checkpoint(self._last, self.epochs_done(self._last), finished=True)
        path = records.draw(self.output_dir, self.history)
        self.close()
        return path

    def close(self):
        """Release the folder's lock and the Ctrl-C handler (the ``with`` block's end)."""
        if self._own_handler:
            interrupt.uninstall()
            self._own_handler = False
        if getattr(self, "_reading", None) is not None:
            self._reading.__exit__(None, None, None)
            self._reading = None
        self._folder.release()

    def __enter__(self):
        from dae.utils import reads_in, reading

        self._own_handler = not interrupt.installed() and interrupt.install(replace=True)
        self._reading = reading(*self._inputs(), besides=self.output_dir)
        self._reading.__enter__()
        clash = reads_in(self.output_dir)
        if clash:  # a link in the output folder to the data: refused now, not after training
            self.close()
            raise SessionError(f"{clash[0]} is {clash[1]}, which this run reads: the run would "
                               "write over it; remove that link (or pass another --output-dir)")
        return self

    def _inputs(self):
        """What the run reads (its data file or folder), which none of its writes may replace."""
        get = self.config.get if isinstance(self.config, dict) else \
            (lambda name, default=None: getattr(self.config, name, default))
        from dae.data import DEFAULT_DATA_DIR, ENV_VAR

        return [get("data"), get("data_dir") or os.environ.get(ENV_VAR) or DEFAULT_DATA_DIR]

    def __exit__(self, kind, exc, tb):
        from dae.utils import WriteError

        if exc is not None and not isinstance(exc, Interrupted) and interrupt.by_user(exc):
            raise self._interrupted_at_once() from None
        self.close()
        if isinstance(exc, WriteError):  # a full disk, a folder no longer writable: say what to do
            if not self._saved:
                raise SessionError(f"{exc}. Nothing of this run was saved yet: free some space (or "
                                   "make the folder writable) and start it again") from None
            raise SessionError(f"{exc}. The last checkpoint, {self.checkpoint_path}, is intact: free "
                               "some space (or make the folder writable) and resume with: "
                               f"{self.resume_command()}") from None
        return False

    # -- checkpoints ------------------------------------------------------------------
    def _saved_config(self):
        return self.config.saved() if hasattr(self.config, "saved") else dict(self.config)

    def _checkpoint(self, stage, epochs, partial=(), finished=False):
        training = {"experiment": self.experiment, "stage": stage, "epochs": epochs,
                    "complete": self._complete, "stages_done": self.stages_done,
                    "history": self.history, "results": self.results, "data": self._data,
                    "finished": finished, "config": self._saved_config()}
        checkpoint.save(self.checkpoint_path, self._model, self.info, training, self._variables,
                        self._keep, partial)
        self._saved = True

    # -- divergence ---------------------------------------------------------------------
    def _diverged_message(self, stage, exc, field):
        from dae.experiments.configs import flag

        rate = getattr(self.config, field, None) if field else None
        lower = [] if rate is None else [flag(field), f"{rate / 10:g}"]
        told = f"{exc.name} became {exc.value} in epoch {exc.epoch} of {stage}"
        if rate is not None:
            told += f" ({flag(field)} {rate:g})"
        if not self._saved:
            return (f"{told}: training diverged before any epoch finished, nothing was saved. "
                    f"Start again with a lower learning rate{' (' + ' '.join(lower) + ')' if lower else ''}")
        return (f"{told}: training diverged and stopped. The last good checkpoint is kept in "
                f"{self.checkpoint_path}; continue from it with a lower learning rate: "
                f"{self.resume_command(*lower)}")

    # -- Ctrl-C and SIGTERM -----------------------------------------------------------
    @contextlib.contextmanager
    def _guard(self):
        """Ctrl-C inside the block only asks (the loop stops at its next step and saves);
        one raised at once (a second press) ends the run with the last checkpoint."""
        try:
            with interrupt.stoppable():
                yield
        except BaseException as exc:
            if isinstance(exc, Interrupted) or not interrupt.by_user(exc):
                raise
            raise self._interrupted_at_once() from None

    def _end(self):
        records.draw_quietly(self.output_dir, self.history)
        interrupt.clear()  # the request is acted on: the exception carries it now
        self.close()  # the run ends here; a resumed one is a new session

    def _interrupted(self, where):
        self._end()
        return Interrupted(f"interrupted {where}; saved {self.checkpoint_path}. "
                           f"Resume with: {self.resume_command()}" if self._saved else
                           f"interrupted {where}, before the first epoch finished; nothing was saved")

    def _interrupted_at_once(self):
        self._end()
        if not self._saved:
            return Interrupted("interrupted before the first epoch finished; nothing was saved")
        return Interrupted(f"interrupted; the last checkpoint ({self.checkpoint_path}) is kept. "
                           f"Resume with: {self.resume_command()}")

    def resume_command(self, *extra):
        """The command that resumes this run (None if nothing was saved yet)."""
        if not self._saved:
            return None
        words = self.command + ["--output-dir", str(self.output_dir), "--resume", *extra]
        return " ".join(shlex.quote(w) for w in words)


def _merge(config, saved, typed):
    """The config a resumed run goes on with: :func:`dae.experiments.configs.merge`. A dict
    config (a run of the library) is merged as a Config of its keys and the saved ones, all
    set, of which only ``mode`` may change: it must match the saved one but for its mode."""
    from dae.experiments.configs import ConfigError, merge

    if dataclasses.is_dataclass(config):
        return merge(type(config), saved, config, typed)
    keys = dict.fromkeys([*config, *saved])
    cls = dataclasses.make_dataclass("Config", [(k, object, dataclasses.field(default=None)) for k in keys],
                                     namespace={"MAY_CHANGE": ("mode",)})
    try:
        merge(cls, saved, cls(**config))
    except ConfigError as exc:
        raise SessionError(str(exc)) from None
    return config

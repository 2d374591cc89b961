"""The per-run machinery: checkpoints, exact resume, Ctrl-C, divergence, records, curve."""
import dataclasses
import json
import os
import signal

import numpy as np
import pytensor
import pytest

from dae import io
from dae.dA import dA
from dae.experiments.configs import (Common, ConfigError, option, positive_float, positive_int,
                                     seed_option)
from dae.session import CHECKPOINT, CURVE, METRICS, Interrupted, RunDiverged, Session, SessionError
from dae.stopping import EarlyStopping
from dae.train import compile_step

MODE = "py"  # compiles in a fraction of Numba's time; these graphs are tiny
DATA = (np.random.default_rng(0).random((50, 12)) > 0.5).astype("float32")


@dataclasses.dataclass
class Toy(Common):
    """A config as an experiment declares one."""

    epochs: int = option(3, "epochs", check=positive_int)
    learning_rate: float = option(0.01, "step", check=positive_float)
    rule: str = option("adam", "update rule", choices=("sgd", "adam"))
    seed: int = seed_option(5)


def _args(tmp_path, resume=False, typed=None, **fields):
    config = Toy(output_dir=tmp_path / "run", **fields)
    config.resume, config.typed = resume, typed  # the test's own: how _run opens the session
    return config


def _session(config, name="test", report=None):
    return Session(name, config, report=report, resume=config.resume, typed=config.typed)


class Interrupting:
    """A step that raises SIGINT (as Ctrl-C does) during its ``at``-th call."""

    def __init__(self, step, at):
        self.step, self.at, self.calls = step, at, 0
        self.n_steps, self.state_variables = step.n_steps, step.state_variables

    def __call__(self, i):
        self.calls += 1
        if self.calls == self.at:
            signal.raise_signal(signal.SIGINT)
        return self.step(i)


def _run(args, stages=("one",), interrupt=None, report=None, mode=MODE):
    """Train one dA per stage under a Session, as an experiment does; return the session."""
    session = _session(args, report=report)
    models = {}
    for k, stage in enumerate(stages):
        if session.done(stage):
            continue
        rng = np.random.RandomState(args.seed + k)
        model = dA(rng, theano_rng=rng.randint(2**30), n_visible=12, n_hidden=5)
        cost, updates = model.get_cost_updates(0.3, args.learning_rate, update_rule=args.rule)
        step = compile_step({model.x: pytensor.shared(DATA)}, 10, cost, updates, mode)
        if interrupt and interrupt[0] == stage:
            step = Interrupting(step, interrupt[1])
        session.fit(stage, model, step, args.epochs)
        models[stage] = model
    session.finish()
    session.models = models
    session.config = args  # the test's view; the session's own merged config is checked elsewhere
    return session


def _values(model):
    return [p.get_value() for p in model.params]


def _assert_same(a, b):
    for x, y in zip(_values(a), _values(b)):
        np.testing.assert_array_equal(x, y)


def _metrics(args):
    return [json.loads(line) for line in (args.output_dir / METRICS).read_text().splitlines()]


def test_checkpoint_every_epoch_and_records(tmp_path):
    lines = []
    args = _args(tmp_path)
    session = _run(args, report=lines.append)
    record = io.read(args.output_dir / CHECKPOINT)
    training = record.info["training"]
    assert training["stage"] == "one" and training["epochs"] == 3 and training["finished"]
    assert [n for n, _ in record.state] == ["t", "m", "v", "m", "v", "m", "v"]  # Adam's state
    assert training["config"]["learning_rate"] == 0.01 and "output_dir" not in training["config"]
    metrics = _metrics(args)
    assert [r["epoch"] for r in metrics] == [0, 1, 2] and metrics == session.history
    assert len(lines) == 3 and lines[0].startswith("one epoch   0  cost ")
    assert metrics[-1]["cost"] < metrics[0]["cost"]


@pytest.mark.parametrize("mode", [MODE, None])  # None: dae's default, Numba
def test_resume_after_more_epochs_is_exact(tmp_path, mode):
    """2 epochs, then resumed to 4, ends bit-identical to 4 epochs at once (Adam's state too)."""
    whole = _run(_args(tmp_path / "a", epochs=4), mode=mode)
    _run(_args(tmp_path / "b", epochs=2), mode=mode)
    resumed = _run(_args(tmp_path / "b", epochs=4, resume=True, typed={"epochs"}),
                   mode=mode)
    _assert_same(whole.models["one"], resumed.models["one"])
    assert _metrics(_args(tmp_path / "b")) == [dict(r, seconds=r2["seconds"]) for r, r2 in
                                               zip(whole.history, _metrics(_args(tmp_path / "b")))]


def test_ctrl_c_saves_mid_epoch_and_resume_is_exact(tmp_path):
    whole = _run(_args(tmp_path / "a", epochs=3), stages=("one", "two"))
    args = _args(tmp_path / "b", epochs=3)
    with pytest.raises(Interrupted, match=r"two, epoch 1, step 3 of 5.*--resume"):
        _run(args, stages=("one", "two"), interrupt=("two", 5 + 3))
    training = io.read(args.output_dir / CHECKPOINT).info["training"]
    assert (training["stage"], training["epochs"], training["position"]) == ("two", 1, 3)
    assert training["stages_done"] == ["one"] and not training["finished"]
    assert (args.output_dir / CURVE).exists()
    resumed = _run(_args(tmp_path / "b", resume=True, typed=set()), stages=("one", "two"))
    assert list(resumed.models) == ["two"]  # stage one was done: skipped
    _assert_same(whole.models["two"], resumed.models["two"])
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in whole.history]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in _metrics(args)] == strip


def test_a_diverging_run_keeps_the_last_good_checkpoint(tmp_path):
    args = _args(tmp_path, epochs=5)
    session = _session(args)
    model, step = _model_and_step(0.1)
    calls = []

    def blows_up(i):  # the cost turns NaN in the third epoch
        calls.append(i)
        return np.float32("nan") if len(calls) > 10 else step(i)
    blows_up.n_steps, blows_up.state_variables = step.n_steps, step.state_variables
    with pytest.raises(RunDiverged, match=r"cost became nan in epoch 2 of s.*kept.*--learning-rate 0.001"):
        session.fit("s", model, blows_up, 5)
    record = io.read(args.output_dir / CHECKPOINT)
    assert record.info["training"]["epochs"] == 2 and all(np.isfinite(p).all() for p in record.params)
    assert len(_metrics(args)) == 2


def test_resume_refuses_what_would_lose_or_mix_runs(tmp_path):
    args = _args(tmp_path, epochs=2)
    with pytest.raises(SessionError, match="nothing to resume"):
        _session(_args(tmp_path, resume=True))
    with pytest.raises(Interrupted):
        _run(args, interrupt=("one", 2))
    with pytest.raises(SessionError, match="unfinished run.*--resume"):
        _session(_args(tmp_path))  # a fresh run would overwrite the checkpoint
    with pytest.raises(SessionError, match="not of other"):
        _session(_args(tmp_path, resume=True), "other")
    with pytest.raises(ConfigError, match="--seed 6 differs .*--seed 5"):
        _session(_args(tmp_path, resume=True, seed=6, typed={"seed"}))
    resumed = _args(tmp_path, resume=True, seed=99, learning_rate=0.5, typed={"learning_rate"})
    resumed = _session(resumed)
    # the saved seed back (not typed); a field that may change, typed, kept
    assert resumed.config.seed == 5 and resumed.config.learning_rate == 0.5


def test_one_epoch_at_a_time_with_extra_entries(tmp_path):
    """An early-stopping loop calls fit once per epoch and adds its validation error."""
    args = _args(tmp_path, rule="sgd")
    session = _session(args)
    model = dA(np.random.RandomState(0), n_visible=12, n_hidden=5)
    cost, updates = model.get_cost_updates(0.3, 0.1)
    step = compile_step({model.x: pytensor.shared(DATA)}, 10, cost, updates, MODE)
    for epoch in range(1, 4):
        assert session.epochs_done("fine") == epoch - 1
        session.fit("fine", model, step, epoch, on_epoch=lambda r: r.update(valid=1 / (r["epoch"] + 1)))
    assert [(r["epoch"], r["valid"]) for r in _metrics(args)] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert io.read(args.output_dir / CHECKPOINT).info["training"]["epochs"] == 3


def test_extra_state_such_as_a_decaying_learning_rate_is_restored(tmp_path):
    def run(args, interrupt=None):
        session = _session(args)
        model = dA(np.random.RandomState(0), n_visible=12, n_hidden=5)
        rate = pytensor.shared(np.float32(0.4), name="learning_rate")
        cost, updates = model.get_cost_updates(0.3, rate)
        step = compile_step({model.x: pytensor.shared(DATA)}, 10, cost, updates, MODE)
        session.fit("s", model, step if interrupt is None else Interrupting(step, interrupt), 3,
                    on_epoch=lambda r: rate.set_value(rate.get_value() * np.float32(0.5)), state=[rate])
        return model, rate
    whole, whole_rate = run(_args(tmp_path / "a"))
    with pytest.raises(Interrupted):
        run(_args(tmp_path / "b"), interrupt=7)  # in the second epoch: the rate was halved once
    resumed, resumed_rate = run(_args(tmp_path / "b", resume=True, typed=set()))
    assert resumed_rate.get_value() == whole_rate.get_value() == np.float32(0.05)
    _assert_same(whole, resumed)


def test_early_stopping_state_is_kept_and_a_stopped_stage_is_not_trained_again(tmp_path):
    """on_epoch returning True ends a stage; the stopper's state survives Ctrl-C and resume."""
    def run(args, interrupt=None):
        with _session(args) as session:
            model = dA(np.random.RandomState(0), n_visible=12, n_hidden=5)
            cost, updates = model.get_cost_updates(0.3, 0.1)
            step = compile_step({model.x: pytensor.shared(DATA)}, 10, cost, updates, MODE)
            stopper = EarlyStopping(patience=20)
            scores = iter([0.5, 0.4, 0.45, 0.44, 0.43, 0.1])

            def on_epoch(record):
                stopper.update(record["epoch"] * 5 + 4, next(scores), epoch=record["epoch"])
                return not stopper.validates_at((record["epoch"] + 2) * 5 - 1)
            records = session.fit("s", model, step if interrupt is None else Interrupting(step, interrupt),
                                  50, on_epoch=on_epoch, keep=[stopper])
            session.finish()
        return model, stopper, records
    whole, stopper, records = run(_args(tmp_path / "a"))
    assert len(records) == 4 and stopper.best_error == 0.4  # patience 20 runs out in epoch 4
    with pytest.raises(Interrupted):
        run(_args(tmp_path / "b"), interrupt=12)
    resumed, resumed_stopper, _ = run(_args(tmp_path / "b", resume=True, typed=set()))
    assert resumed_stopper.state_dict() == stopper.state_dict()
    _assert_same(whole, resumed)
    assert [r["epoch"] for r in _metrics(_args(tmp_path / "b"))] == [0, 1, 2, 3]


def test_a_cost_that_grows_tenfold_is_a_divergence(tmp_path):
    args = _args(tmp_path, epochs=4)
    session = _session(args)
    model, step = _model_and_step(0.01)
    calls = []

    def grows(i):
        calls.append(i)
        value = step(i)
        return value * 20 if len(calls) > 5 else value
    grows.n_steps, grows.state_variables = step.n_steps, step.state_variables
    with pytest.raises(RunDiverged, match=r"over 10 times its first epoch's.* in epoch 1 of s"):
        session.fit("s", model, grows, 4)
    assert io.read(args.output_dir / CHECKPOINT).info["training"]["epochs"] == 1


def test_sigterm_stops_like_ctrl_c_and_a_result_stage_runs_once(tmp_path):
    args = _args(tmp_path, epochs=1)
    runs = []

    def compute(check):
        runs.append(1)
        signal.raise_signal(signal.SIGTERM)
        check()
        return {"never": 1}
    with pytest.raises(Interrupted, match="interrupted in evaluate"):
        with _session(args) as session:
            session.fit("s", dA(np.random.RandomState(0), n_visible=12, n_hidden=5),
                        _step(), 1)
            session.run("evaluate", compute)
    with _session(_args(tmp_path, resume=True, typed=set())) as session:
        session.fit("s", dA(np.random.RandomState(0), n_visible=12, n_hidden=5), _step(), 1)
        assert session.run("evaluate", lambda check: {"nll": 88.5}) == {"nll": 88.5}
        session.finish()
    with _session(_args(tmp_path, resume=True, typed=set())) as session:
        assert session.run("evaluate", compute) == {"nll": 88.5}  # kept: not computed again
    assert len(runs) == 1


def _model_and_step(rate):
    model = dA(np.random.RandomState(0), n_visible=12, n_hidden=5)
    cost, updates = model.get_cost_updates(0.3, rate)
    return model, compile_step({model.x: pytensor.shared(DATA)}, 10, cost, updates, MODE)


def _step():
    return _model_and_step(0.01)[1]


def test_a_second_session_on_the_folder_is_refused_until_the_first_closes(tmp_path):
    args = _args(tmp_path)
    with _session(args):
        with pytest.raises(SessionError, match=r"in use by another run \(process %d" % os.getpid()):
            _session(_args(tmp_path))
    with _session(_args(tmp_path)):
        pass


def test_fit_returns_the_epochs_run_now_as_a_history(tmp_path):
    from dae.train import History

    model, step = _model_and_step(0.01)
    with _session(_args(tmp_path)) as session:
        history = session.fit("one", model, step, 2)
    assert isinstance(history, History) and [r["epoch"] for r in history] == [0, 1]
    assert repr(history).startswith("History(2 epochs: one 2; last one epoch 1: cost ")


def test_a_session_epoch_adds_next_to_nothing_per_step(tmp_path):
    """Issue 22 item 5: the session's work is per epoch (checkpoint, metrics, the line), not
    per minibatch: over a step that costs nothing, an epoch of 20,000 steps with a progress
    bar stays far below 50 us a step (5% of a dA step at batch 20)."""
    import io as _io
    import time

    from tqdm import tqdm

    class Free:
        n_steps, value = 20000, np.float32(1.5)

        def __call__(self, index):
            return self.value

        def state_variables(self):
            return []

    def bar(description):
        return lambda batches, epoch: tqdm(batches, file=_io.StringIO(), mininterval=0.5)

    model, ends = dA(np.random.RandomState(0), n_visible=12, n_hidden=5), []
    with Session("test", {"mode": "py"}, output_dir=tmp_path / "run", progress=bar) as session:
        # from one epoch's hook to the next: an epoch's steps, checks and epoch-end work
        session.fit("s", model, Free(), 4, on_epoch=lambda record: ends.append(time.perf_counter()))
    seconds = min(np.diff(ends))
    assert seconds / Free.n_steps < 50e-6, f"{1e6 * seconds / Free.n_steps:.1f} us a step"

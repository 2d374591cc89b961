"""dae.stopping: the tutorials' early-stopping rule, and its state through a checkpoint."""
import json
import math

import pytest

from dae.stopping import EarlyStopping


def _run(stopper, errors, start=0):
    """Feed validation errors, one per 10 minibatches; the decisions taken."""
    decisions = []
    for i, error in enumerate(errors, start):
        iteration = 10 * (i + 1)
        decisions.append((stopper.update(iteration, error, epoch=i), stopper.should_stop(iteration)))
    return decisions


def test_state_round_trips_through_json_and_continues_identically():
    errors = [0.5, 0.4, 0.41, 0.3, 0.3, 0.29, 0.35, 0.36, 0.37, 0.38, 0.39, 0.4]
    whole = EarlyStopping(patience=20)
    expected = _run(whole, errors)
    first = EarlyStopping(patience=20)
    decisions = _run(first, errors[:5])
    state = json.loads(json.dumps(first.state_dict(), allow_nan=False))  # JSON values only
    resumed = EarlyStopping(patience=1, patience_increase=3.0).load_state_dict(state)
    decisions += _run(resumed, errors[5:], start=5)
    assert decisions == expected and resumed.state_dict() == whole.state_dict()


def test_fresh_state_has_no_best_yet():
    state = EarlyStopping(patience=5).state_dict()
    assert state["best_error"] is None and state["best_epoch"] is None
    assert math.isinf(EarlyStopping(patience=9).load_state_dict(state).best_error)


def test_bad_state_says_what_was_expected():
    stopper = EarlyStopping(patience=5)
    with pytest.raises(ValueError, match=r"a dict with keys \['best_epoch'"):
        stopper.load_state_dict({"patience": 5})
    state = stopper.state_dict()
    with pytest.raises(ValueError, match="patience must be a positive int"):
        stopper.load_state_dict({**state, "patience": 0})


def test_patience_must_be_a_positive_int():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=2.5)

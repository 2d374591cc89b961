"""dae.stopping: the tutorials' early-stopping rule, and its state through a checkpoint."""
import json
import math

import numpy as np
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


# -- the tutorial's rule, as the SdA experiment drives it -----------------------------
def tutorial_loop(errors, n_train_batches, patience):
    """The tutorial's fine-tuning loop, transcribed; returns (validated epochs, best error, best epoch)."""
    patience_increase, improvement_threshold = 2.0, 0.995
    validation_frequency = min(n_train_batches, patience // 2)
    best, best_epoch, validated, epoch = np.inf, None, [], 0
    while epoch < len(errors):
        epoch += 1
        for minibatch_index in range(n_train_batches):
            it = (epoch - 1) * n_train_batches + minibatch_index
            if (it + 1) % validation_frequency == 0:
                this = errors[epoch - 1]
                validated.append(epoch)
                if this < best:
                    if this < best * improvement_threshold:
                        patience = max(patience, it * patience_increase)
                    best, best_epoch = this, epoch
            if patience <= it:
                return validated, best, best_epoch
    return validated, best, best_epoch


def epoch_loop(errors, n_train_batches, patience):
    """How dae.experiments.SdA drives EarlyStopping: whole epochs, one validation each."""
    stopper, validated = EarlyStopping(patience), []
    assert stopper.validation_frequency(n_train_batches) == n_train_batches
    for epoch in range(1, len(errors) + 1):
        iteration = epoch * n_train_batches - 1
        validated.append(epoch)
        stopper.update(iteration, errors[epoch - 1], epoch=epoch)
        if not stopper.validates_at(iteration + n_train_batches):
            break
    return validated, stopper.best_error, stopper.best_epoch


def test_early_stopping_on_a_scripted_sequence():
    # n = 10 minibatches an epoch, patience 100: epochs 1, 2 and 4 improve by more than
    # 0.5%, epoch 3 by less (a new best that does not extend patience); patience stays
    # max(100, 2 * 39) = 100, so the tutorial stops at minibatch 100, epoch 11's first,
    # having validated epochs 1..10.
    errors = [0.5, 0.4, 0.399, 0.3, 0.3] + [0.31] * 20
    stopper, news = EarlyStopping(100), []
    for epoch, e in enumerate(errors[:10], start=1):
        news.append(stopper.update(epoch * 10 - 1, e, epoch=epoch))
        assert stopper.validates_at(epoch * 10 + 9) == (epoch < 10)
    assert news == [True, True, True, True] + [False] * 6
    assert (stopper.best_error, stopper.best_epoch, stopper.best_iteration) == (0.3, 4, 39)
    assert stopper.patience == 100 and not stopper.should_stop(99) and stopper.should_stop(100)
    assert epoch_loop(errors, 10, 100) == tutorial_loop(errors, 10, 100) == (list(range(1, 11)), 0.3, 4)


def test_significant_improvement_extends_patience():
    stopper = EarlyStopping(100)
    stopper.update(599, 0.2)
    assert stopper.patience == 1198
    stopper.update(699, 0.1999)  # better, but by less than 0.5%
    assert stopper.patience == 1198 and stopper.best_error == 0.1999


@pytest.mark.parametrize("seed", range(20))
def test_epoch_loop_validates_exactly_what_the_tutorial_validates(seed):
    r = np.random.default_rng(seed)
    errors = list(np.minimum.accumulate(r.uniform(0.01, 0.1, 200)) * r.uniform(1, 1.02, 200))
    n, patience_factor = int(r.integers(2, 50)), int(r.integers(2, 12))
    patience = patience_factor * n
    assert epoch_loop(errors, n, patience) == tutorial_loop(errors, n, patience)


def test_early_stopping_rejects_bad_settings():
    for patience in (0, 2.5):
        with pytest.raises(ValueError, match="patience must be a positive int"):
            EarlyStopping(patience)
    with pytest.raises(ValueError, match="improvement_threshold"):
        EarlyStopping(10, improvement_threshold=1.5)

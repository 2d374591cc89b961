"""The tutorials' early-stopping rule, as a small pure-Python object.

The deeplearning.net MLP, CNN and SdA scripts keep it in loose locals::

    patience = 10 * n_train_batches      # look at this many minibatches at least
    patience_increase = 2                # wait this much longer on a new best
    improvement_threshold = 0.995        # a relative improvement this large counts
    validation_frequency = min(n_train_batches, patience // 2)

After training minibatch ``iteration`` (counted from 0 over all epochs), every
``validation_frequency`` minibatches the validation error e is measured::

    if e < best:
        if e < best * improvement_threshold:
            patience = max(patience, iteration * patience_increase)
        best = e                          # a new best: the test error is measured
    stop when patience <= iteration

:class:`EarlyStopping` holds that state; the caller trains, measures and asks.
"""
import math

from dae.checks import positive_int


class EarlyStopping:
    """Patience-based early stopping on a validation error (lower is better).

    Parameters
    ----------
    patience : int
        Minimum number of minibatches to train (the tutorials: 10 * n_train_batches).
    patience_increase : float
        On a significant improvement at ``iteration``, patience grows to at least
        ``iteration * patience_increase``.
    improvement_threshold : float in (0, 1]
        An error below ``best * improvement_threshold`` is significant.

    Attributes
    ----------
    patience, best_error (inf before the first update), best_iteration,
    best_epoch (the epoch passed with the best error; None until then).
    """

    def __init__(self, patience, patience_increase=2.0, improvement_threshold=0.995):
        patience = positive_int(patience, "patience")  # in minibatches
        if not patience_increase >= 1:
            raise ValueError(f"patience_increase must be >= 1, got {patience_increase!r}")
        if not 0 < improvement_threshold <= 1:
            raise ValueError(f"improvement_threshold must be in (0, 1], got {improvement_threshold!r}")
        self.patience = patience
        self.patience_increase = patience_increase
        self.improvement_threshold = improvement_threshold
        self.best_error = math.inf
        self.best_iteration = None
        self.best_epoch = None

    def validation_frequency(self, n_train_batches):
        """The tutorials' ``min(n_train_batches, patience // 2)``, at least 1."""
        return max(1, min(n_train_batches, self.patience // 2))

    def update(self, iteration, validation_error, epoch=None):
        """Record the validation error measured after minibatch ``iteration``.

        Returns True when it is a new best (the moment the tutorials measure the
        test error).
        """
        if not self.best_error > validation_error:  # also False for NaN
            return False
        if validation_error < self.best_error * self.improvement_threshold:
            self.patience = max(self.patience, int(iteration * self.patience_increase))
        self.best_error = float(validation_error)
        self.best_iteration, self.best_epoch = iteration, epoch
        return True

    def should_stop(self, iteration):
        """True once patience <= iteration: the tutorials' test after each minibatch."""
        return self.patience <= iteration

    def validates_at(self, iteration):
        """Whether the tutorials' loop gets to the validation after minibatch ``iteration``.

        The loop tests patience after every minibatch, the validation of a
        minibatch coming before its test; so a caller that trains whole epochs
        and validates after each one stops when this is False for the next
        epoch's last minibatch: the tutorial would have stopped within that
        epoch, and nothing it trained there could have counted.
        """
        return not self.should_stop(iteration - 1)

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self):
        """Everything :meth:`load_state_dict` needs, as JSON values (``best_error`` None while inf)."""
        return {"patience": self.patience, "patience_increase": self.patience_increase,
                "improvement_threshold": self.improvement_threshold,
                "best_error": None if math.isinf(self.best_error) else self.best_error,
                "best_iteration": self.best_iteration, "best_epoch": self.best_epoch}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (a resumed run continues exactly)."""
        expected = set(self.state_dict())
        if not isinstance(state, dict) or set(state) != expected:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"early-stopping state must be a dict with keys {sorted(expected)}, "
                             f"got {got}; pass what EarlyStopping.state_dict() returned")
        restored = EarlyStopping(state["patience"], state["patience_increase"],
                                 state["improvement_threshold"])  # checks the three
        self.patience = restored.patience
        self.patience_increase = restored.patience_increase
        self.improvement_threshold = restored.improvement_threshold
        self.best_error = math.inf if state["best_error"] is None else float(state["best_error"])
        self.best_iteration, self.best_epoch = state["best_iteration"], state["best_epoch"]
        return self

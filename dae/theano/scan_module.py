"""``theano.scan`` and ``theano.scan_module``: PyTensor's scan, with Theano's stream updates.

Theano's scan returned, in its updates, the next state of every random stream
drawn inside its step, and code passes them on to ``theano.function``
(rbm.py's Gibbs chain: ``updates`` from scan, then ``updates[param] = ...``).
PyTensor's scan learns a step's updates only from what the step returns (or
the deprecated ``default_update``), so :func:`scan` wraps the step: it adds
``(generator, next state)`` for each draw the step computes
(:func:`dae.theano.streams.computed_draws`, stopped at the step's
arguments), and PyTensor's scan threads each generator through the loop and
returns its state after the last step, as Theano's did. A generator the step
updates itself keeps the step's update.
"""
import warnings
from functools import wraps

from pytensor.scan import op as scan_op  # noqa: F401
from pytensor.scan import utils as scan_utils  # noqa: F401  (equal_computations, ...)
from pytensor.scan.basic import get_updates_and_outputs
from pytensor.scan.basic import scan as _pytensor_scan

from dae.theano.streams import computed_draws

__all__ = ["scan"]


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         truncate_gradient=-1, go_backwards=False, mode=None, name=None, profile=False,
         allow_gc=None, strict=False, return_list=False):
    """Theano's ``theano.scan(fn, ...)``: returns ``(outputs, updates)``.

    Arguments are Theano's (and PyTensor's). ``updates`` is an ordered dict
    holding the updates the step returned and the next state of each stream
    drawn in the step; pass it to ``theano.function(..., updates=updates)``
    to advance them.
    """
    @wraps(fn)
    def step(*args):
        condition, outputs, updates = get_updates_and_outputs(fn(*args))
        roots = outputs + list(updates.values()) + ([condition] if condition is not None else [])
        for rng, after in computed_draws(roots, stop=args):
            updates.setdefault(rng, after)
        result = (outputs, updates)
        return result if condition is None else (*result, scan_utils.until(condition))

    with warnings.catch_warnings():
        # PyTensor announces that scan will stop returning updates: Theano's always did.
        warnings.filterwarnings("ignore", "Scan return signature will change",
                                DeprecationWarning)
        return _pytensor_scan(step, sequences=sequences, outputs_info=outputs_info,
                              non_sequences=non_sequences, n_steps=n_steps,
                              truncate_gradient=truncate_gradient, go_backwards=go_backwards,
                              mode=mode, name=name, profile=profile, allow_gc=allow_gc,
                              strict=strict, return_list=return_list, return_updates=True)

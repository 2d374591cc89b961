"""Ctrl-C and SIGTERM, handled in one place for the whole process.

Bare :func:`dae.train.fit`, a :class:`dae.session.Session`, L-BFGS, the report
and the ``dae`` command all use this module's one handler. A press is recorded
first, then acted on:

* inside a :func:`stoppable` block (a training loop between its steps, an
  evaluation between its batches) it only asks: the work stops at its next
  :func:`requested` check, where the caller saves what it has;
* anywhere else (a compile, an import, a save) it raises ``KeyboardInterrupt``
  at once, and the request stays recorded: if the interrupted code swallows the
  exception (Python 3.11 turns one that lands in an import into an error some
  libraries catch), the next :func:`check`, at the next stage boundary, raises
  again. A request is never lost;
* a second press raises at once, wherever the program is.

Only the main thread has signal handlers; elsewhere these functions do nothing
and Ctrl-C is Python's.
"""
import contextlib
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state = {"presses": 0, "depth": 0, "previous": None}


class StopRequested(KeyboardInterrupt):
    """Raised by :func:`check` when Ctrl-C or SIGTERM asked the process to stop."""


def _handler(signum, frame):
    _state["presses"] += 1
    if _state["presses"] > 1 or _state["depth"] == 0:
        raise KeyboardInterrupt  # outside a loop that stops cleanly, or pressed twice: at once


def installed():
    return signal.getsignal(signal.SIGINT) is _handler


def install(replace=False):
    """Put the handler in place for SIGINT and SIGTERM (idempotent). True if it is in place.

    It replaces Python's own handlers (a notebook kernel's Ctrl-C is Python's
    ``default_int_handler``); a handler someone else installed keeps the signal
    unless ``replace`` (a run that owns the process: the CLI, a session).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    if installed():
        return True
    current = signal.getsignal(signal.SIGINT)
    if not replace and current not in (signal.default_int_handler, signal.SIG_DFL, None):
        return False
    _state["previous"] = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, _handler)
    return True


def uninstall():
    """Put back the handlers :func:`install` replaced, and forget any request."""
    if installed() and _state["previous"] is not None:
        for s, previous in _state["previous"].items():
            signal.signal(s, previous if previous is not None else signal.SIG_DFL)
    _state.update(presses=0, previous=None)  # the depth is the stoppable blocks' own count


@contextlib.contextmanager
def handling():
    """The handler in place for the block (installed and removed here if it was not)."""
    own = not installed() and install()
    try:
        yield installed()
    finally:
        if own:
            uninstall()


@contextlib.contextmanager
def stoppable():
    """A block whose work checks :func:`requested` often: a first press only asks."""
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1


@contextlib.contextmanager
def deferred():
    """A block that must run whole (a JAX step, which consumes its inputs' buffers, and the
    writing of its new values): a press inside it is acted on when it ends, as it would have
    been just after it: raised there outside a :func:`stoppable` block, recorded inside one.
    A second press raises at once, as everywhere."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with handling():
        before = _state["presses"]
        _state["depth"] += 1
        try:
            yield
        finally:
            _state["depth"] -= 1
        if _state["presses"] > before and _state["depth"] == 0:
            raise KeyboardInterrupt


def requested():
    """True once Ctrl-C or SIGTERM was received (until :func:`clear`)."""
    return _state["presses"] > 0


def check():
    """Raise :class:`StopRequested` if a stop was requested: call it at stage boundaries."""
    if requested():
        raise StopRequested


def clear():
    _state["presses"] = 0


def by_user(exc):
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

"""Full-batch L-BFGS for any dae model: SciPy's L-BFGS-B over the flattened parameters.

UFLDL trained its sparse autoencoder this way: the cost of the whole training
set, its exact gradient, and a quasi-Newton method. With theta the model's
parameters laid end to end (float64, as SciPy wants them)::

    (1) theta = [vec(p_1), ..., vec(p_m)]
    (2) f(theta) = cost(X; theta),  g(theta) = d f / d theta    PyTensor's graph and grad,
                                                                 compiled once
    (3) theta_{t+1} = theta_t - a_t H_t g(theta_t)               H_t the inverse-Hessian
                                                                 estimate of the last
                                                                 ``memory`` pairs
        (s_i, y_i) = (theta_{i+1} - theta_i, g_{i+1} - g_i), a_t from a Wolfe line search

The cost must be deterministic (no corruption, no sampling): the line search
compares values of one function, and random draws would not advance anyway
(the compiled function has no updates). With ``batch_size`` the data are cut
into pieces and the mean recombined in float64, which is exact only for a
cost that is a mean over examples plus terms of the parameters alone (weight
decay); the sA's KL term reads the mean activation of the whole batch, so it
needs ``batch_size=None``, the default: all of X in one call.

:class:`LBFGSStep` wraps rounds of L-BFGS as the "epochs" of a
:class:`dae.session.Session`, so a run is checkpointed between rounds.
Nothing here prints: progress goes to ``callback``.
"""
import time
from dataclasses import dataclass, field

import numpy as np
import pytensor
import pytensor.tensor as pt
import scipy.optimize

from dae import interrupt
from dae.checks import positive_int
from dae.config import get_mode


@dataclass
class LBFGSResult:
    """What :func:`lbfgs` did. ``cost`` is the best cost seen, whose parameters the
    model now holds; ``history`` one record per iteration (see :func:`lbfgs`)."""
    cost: float
    iterations: int
    evaluations: int
    converged: bool
    interrupted: bool
    message: str
    history: list = field(default_factory=list)


def _inputs(model, data):
    """``{symbolic input: array}`` from an array (the model's ``x``) or a dict, checked."""
    if not isinstance(data, dict):
        data = {model.x: data}
    checked, n = {}, set()
    for var, value in data.items():
        value = np.asarray(value, dtype=var.type.dtype)
        if value.ndim != var.type.ndim:
            raise ValueError(f"the data for {var} are {value.ndim}-d, expected {var.type.ndim}-d")
        checked[var] = value
        n.add(len(value))
    if len(n) != 1 or 0 in n:
        raise ValueError(f"the data must hold the same non-zero number of rows for each input, got {sorted(n)}")
    return checked


class _Objective:
    """f and g of eq. (2) at a float64 theta; remembers the best theta evaluated."""

    def __init__(self, params, cost, data, batch_size, mode):
        self.params = list(params)
        self.shapes = [p.get_value(borrow=True).shape for p in self.params]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.dtypes = [p.get_value(borrow=True).dtype for p in self.params]
        variables = list(data)
        inputs = [v.type() for v in variables]  # fresh inputs, so the model's x stays free
        self.function = pytensor.function(inputs, [cost] + pt.grad(cost, self.params),
                                          givens=list(zip(variables, inputs)),
                                          mode=get_mode(mode), on_unused_input="ignore")
        self.arrays = list(data.values())
        self.n = len(self.arrays[0])
        self.batch_size = self.n if batch_size is None else positive_int(batch_size, "batch_size")
        self.evaluations, self.best_cost, self.best_theta, self.last_grad = 0, np.inf, None, None

    def theta(self):
        return np.concatenate([p.get_value(borrow=True).ravel().astype(np.float64) for p in self.params])

    def assign(self, theta):
        offset = 0
        for p, shape, size, dtype in zip(self.params, self.shapes, self.sizes, self.dtypes):
            p.set_value(theta[offset:offset + size].reshape(shape).astype(dtype), borrow=True)
            offset += size

    def __call__(self, theta):
        self.assign(theta)
        cost, grads = 0.0, [np.zeros(size) for size in self.sizes]
        for start in range(0, self.n, self.batch_size):
            pieces = [a[start:start + self.batch_size] for a in self.arrays]
            weight = len(pieces[0]) / self.n  # each piece's mean counts by its rows, in float64
            out = self.function(*pieces)
            cost += weight * float(out[0])
            for total, g in zip(grads, out[1:]):
                total += weight * np.asarray(g, dtype=np.float64).ravel()
        self.evaluations += 1
        if not np.isfinite(cost):
            # the line search backs off from an infinite value; NaN would end it in confusion
            return np.inf, np.zeros(sum(self.sizes))
        grad = np.concatenate(grads)
        self.last_grad = grad  # the line search's last point is the iterate SciPy accepts
        if cost < self.best_cost:
            self.best_cost, self.best_theta = cost, theta.copy()
        return cost, grad


def lbfgs(model, cost, data, max_iter=400, params=None, batch_size=None, memory=10,
          gtol=1e-7, callback=None, mode=None):
    """Minimize ``cost`` over the whole of ``data`` with L-BFGS, eqs. (1)-(3); return an :class:`LBFGSResult`.

    Parameters
    ----------
    model : any dae model (an object with ``params``, and ``x`` when ``data`` is an array)
    cost : symbolic scalar built on the model's inputs (e.g. ``sa.get_cost()[0]``)
    data : array (n, n_visible) for ``model.x``, or a dict ``{symbolic input: array}``
        (``{probe.x: features, probe.y: labels}``); converted to each input's dtype.
    max_iter : int, L-BFGS iterations (each one or a few evaluations of f and g)
    params : shared variables to optimize (``model.params`` by default)
    batch_size : None (all rows in one call) or rows per call, see the module docstring
    memory : int, the pairs (s_i, y_i) kept (SciPy's ``maxcor``)
    gtol : float, stop when the largest |g_i| falls below it
    callback : callable(record) -> bool or None, called after each iteration with
        ``{"iteration", "cost", "grad_norm", "evaluations", "seconds"}``;
        returning True stops.
    mode : compile mode name (see :func:`dae.config.get_mode`)

    On return the model holds the parameters of the lowest cost evaluated, also
    after Ctrl-C, which ends the run early with ``interrupted=True`` instead of
    leaving the parameters wherever the line search was probing.
    """
    positive_int(max_iter, "max_iter")  # before compiling, not after
    objective = _Objective(model.params if params is None else params, cost,
                           _inputs(model, data), batch_size, mode)
    return _minimize(objective, max_iter, memory, gtol, callback)


def _minimize(objective, max_iter, memory, gtol, callback):
    max_iter = positive_int(max_iter, "max_iter")
    objective.best_cost, objective.best_theta = np.inf, None
    evaluations, history, started = objective.evaluations, [], time.perf_counter()

    def on_iteration(intermediate_result):
        record = {"iteration": len(history) + 1, "cost": float(intermediate_result.fun),
                  "grad_norm": float(np.linalg.norm(objective.last_grad)),
                  "evaluations": objective.evaluations - evaluations,
                  "seconds": time.perf_counter() - started}
        history.append(record)
        if interrupt.requested():  # asked to stop (dae.interrupt): end the round with its best
            raise KeyboardInterrupt
        if callback is not None and callback(record):
            raise StopIteration  # SciPy ends the run and returns what it has

    interrupted, message, converged = False, "", False
    try:
        result = scipy.optimize.minimize(objective, objective.theta(), jac=True, method="L-BFGS-B",
                                         callback=on_iteration,
                                         options={"maxiter": max_iter, "maxcor": memory, "gtol": gtol,
                                                  "ftol": 0.0, "maxfun": 4 * max_iter})
        message, converged = str(result.message), bool(result.success)
    except KeyboardInterrupt:
        interrupted, message = True, "interrupted"
    finally:
        if objective.best_theta is not None:
            objective.assign(objective.best_theta)
    return LBFGSResult(cost=float(objective.best_cost), iterations=len(history),
                       evaluations=objective.evaluations - evaluations, converged=converged,
                       interrupted=interrupted, message=message, history=history)


class LBFGSStep:
    """Rounds of :func:`lbfgs` as a session's epochs: ``step(0)`` runs ``iterations``
    L-BFGS iterations from the current parameters and returns ``monitors`` on the
    whole of ``data`` (the cost first).

    Each round starts afresh (the curvature pairs are dropped), so a checkpoint
    between rounds holds all there is and a resumed run ends bit-identical; the
    restart costs a few iterations per round. ``n_steps`` is 1: one call is one
    epoch. A second Ctrl-C inside a round keeps its best parameters and re-raises,
    so the session stops at once with the last checkpoint.
    """

    n_steps = 1

    def __init__(self, model, cost, data, iterations=50, monitors=None, mode=None, params=None,
                 batch_size=None, memory=10, gtol=1e-7, callback=None):
        self.iterations = positive_int(iterations, "iterations")
        self.data = _inputs(model, data)
        self._objective = _Objective(model.params if params is None else params, cost, self.data,
                                     batch_size, mode)
        self._options = (memory, gtol, callback)
        variables = list(self.data)
        inputs = [v.type() for v in variables]
        self._monitors = pytensor.function(inputs, monitors if monitors is not None else [cost],
                                           givens=list(zip(variables, inputs)), mode=get_mode(mode),
                                           on_unused_input="ignore")
        self.results = []

    def __call__(self, index):
        result = _minimize(self._objective, self.iterations, *self._options)
        self.results.append(result)
        if result.interrupted:
            raise KeyboardInterrupt
        return [float(v) for v in self._monitors(*self.data.values())]

    def state_variables(self):
        """None: a round starts afresh from the parameters (see :class:`dae.train.StepProtocol`)."""
        return []

"""dae.updates: each rule minimizes a quadratic, matches a NumPy transcription, stays float32.

The mathematics in Python mode; "no float64 in the compiled graph" in dae's Numba mode.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.traversal import ancestors

from dae import updates
from dae.config import get_mode

# f(theta) = 1/2 sum_i a_i (theta_i - c_i)^2 over a matrix and a vector parameter,
# with curvatures a spread over two decades so a wrong per-coordinate scaling shows.
A = [np.array([[1.0, 4.0, 0.5], [2.0, 0.25, 3.0]]), np.array([1.5, 0.1])]
C = [np.array([[1.0, -2.0, 0.5], [3.0, -1.0, 2.0]]), np.array([-0.5, 4.0])]


def _quadratic(dtype="float32"):
    params = [pytensor.shared(np.zeros_like(c, dtype=dtype), name=f"theta{i}") for i, c in enumerate(C)]
    cost = sum(pt.sum(np.asarray(a, dtype) * pt.sqr(p - np.asarray(c, dtype))) / 2
               for p, a, c in zip(params, A, C))
    return params, cost


def _grads(theta):
    return [a * (t - c) for t, a, c in zip(theta, A, C)]


def _run(rule, steps, dtype="float32", **args):
    params, cost = _quadratic(dtype)
    f = pytensor.function([], cost, updates=getattr(updates, rule)(cost, params, **args),
                          mode=get_mode("py"))
    costs = [float(f()) for _ in range(steps)]
    return [p.get_value() for p in params], costs, f


@pytest.mark.parametrize("rule, args, steps", [
    ("sgd", {"learning_rate": 0.2}, 300),
    ("momentum", {"learning_rate": 0.05, "momentum": 0.9}, 300),
    ("adagrad", {"learning_rate": 1.0}, 300),
    ("adam", {"learning_rate": 0.05}, 600),
])
def test_rule_minimizes_a_quadratic(rule, args, steps):
    theta, costs, _ = _run(rule, steps, **args)
    start = sum(np.sum(a * c**2) / 2 for a, c in zip(A, C))
    assert costs[0] == pytest.approx(start, rel=1e-6), "first call must return the cost at the start"
    for t, c in zip(theta, C):
        np.testing.assert_allclose(t, c, atol=0.05, err_msg=f"{rule} did not reach the minimum")


# -- NumPy transcriptions of the documented rules, float64 ------------------------
def _np_momentum(steps, learning_rate, momentum):
    theta, v = [np.zeros_like(c) for c in C], [np.zeros_like(c) for c in C]
    for _ in range(steps):
        for i, g in enumerate(_grads(theta)):
            v[i] = momentum * v[i] - learning_rate * g
            theta[i] = theta[i] + v[i]
    return theta


def _np_adagrad(steps, learning_rate, epsilon):
    theta, r = [np.zeros_like(c) for c in C], [np.zeros_like(c) for c in C]
    for _ in range(steps):
        for i, g in enumerate(_grads(theta)):
            r[i] = r[i] + g**2
            theta[i] = theta[i] - learning_rate * g / (np.sqrt(r[i]) + epsilon)
    return theta


def _np_adam(steps, learning_rate, beta1, beta2, epsilon):
    """Kingma & Ba (2015), Algorithm 1 with the bias corrections written out."""
    theta, m, v = ([np.zeros_like(c) for c in C] for _ in range(3))
    for t in range(1, steps + 1):
        for i, g in enumerate(_grads(theta)):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g**2
            m_hat, v_hat = m[i] / (1 - beta1**t), v[i] / (1 - beta2**t)
            # dae folds the corrections into the step size (the paper's Section 2), which
            # puts eps / sqrt(1 - beta2^t) where Algorithm 1 has eps
            theta[i] = theta[i] - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon / np.sqrt(1 - beta2**t))
    return theta


@pytest.mark.parametrize("rule, args, reference", [
    ("momentum", {"learning_rate": 0.07, "momentum": 0.8}, _np_momentum),
    ("adagrad", {"learning_rate": 0.3, "epsilon": 0.5}, _np_adagrad),
    ("adam", {"learning_rate": 0.1, "beta1": 0.7, "beta2": 0.9, "epsilon": 0.05}, _np_adam),
])
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-6)])
def test_three_steps_match_numpy(rule, args, reference, dtype, rtol):
    # non-default hyperparameters, so a rule that ignores one of them fails
    theta, _, _ = _run(rule, 3, dtype=dtype, **args)
    expected = reference(3, **args)
    for t, e in zip(theta, expected):
        assert t.dtype == dtype
        np.testing.assert_allclose(t, e, rtol=rtol, atol=1e-12)
    assert not np.allclose(expected[0], reference(2, **args)[0]), "three steps must differ from two"


@pytest.fixture(scope="module")
def every_rule_in_numba():
    """One step of every rule, each on its own float32 quadratic with a symbolic rate, compiled
    together in dae's Numba mode (one compile, not one a rule) and run once:
    ``(function, {rule: (params, update pairs, the rule's outputs in the compiled graph)})``."""
    rules, outputs, pairs = sorted(updates.RULES), [], []
    for rule in rules:
        params, cost = _quadratic("float32")
        learning_rate = pytensor.shared(np.float32(0.01), name="lr")
        outputs.append(cost)
        pairs.append((params, updates.get_rule(rule)(cost, params, learning_rate)))
    f = pytensor.function([], outputs, updates=[pair for _, rule_pairs in pairs for pair in rule_pairs],
                          mode=get_mode("numba"))
    f()
    # The compiled graph's outputs: the costs, then the update of each pair, in order.
    compiled, first = f.maker.fgraph.outputs, len(rules)
    by_rule = {}
    for i, (rule, (params, rule_pairs)) in enumerate(zip(rules, pairs)):
        by_rule[rule] = params, rule_pairs, [compiled[i]] + compiled[first:first + len(rule_pairs)]
        first += len(rule_pairs)
    return f, by_rule


@pytest.mark.parametrize("rule", sorted(updates.RULES))
def test_float32_stays_float32(rule, every_rule_in_numba):
    _, by_rule = every_rule_in_numba
    params, pairs, outputs = by_rule[rule]
    for shared, new in pairs:
        assert new.dtype == shared.dtype, f"{shared.name}: update {new.dtype}, variable {shared.dtype}"
    float64 = [v for v in ancestors(outputs) if getattr(v.type, "dtype", None) == "float64"]
    assert not float64, f"float64 in the compiled {rule} graph: {float64}"
    assert all(p.get_value().dtype == np.float32 for p in params)
    assert not all(np.all(p.get_value() == 0) for p in params), "the step ran and moved theta"


@pytest.mark.parametrize("rule", sorted(updates.RULES))
def test_gradients_instead_of_a_cost(rule):
    params, cost = _quadratic("float64")
    via_cost = pytensor.function([], [], updates=updates.get_rule(rule)(cost, params, 0.1),
                                 mode=get_mode("py"))
    via_cost()
    by_cost = [p.get_value() for p in params]
    params, cost = _quadratic("float64")
    via_grads = pytensor.function([], [], updates=updates.get_rule(rule)(pytensor.grad(cost, params), params, 0.1),
                                  mode=get_mode("py"))
    via_grads()
    for a, b in zip(by_cost, (p.get_value() for p in params)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("rule", sorted(updates.RULES))
def test_wrong_number_of_gradients_raises(rule):
    params, cost = _quadratic()
    grads = pytensor.grad(cost, params)
    with pytest.raises(ValueError, match="got 1 gradients for 2 parameters"):
        updates.get_rule(rule)(grads[:1], params, 0.1)


def test_unknown_rule_names_the_choices():
    with pytest.raises(ValueError, match="sgd, momentum, adagrad, adam"):
        updates.get_rule("rmsprop")

"""dae.VAE and dae.evaluate: the bound's terms, its estimators, the training graph, the experiment."""
import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.special import logsumexp

from dae.config import get_mode
from dae.evaluate import Evaluator, binarize
from dae.random import RandomStreams
from dae.train import compile_step, fit
from dae.VAE import VAE

PY = get_mode("py")  # tiny graphs: compiling for Numba would cost more than running


def _vae(seed=0, **options):
    args = dict(n_visible=12, hidden_layers_sizes=[8], n_latent=3)
    args.update(options)
    rng = np.random.RandomState(seed)
    return VAE(rng, theano_rng=RandomStreams(rng.randint(2**30)), **args)


def _float64(v):
    return [x for x in v if getattr(x.type, "dtype", None) == "float64"]


def test_analytic_kl_matches_monte_carlo():
    """Eq. (6) against the mean of log q(z|x) - log N(z; 0, I) over 200,000 draws of z ~ q."""
    model = _vae(dtype="float64")
    gen = np.random.default_rng(0)
    mu, log_var = gen.normal(size=(4, 3)), gen.normal(scale=1.5, size=(4, 3))
    m, lv = pt.dmatrices("mu", "log_var")
    analytic = pytensor.function([m, lv], model.kl(m, lv), mode=PY)(mu, log_var)
    eps = gen.standard_normal((200_000, 4, 3))
    z = mu + np.exp(log_var / 2) * eps
    log_ratio = np.sum(-log_var / 2 - eps**2 / 2 + z**2 / 2, axis=-1)  # log q - log p, (n, 4)
    standard_error = log_ratio.std(axis=0) / np.sqrt(len(log_ratio))
    np.testing.assert_array_less(np.abs(analytic - log_ratio.mean(axis=0)), 5 * standard_error)
    assert np.all(analytic > 0.5)  # these q are far from the prior: a zero or sign error would show
    zeros = np.zeros((2, 3))
    np.testing.assert_allclose(pytensor.function([m, lv], model.kl(m, lv), mode=PY)(zeros, zeros), 0)


def test_iwae_estimator_converges_to_the_exact_log_likelihood():
    """A 1-D latent model, whose log p(x) quadrature gives exactly, with a fixed q(z|x) = N(0.3, 1.5^2).

    The importance weights are then bounded, so L_k -> log p(x) fast; the check
    covers every constant of eq. (9) (prior, q, Bernoulli likelihood).
    """
    model = _vae(seed=3, n_visible=6, hidden_layers_sizes=[5], n_latent=1, activation="tanh",
                 dtype="float64")
    for layer in model.decoder_layers + [model.output_layer]:
        layer.W.set_value(layer.W.get_value() * 3)
    model.mu_layer.W.set_value(np.zeros((5, 1)))
    model.mu_layer.b.set_value(np.array([0.3]))
    model.log_var_layer.W.set_value(np.zeros((5, 1)))
    model.log_var_layer.b.set_value(np.array([2 * np.log(1.5)]))
    x = (np.random.default_rng(1).random((20, 6)) < 0.5).astype("float64")

    grid = np.linspace(-12, 12, 24001)
    z = pt.matrix("z", dtype="float64")
    logits = pytensor.function([z], model.get_decoder_logits(z), mode=PY)(grid[:, None])  # (grid, 6)
    log_px_z = x @ logits.T - np.logaddexp(0, logits).sum(axis=1)  # (20, grid)
    log_prior = -grid**2 / 2 - np.log(2 * np.pi) / 2
    exact = logsumexp(log_px_z + log_prior, axis=1) + np.log(grid[1] - grid[0])

    evaluator = Evaluator(model, seed=0, mode="py")
    bound = {k: evaluator.iwae(x, k) for k in (1, 10, 20000)}
    # per image the estimate is off by ~0.02 (Monte Carlo); over the 20 images by ~0.005
    np.testing.assert_allclose(bound[20000], exact, atol=0.08)
    assert abs(bound[20000].mean() - exact.mean()) < 0.02
    assert bound[1].mean() < bound[10].mean() < bound[20000].mean()
    assert evaluator.elbo(x).mean() < exact.mean()


@pytest.fixture(scope="module")
def trained(mnist):
    """784-64-10 trained for 10 epochs on 1,000 dynamically binarized MNIST digits (~4 s of CPU)."""
    rng = np.random.RandomState(5)
    model = VAE(rng, theano_rng=RandomStreams(rng.randint(2**30)), hidden_layers_sizes=[64], n_latent=10)
    cost, updates = model.get_cost_updates(3e-3, binarize=True)
    step = compile_step({model.x: pytensor.shared(mnist[0][0][:1000])}, 100, cost, updates, PY)
    history = fit(step, step.n_steps, 10)
    return model, history, binarize(mnist[2][0][:300], seed=0)


def test_training_raises_the_elbo(trained):
    _, history, _ = trained
    elbo = [-r["cost"] for r in history]
    assert elbo[-1] > elbo[0] + 30 and elbo[-1] > elbo[-3], elbo


def test_iwae_bound_is_above_the_elbo_and_rises_with_k(trained):
    """On 300 test digits: ELBO <= L_1 ~ ELBO < L_10 < L_100, each step by > 4 standard errors of the paired difference."""
    model, _, x = trained
    evaluator = Evaluator(model, seed=0, mode=PY)
    elbo = evaluator.elbo(x)
    bound = {k: evaluator.iwae(x, k) for k in (1, 10, 100)}

    def z_score(a, b):
        d = a - b
        return d.mean() / (d.std() / np.sqrt(len(d)))

    assert abs(z_score(bound[1], elbo)) < 4, "L_1 is the ELBO with a sampled KL: same mean"
    assert z_score(bound[10], bound[1]) > 4
    assert z_score(bound[100], bound[10]) > 4
    assert z_score(bound[100], elbo) > 4
    assert np.all(np.isfinite(bound[100])) and bound[100].mean() < 0


def test_evaluation_is_seeded(trained):
    model, _, x = trained
    a, b = (Evaluator(model, seed=7, mode=PY).iwae(x[:20], 5) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, Evaluator(model, seed=8, mode=PY).iwae(x[:20], 5))


def test_gradient_matches_finite_differences(check_gradients):
    """Cost (8) with eps held fixed (no rng update), float64, against central differences."""
    model = _vae(n_visible=5, hidden_layers_sizes=[4], n_latent=2, activation="softplus", dtype="float64")
    x = (np.random.default_rng(2).random((3, 5)) < 0.5).astype("float64")
    cost = model.get_cost()
    f = pytensor.function([model.x], [cost] + pytensor.grad(cost, model.params), mode=PY)
    assert f(x)[0] == f(x)[0], "without the rng update eps must repeat"
    check_gradients(f, model.params, x)


def test_gradients_are_finite_when_the_output_saturates():
    model = _vae(n_visible=4)
    model.output_layer.b.set_value(np.array([80, -80, 80, -80], dtype="float32"))
    cost = model.get_cost()
    f = pytensor.function([model.x], [cost] + pytensor.grad(cost, model.params), mode=PY)
    values = f(np.array([[0, 1, 1, 0], [1, 0, 1, 0]], dtype="float32"))
    assert values[0] > 70  # two pixels off by 80 nats in the first example; log(sigmoid(-80)) = -inf in float32
    for param, value in zip(model.params, values):
        assert np.all(np.isfinite(value)), param


def test_shapes():
    model = _vae(n_visible=12, n_latent=3)
    x = (np.random.default_rng(0).random((5, 12)) < 0.5).astype("float32")
    mu, log_var = model.get_encoder(model.x)
    z = model.sample_latent(mu, log_var)
    outputs = [mu, log_var, z, model.get_reconstructed_input(z), model.elbo(model.x),
               model.log_weights(model.x, 7), model.iwae_bound(model.x, 7)]
    values = pytensor.function([model.x], outputs, mode=PY)(x)
    assert [v.shape for v in values] == [(5, 3), (5, 3), (5, 3), (5, 12), (5,), (5, 7), (5,)]
    assert all(v.dtype == np.float32 for v in values)
    assert np.all((values[3] > 0) & (values[3] < 1))


@pytest.mark.parametrize("binarized", [False, True])
def test_no_float64_in_compiled_graphs(binarized):
    model = _vae()
    data = pytensor.shared(np.random.default_rng(0).random((40, 12), dtype=np.float32))
    cost, updates = model.get_cost_updates(1e-3, binarize=binarized)
    step = compile_step({model.x: data}, 10, cost, updates)
    assert not _float64(step.function.maker.fgraph.variables)
    evaluator = Evaluator(model)
    evaluator.elbo(data.get_value()), evaluator.iwae(data.get_value(), 3)
    for f in (evaluator._elbo, evaluator._iwae):
        assert not _float64(f.maker.fgraph.variables)


def test_dynamic_binarization_is_fresh_each_step():
    model = _vae()
    f = pytensor.function([model.x], model.binarize(model.x), updates=model.theano_rng.updates(), mode=PY)
    x = np.full((200, 12), 0.3, dtype="float32")
    a, b = f(x), f(x)
    assert set(np.unique(a)) <= {0.0, 1.0} and abs(a.mean() - 0.3) < 0.02
    assert not np.array_equal(a, b)


def test_binarize_once_is_seeded_and_checked():
    x = np.random.default_rng(0).random((300, 20))
    a = binarize(x, seed=0)
    np.testing.assert_array_equal(a, binarize(x, seed=0))
    assert not np.array_equal(a, binarize(x, seed=1))
    assert a.dtype == np.float32 and abs(a.mean() - x.mean()) < 0.02
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binarize(x * 255)


def test_gaussian_output_is_the_normal_log_density():
    from scipy.stats import norm
    model = _vae(output="gaussian", dtype="float64")
    model.log_var_x.set_value(np.linspace(-1, 1, 12))
    x, a = pt.dmatrices("x", "a")
    xv, av = np.random.default_rng(0).normal(size=(2, 4, 12))
    got = pytensor.function([x, a], model.log_likelihood(x, a), mode=PY)(xv, av)
    expected = norm.logpdf(xv, av, np.exp(np.linspace(-1, 1, 12) / 2)).sum(axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_hyperparameters_rebuild_the_model():
    model = _vae(output="gaussian", activation="tanh", hidden_layers_sizes=[8, 6])
    again = VAE(np.random.RandomState(0), **model.hyperparameters())
    assert [p.name for p in again.params] == [p.name for p in model.params]
    assert [p.get_value().shape for p in again.params] == [p.get_value().shape for p in model.params]
    assert json.loads(json.dumps(model.hyperparameters())) == model.hyperparameters()


@pytest.mark.parametrize("options, message", [
    ({"n_latent": 0}, "n_latent must be a positive int"),
    ({"hidden_layers_sizes": 512}, "list of positive ints"),
    ({"hidden_layers_sizes": [512, -1]}, "hidden_layers_sizes must be a positive int"),
    ({"output": "poisson"}, "output must be one of"),
    ({"activation": "swish"}, "activation must be one of"),
])
def test_bad_arguments_say_what_was_expected(options, message):
    with pytest.raises(ValueError, match=message):
        _vae(**options)


def test_evaluator_rejects_bad_input():
    evaluator = Evaluator(_vae(n_visible=12))
    with pytest.raises(ValueError, match=r"shape \(n, 12\)"):
        evaluator.elbo(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="positive int"):
        evaluator.iwae(np.zeros((3, 12)), 0)


def test_experiment_writes_pictures_and_results(mnist, monkeypatch, tmp_path, capsys):
    """``dae train vae`` end to end on 300 digits, 2-D latent: the manifold is 20 x 20 tiles of 28 + 1 pixels."""
    from PIL import Image

    from dae import cli

    small = [(x[:n], y[:n]) for (x, y), n in zip(mnist, (300, 100, 100))]
    monkeypatch.setattr("dae.data.load_mnist", lambda *args, **kwargs: small)
    rc = cli.main(["train", "vae", "--hidden", "32", "--latent", "2", "--epochs", "2", "--k", "20",
                   "--batch-size", "50", "--mode", "py", "--quiet", "--output-dir", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "test NLL" in out and "IWAE k=20" in out and "binarized once, seed 0" in out
    sizes = {name: Image.open(tmp_path / name).size for name in
             ("samples.png", "reconstructions.png", "manifold.png")}
    assert sizes == {"samples.png": (289, 289), "reconstructions.png": (289, 289), "manifold.png": (579, 579)}
    results = json.loads((tmp_path / "results.json").read_text())
    assert "binarized once with seed 0" in results["protocol"] and len(results["history"]) == 2
    from dae import io
    again = io.load(tmp_path / "vae.npz")
    assert type(again).__name__ == "VAE" and again.n_latent == 2
    # the numbers are the library's own, on the protocol the results state: the saved model's
    # ELBO and IWAE bound on the test digits binarized once with seed 0, evaluated with seed 0
    test_bin = binarize(small[2][0], seed=0)
    evaluator = Evaluator(again, seed=0, mode=PY)
    assert results["test_elbo"] == pytest.approx(float(evaluator.elbo(test_bin).mean()), rel=1e-6)
    assert results["test_nll"] == pytest.approx(-float(evaluator.iwae(test_bin, 20).mean()), rel=1e-6)
    # and the IWAE bound is the tighter one: NLL estimate below -ELBO
    assert results["test_nll"] < -results["test_elbo"], results


# -- the beta-VAE and IWAE training objectives, eqs. (10) and (11) ---------------------------------
def _cost_value(seed, x, **options):
    """The training cost of a fresh model drawn from ``seed`` (same weights, same eps)."""
    model = _vae(seed, dtype="float64")
    cost = model.get_cost(**options)
    f = pytensor.function([model.x], cost, updates=model.theano_rng.updates(), mode=PY)
    return f(x)


def test_beta_weighs_the_kl_term_linearly_and_beta_one_is_the_elbo():
    """c(beta) = -log p(x|z) + beta KL with the same draws: c(2) - c(0) = 2 (c(1) - c(0)),
    where c(1) is the unchanged ELBO graph and c(0), c(2) the beta graph."""
    x = (np.random.default_rng(0).random((6, 12)) < 0.5).astype("float64")
    c0, c1, c2 = (_cost_value(3, x, beta=beta) for beta in (0.0, 1.0, 2.0))
    assert c1 - c0 > 0.1  # the KL term is there to weigh
    assert c2 - c0 == pytest.approx(2 * (c1 - c0), rel=1e-10)
    assert c1 == _cost_value(3, x)  # the default is the ELBO, drawn identically


def test_the_iwae_cost_is_a_tighter_bound_than_the_elbo_on_average():
    """E[-L_K] <= E[-ELBO] (Burda et al. 2016, theorem 1), here over 300 draws; K = 1 is the
    ELBO with a sampled KL, the same expectation as the analytic one."""
    model = _vae(5, dtype="float64")
    x = (np.random.default_rng(1).random((4, 12)) < 0.5).astype("float64")
    costs = {}
    for name, options in (("elbo", {}), ("k1", {"iwae": 1}), ("k20", {"iwae": 20})):
        f = pytensor.function([model.x], model.get_cost(**options),
                              updates=model.theano_rng.updates(), mode=PY)
        draws = np.array([f(x) for _ in range(300)])
        costs[name] = (draws.mean(), draws.std() / np.sqrt(len(draws)))
    assert costs["k20"][0] < costs["elbo"][0] - 5 * costs["elbo"][1]
    assert abs(costs["k1"][0] - costs["elbo"][0]) < 5 * np.hypot(costs["k1"][1], costs["elbo"][1])


def test_training_on_the_iwae_bound_raises_it():
    model = _vae(2)
    x = (np.random.default_rng(2).random((40, 12)) < 0.3).astype("float32")
    cost, updates = model.get_cost_updates(0.01, iwae=5)
    step = compile_step({model.x: x}, 10, cost, updates, PY)
    history = fit(step, step.n_steps, 30)
    assert history[-1]["cost"] < history[0]["cost"] - 1


@pytest.mark.parametrize("options, message", [
    ({"beta": 2.0, "iwae": 5}, "no KL term to weigh"),
    ({"beta": -1.0}, "beta must be a finite number >= 0"),
    ({"beta": float("nan")}, "beta must be a finite number >= 0"),
    ({"iwae": 0}, "iwae"),
])
def test_bad_objectives_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        _vae().get_cost(**options)


def test_experiment_flags_beta_and_iwae(monkeypatch, tmp_path, capsys):
    from dae import cli

    gen = np.random.default_rng(0)
    splits = [(gen.random((m, 784), dtype=np.float32), gen.integers(0, 10, m)) for m in (40, 20, 20)]
    monkeypatch.setattr("dae.data.load_mnist", lambda *args, **kwargs: splits)
    tiny = ["--hidden", "8", "--latent", "2", "--epochs", "1", "--k", "3", "--batch-size", "20",
            "--mode", "py", "--quiet"]
    for flags, said in ((["--beta", "4"], "-(log p(x|z) - 4 KL) (beta-VAE)"),
                        (["--iwae", "3"], "-L_3 (IWAE bound, 3 samples)")):
        out = tmp_path / flags[0][2:]
        assert cli.main(["train", "vae", *tiny, *flags, "--output-dir", str(out)]) == 0
        assert said in capsys.readouterr().out
        saved = json.loads((out / "results.json").read_text())["config"][flags[0][2:]]
        assert float(saved) == float(flags[1])
    assert cli.main(["train", "vae", *tiny, "--beta", "2", "--iwae", "3",
                     "--output-dir", str(tmp_path / "both")]) == 1
    assert "no KL term to weigh" in capsys.readouterr().err


def test_repr_names_the_hyperparameters_that_rebuild_the_model():
    vae = VAE(np.random.RandomState(0), n_visible=9, hidden_layers_sizes=[4], n_latent=2)
    assert repr(vae) == ("VAE(n_visible=9, hidden_layers_sizes=[4], n_latent=2, output='bernoulli', "
                         "activation='relu', dtype='float32')")

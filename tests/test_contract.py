"""The model contract (dae.base.Model) kept by every model class, and an import graph without cycles.

Each class io.REGISTRY names, and the base Autoencoder, built small: its hyperparameters come
from its constructor's signature and rebuild it; its repr shows them; it saves and loads
bit-identical; its features and filters have the shapes the contract says.
"""
import ast
import inspect
from pathlib import Path

import numpy as np
import pytensor
import pytest

import dae
from dae import io
from dae.base import Autoencoder, Model
from dae.config import get_mode

MODE = get_mode("py")  # tiny graphs
N_VISIBLE = 12
#: class name: (constructor arguments, features per example, filters per model)
MODELS = {
    "Autoencoder": (dict(n_visible=N_VISIBLE, n_hidden=5, tied=False), 5, 5),
    "dA": (dict(n_visible=N_VISIBLE, n_hidden=5, corruption="gaussian"), 5, 5),
    "cA": (dict(n_visible=N_VISIBLE, n_hidden=4, loss="squared_error"), 4, 4),
    "sA": (dict(n_visible=N_VISIBLE, n_hidden=3, sparsity="l1"), 3, 3),
    "LinearAutoencoder": (dict(n_visible=N_VISIBLE, n_hidden=2, dtype="float64"), 2, 2),
    "SdA": (dict(n_ins=N_VISIBLE, hidden_layers_sizes=[6, 4], n_outs=3, corruption_levels=[0.1, 0.2],
                 layer_type="cA"), 4, 6),
    "VAE": (dict(n_visible=N_VISIBLE, hidden_layers_sizes=[7], n_latent=2, output="gaussian"), 2, 7),
}


def _class(name):
    return Autoencoder if name == "Autoencoder" else io.model_class(name)


def _model(name, seed=0):
    return _class(name)(np.random.RandomState(seed), **MODELS[name][0])


def test_every_saveable_class_is_covered():
    """A class added to the registry without a case here fails, rather than going untested."""
    assert set(io.REGISTRY) <= set(MODELS)
    assert all(issubclass(_class(name), Model) for name in MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_get_params_are_the_constructors_arguments_and_rebuild_the_model(name):
    model, cls = _model(name), _class(name)
    params = model.get_params()
    named = {a for klass in cls.__mro__ if "__init__" in vars(klass)
             for a in inspect.signature(klass.__init__).parameters}
    assert set(params) <= named, "a hyperparameter that no constructor names"
    assert set(MODELS[name][0]) <= set(params), "an argument given that get_params leaves out"
    assert not {"numpy_rng", "theano_rng", "input", "W", "bhid", "bvis"} & set(params)
    for key, value in params.items():  # stored on the model under the argument's own name
        assert getattr(model, key) == value, key
    again = cls(np.random.RandomState(1), **params)
    assert type(again) is cls and again.get_params() == params
    assert [v.get_value().shape for v in again.variables()] == [v.get_value().shape for v in model.variables()]
    assert model.hyperparameters() == params  # the name model files store them by


@pytest.mark.parametrize("name", sorted(MODELS))
def test_repr_shows_the_hyperparameters(name):
    model = _model(name)
    shown = ", ".join(f"{k}={v!r}" for k, v in model.get_params().items())
    assert repr(model) == f"{type(model).__name__}({shown})"


@pytest.mark.parametrize("name", sorted(io.REGISTRY))
def test_save_and_load_round_trip(tmp_path, name):
    model = _model(name)
    for i, var in enumerate(model.variables()):  # values no fresh model has
        var.set_value(np.full(var.get_value().shape, i + 0.25, var.dtype))
    loaded = dae.load(model.save(tmp_path / "m.npz", info={"image_shape": [3, 4]}))
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    assert loaded.saved_info["image_shape"] == [3, 4]
    assert len(loaded.variables()) == len(model.variables())
    for a, b in zip(model.variables(), loaded.variables()):
        assert a.name == b.name
        np.testing.assert_array_equal(a.get_value(), b.get_value())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_features_are_an_array_compiled_once_per_mode(name, monkeypatch):
    model, n_features = _model(name), MODELS[name][1]
    compiles = []
    function = pytensor.function
    monkeypatch.setattr(pytensor, "function", lambda *a, **k: compiles.append(1) or function(*a, **k))
    x = np.random.default_rng(0).random((5, N_VISIBLE))
    first = model.features(x, mode=MODE, batch_size=2)
    assert isinstance(first, np.ndarray) and first.shape == (5, n_features)
    np.testing.assert_array_equal(model.features(x, mode=MODE, batch_size=2), first)
    # another batch size may round the last bit of a float32 product otherwise, nothing more
    np.testing.assert_allclose(model.features(x, mode=MODE), first, rtol=1e-5)
    assert len(compiles) == 1
    with pytest.raises(ValueError, match=rf"expected x of shape \(n, {N_VISIBLE}\)"):
        model.features(x[:, :-1], mode=MODE)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_filters_are_the_first_layers_one_a_row(name):
    model = _model(name)
    assert model.n_visible == N_VISIBLE
    assert model.filters().shape == (MODELS[name][2], N_VISIBLE)


def test_a_model_without_filters_returns_none_and_plots_say_so():
    from dae import plots

    class Plain(Model):
        def __init__(self, numpy_rng, n_visible=3):
            self.n_visible = n_visible

    assert Plain(None).filters() is None
    with pytest.raises(ValueError, match="Plain has no first-layer filters"):
        plots.first_layer_weights(Plain(None))
    with pytest.raises(TypeError, match="expected a dae model"):
        plots.first_layer_weights(object())


def test_a_model_that_cannot_be_described_by_its_signature_fails_loudly():
    class Star(Model):
        def __init__(self, numpy_rng, *sizes):
            self.sizes = sizes

    class Hidden(Model):
        def __init__(self, numpy_rng, n_visible=3):
            self.visible = n_visible  # not under the argument's name

    class Passes(Model):
        def __init__(self, numpy_rng, **options):
            pass

    for model, message in [(Star(None, 3), r"takes \*args"), (Hidden(None), "keeps no attribute 'n_visible'"),
                           (Passes(None), r"passes \*\*options to no constructor")]:
        with pytest.raises(TypeError, match=message):
            model.get_params()


def test_subclass_options_pass_on_to_the_base():
    """dA, cA, sA and LinearAutoencoder pass **options on: the base's hyperparameters follow theirs."""
    from dae.sA import sA

    assert list(sA(np.random.RandomState(0), n_visible=4, n_hidden=2).get_params()) == \
        ["n_visible", "n_hidden", "sparsity", "loss", "tied", "corruption", "dtype"]


# -- no import cycles --------------------------------------------------------------------------
DAE = Path(dae.__file__).parent


def _modules():
    """{module name: path} of dae's modules, dae.theano (Theano's names, a package apart) left out."""
    modules = {}
    for path in sorted(DAE.rglob("*.py")):
        parts = path.relative_to(DAE.parent).with_suffix("").parts
        if parts[:2] == ("dae", "theano"):
            continue
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name, path, modules):
    """The dae modules ``name`` imports, at its top or inside a function, each with a line."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                root = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{root}.{base}" if base else root
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            # dae itself is run by Python before any of its modules, so reading it (its
            # __version__) is never a cycle
            if target in modules and target not in (name, "dae"):
                found.setdefault(target, node.lineno)
    return found


def test_no_module_of_dae_imports_in_a_cycle():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    cycles, done = [], set()

    def visit(name, stack):
        if name in stack:
            cycle = stack[stack.index(name):] + [name]
            cycles.append(", ".join(f"{a} imports {b} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])))
            return
        if name in done:
            return
        for target in graph[name]:
            visit(target, stack + [name])
        done.add(name)

    for name in graph:
        visit(name, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)

"""dae.memory and its use in the models: oversized requests give one clear line, before allocating.

The tests lower the available memory (monkeypatching dae.memory.available_bytes)
instead of allocating anything large.
"""
import io

import numpy as np
import pytest

from dae import memory
from dae.dA import dA
from dae.layers import HiddenLayer, LogisticRegression
from dae.SdA import SdA
from dae.updates import adam, sgd
from dae.VAE import VAE


@pytest.fixture
def little_memory(monkeypatch):
    """The machine has 1 MB available."""
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**6)


def _one_line(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_available_bytes_is_the_machines():
    available = memory.available_bytes()
    assert available is None or 10**6 < available < 10**16


def test_format_bytes():
    assert [memory.format_bytes(n) for n in (5, 999, 5200, 3.14e12, 2e18)] == \
        ["5 B", "999 B", "5.2 kB", "3.14 TB", "2e+03 PB"]


def test_check_says_what_how_much_and_what_to_do(little_memory):
    assert memory.check(10**6, "x", "y") == 10**6
    with pytest.raises(memory.MemoryNeeded) as excinfo:
        memory.check(2 * 10**6, "the thing", "use a smaller thing")
    assert _one_line(excinfo) == ("the thing: 2 MB needed, 1 MB of memory available; "
                                  "use a smaller thing")
    assert isinstance(excinfo.value, ValueError)  # the CLI's user errors


def test_allowance_bounds_the_block_only():
    with memory.allowance(100, "the 50 B the file holds"):
        with pytest.raises(memory.MemoryNeeded, match="101 B needed, more than the 50 B the file"):
            memory.check(101, "a model's parameters", "")
    assert memory.check(101, "a model's parameters", "") == 101


def test_npy_header_reads_the_size_without_the_data():
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                             "shape": (10**6, 10**6)})
    f.seek(0)
    shape, dtype = memory.npy_header(f)  # a 4 TB array, in 128 bytes
    assert shape == (10**6, 10**6) and memory.nbytes(shape, dtype) == 4 * 10**12
    for version in ((2, 0), (3, 0)):
        f = io.BytesIO()
        np.lib.format.write_array(f, np.zeros((2, 3), "<i2"), version=version)
        f.seek(0)
        assert memory.npy_header(f) == ((2, 3), np.dtype("<i2"))


@pytest.mark.parametrize("build, message", [
    (lambda: dA(np.random.RandomState(0), n_visible=784, n_hidden=10**9),
     "784-1000000000 dA's parameters: 3.14 TB needed"),
    (lambda: SdA(np.random.RandomState(0), hidden_layers_sizes=[10**7, 10**7],
                 corruption_levels=[0.1, 0.1]), "784-10000000-10000000-10 SdA's parameters: 400 TB"),
    (lambda: VAE(np.random.RandomState(0), hidden_layers_sizes=[10**7, 10**7]),
     "784-10000000-10000000-50 VAE's parameters: 800 TB"),
])
def test_huge_models_are_refused_before_allocating(build, message):
    with pytest.raises(memory.MemoryNeeded, match=message) as excinfo:
        build()
    assert "memory available; use fewer" in _one_line(excinfo)


def test_the_estimates_count_what_the_constructors_allocate(monkeypatch):
    seen = []
    monkeypatch.setattr(memory, "check", lambda n, what, advice: seen.append((what, n)))
    models = [dA(np.random.RandomState(0), n_visible=12, n_hidden=5, tied=False),
              SdA(np.random.RandomState(0), n_ins=12, hidden_layers_sizes=[5, 4], n_outs=3,
                  corruption_levels=[0.1, 0.1]),
              VAE(np.random.RandomState(0), n_visible=12, hidden_layers_sizes=[5, 4], n_latent=2,
                  output="gaussian")]
    from dae.io import model_variables
    for model in models:
        name = type(model).__name__
        estimate = next(n for what, n in seen if f"{name}'s" in what)
        assert estimate == sum(v.get_value().nbytes for v in model_variables(model)), name


def test_layers_check_their_own_parameters(little_memory):
    with pytest.raises(memory.MemoryNeeded, match="1000-1000 layer's parameters: 4 MB"):
        HiddenLayer(np.random.RandomState(0), None, 1000, 1000)
    with pytest.raises(memory.MemoryNeeded, match="1000-1000 logistic regression's"):
        LogisticRegression(None, 1000, 1000)


def test_adam_refuses_state_that_does_not_fit(monkeypatch):
    model = dA(np.random.RandomState(0), n_visible=784, n_hidden=100)  # 0.32 MB
    cost, _ = model.get_cost()
    monkeypatch.setattr(memory, "available_bytes", lambda: 5 * 10**5)
    sgd(cost, model.params, 0.1)
    with pytest.raises(memory.MemoryNeeded, match=r"Adam's state \(2 copies of the parameters\)"):
        adam(cost, model.params)

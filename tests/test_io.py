"""Model files: exact round trips, and a clear ModelFileError for every damaged file."""
import json
import zipfile

import numpy as np
import pytensor
import pytest

import dae
from dae.config import get_mode
from dae import io
from dae.dA import dA


def _model(**options):
    model = dA(np.random.RandomState(3), n_visible=12, n_hidden=5, **options)
    rng = np.random.default_rng(0)
    for p in model.params:  # values no fresh model has, so a round trip cannot pass by luck
        p.set_value(rng.standard_normal(p.get_value().shape).astype(p.dtype))
    return model


def _draws(model, n=3):
    f = pytensor.function([], model.theano_rng.uniform((4,)), updates=model.theano_rng.updates(),
                          mode=get_mode("py"))
    return [f() for _ in range(n)]


@pytest.mark.parametrize("options", [{}, {"tied": False, "corruption": "gaussian",
                                          "loss": "squared_error"}])
def test_round_trip_is_bit_identical(tmp_path, options):
    model = _model(**options)
    _draws(model)  # move the random state off its seed
    path = model.save(tmp_path / "m.npz")
    loaded = dae.load(path)
    assert type(loaded) is dA and loaded.hyperparameters() == model.hyperparameters()
    assert [p.name for p in loaded.params] == [p.name for p in model.params]
    for a, b in zip(model.params, loaded.params):
        assert a.get_value().dtype == b.get_value().dtype
        np.testing.assert_array_equal(a.get_value(), b.get_value())
    for a, b in zip(_draws(model), _draws(loaded)):  # same random state: same corruption next
        np.testing.assert_array_equal(a, b)


OTHER_MODELS = {  # every class io.REGISTRY names but the dA, built small
    "cA": dict(n_visible=12, n_hidden=5),
    "sA": dict(n_visible=12, n_hidden=5),
    "SdA": dict(n_ins=12, hidden_layers_sizes=[6, 4], n_outs=3, corruption_levels=[0.1, 0.2]),
    "VAE": dict(n_visible=12, hidden_layers_sizes=[6], n_latent=2),
    "LinearAutoencoder": dict(n_visible=12, n_hidden=5),
}


def test_every_registered_class_has_a_round_trip_case():
    """A class added to the registry without a case here fails, rather than going untested."""
    assert set(io.REGISTRY) == {"dA", *OTHER_MODELS}


@pytest.mark.parametrize("name", sorted(OTHER_MODELS))
def test_every_registered_class_round_trips(tmp_path, name):
    cls = io.model_class(name)
    model = cls(numpy_rng=np.random.RandomState(1), **OTHER_MODELS[name])
    for i, var in enumerate(io.model_variables(model)):
        var.set_value(np.full(var.get_value().shape, i + 0.5, var.dtype))
    loaded = io.load(io.save(model, tmp_path / "m.npz"))
    assert type(loaded) is cls and loaded.hyperparameters() == model.hyperparameters()
    for a, b in zip(io.model_variables(model), io.model_variables(loaded)):
        np.testing.assert_array_equal(a.get_value(), b.get_value())


def test_file_holds_metadata_and_loads_without_pickle(tmp_path):
    model = _model()
    io.save(model, tmp_path / "m.npz", info={"image_shape": [3, 4]})
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        meta = json.loads(f["meta"].tobytes())
        assert sorted(f.files) == ["meta", "param_000", "param_001", "param_002"]
    assert meta["class"] == "dA" and meta["format_version"] == io.FORMAT_VERSION
    assert meta["dae_version"] == dae.__version__
    assert [p["name"] for p in meta["params"]] == ["W", "b", "b_prime"]
    assert meta["rng"] == model.theano_rng.get_state()
    assert io.load(tmp_path / "m.npz").saved_info == {"image_shape": [3, 4]}


def _rewrite(src, dst, change):
    """Copy model file ``src`` to ``dst`` with ``change(arrays, meta)`` applied."""
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    original = arrays["meta"]
    meta = json.loads(original.tobytes())
    change(arrays, meta)
    if arrays.get("meta") is original:  # the change edited the JSON, not the entry
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(dst, **arrays)
    return dst


def _set(key, value):
    def change(arrays, meta):
        arrays[key] = value
    return change


def _meta(edit):
    def change(arrays, meta):
        edit(meta)
    return change


DAMAGE = {
    "wrong shape": (_set("param_000", np.zeros((5, 12), np.float32)), "file says"),
    "wrong shape, meta too": (lambda a, m: (a.__setitem__("param_000", np.zeros((5, 12), np.float32)),
                                            m["params"][0].__setitem__("shape", [5, 12])),
                              "needs float32"),
    "missing array": (lambda a, m: a.pop("param_001"), "missing"),
    "extra array": (_set("payload", np.zeros(3)), "unexpected"),
    "bad json": (_set("meta", np.frombuffer(b"{not json", np.uint8)), "not valid JSON"),
    "newer format": (_meta(lambda m: m.update(format_version=io.FORMAT_VERSION + 1)), "upgrade dae"),
    "unknown class": (_meta(lambda m: m.update({"class": "os.system"})), "unknown model class"),
    "no meta": (lambda a, m: a.pop("meta"), "not a dae model file"),
    "hyperparameters": (_meta(lambda m: m["hyperparameters"].update(n_hidden=7)), "needs float32"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_tampered_file_gives_model_file_error(tmp_path, case):
    change, message = DAMAGE[case]
    good = _model().save(tmp_path / "good.npz")
    bad = _rewrite(good, tmp_path / "bad.npz", change)
    with pytest.raises(io.ModelFileError, match=message):
        io.load(bad)


@pytest.mark.parametrize("keep", [0.3, 0.9, 0.99])
def test_truncated_file_gives_model_file_error(tmp_path, keep):
    data = _model().save(tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(io.ModelFileError, match="damaged"):
        io.load(tmp_path / "cut.npz")


def test_flipped_byte_in_an_array_is_caught(tmp_path):
    path = _model().save(tmp_path / "m.npz")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("param_000.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # inside W's values
    path.write_bytes(bytes(data))
    with pytest.raises(io.ModelFileError, match="damaged"):
        io.load(path)


def test_other_files_give_model_file_error(tmp_path):
    np.save(tmp_path / "array.npy", np.zeros(3))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "text.npz").write_text("hello")
    for name, message in [("missing.npz", "no such file"), ("array.npy", "bare array"),
                          ("objects.npy", "damaged"), ("text.npz", "damaged"), (".", "folder")]:
        with pytest.raises(io.ModelFileError, match=message):
            io.load(tmp_path / name)


def test_save_is_atomic(tmp_path, monkeypatch):
    path = _model().save(tmp_path / "m.npz")
    before = path.read_bytes()

    def broken(f, **arrays):
        f.write(b"half a file")
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(KeyboardInterrupt):
        _model(tied=False).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_only_registered_classes_are_saved(tmp_path):
    class Mine(dA):
        pass
    with pytest.raises(TypeError, match="dae's own classes"):
        io.save(Mine(np.random.RandomState(0), n_visible=4, n_hidden=2), tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_assign_refuses_a_model_of_other_hyperparameters(tmp_path):
    record = io.read(_model().save(tmp_path / "m.npz"))
    with pytest.raises(io.ModelFileError, match="n_hidden=5"):
        io.assign(dA(np.random.RandomState(0), n_visible=12, n_hidden=6), record)


# -- sizes: a small file never makes dae allocate gigabytes --------------------------------------
def _fake_npy(shape, descr="<f4"):
    """An .npy header claiming ``shape``, and no data."""
    import io as bytes_io
    f = bytes_io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
    return f.getvalue()


def test_array_header_claiming_terabytes_is_refused_before_loading(tmp_path):
    good = _model().save(tmp_path / "good.npz")
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = _fake_npy((10**6, 10**6)) if name == "param_000.npy" else src.read(name)
            dst.writestr(name, data)
    assert bad.stat().st_size < 10**4
    with pytest.raises(io.ModelFileError, match=r"bad.npz: its arrays: 4 TB needed, .* of memory "
                                                r"available; the file is damaged") as excinfo:
        io.read(bad)
    assert "\n" not in str(excinfo.value)


def test_bare_npy_claiming_terabytes_is_refused_without_reading(tmp_path):
    (tmp_path / "big.npy").write_bytes(_fake_npy((10**12,)))
    with pytest.raises(io.ModelFileError):
        io.read(tmp_path / "big.npy")


@pytest.mark.parametrize("n_hidden", [10**9, 10**5])
def test_hyperparameters_claiming_a_huge_model_give_one_line(tmp_path, monkeypatch, n_hidden):
    """A 2 kB file saying n_hidden=10**9 (48 GB): refused; and 10**5 (5 MB), which would fit
    in memory, refused too: the file does not hold that many parameters."""
    from dae import memory
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**16)
    good = _model().save(tmp_path / "good.npz")
    bad = _rewrite(good, tmp_path / "bad.npz",
                   _meta(lambda m: m["hyperparameters"].update(n_hidden=n_hidden)))
    with pytest.raises(io.ModelFileError, match=rf"12-{n_hidden} dA's parameters: .* needed, more "
                                                r"than the 308 B of parameters the file holds: its "
                                                r"hyperparameters do not match") as excinfo:
        io.load(bad)
    assert "\n" not in str(excinfo.value)

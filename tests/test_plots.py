"""dae.plots: the learning curve (matplotlib) and the image grids."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dae.config import get_mode
from dae import plots
from dae.dA import dA
from dae.SdA import SdA
from dae.VAE import VAE

MODE = get_mode("py")


def _history(costs_by_stage, **extra):
    return [{"stage": stage, "epoch": e, "cost": c, "seconds": 0.1, **extra}
            for stage, costs in costs_by_stage.items() for e, c in enumerate(costs, 1)]


def _axes(monkeypatch):
    """Capture the Figure that learning_curve draws."""
    from matplotlib.figure import Figure
    drawn = []
    real = Figure.savefig

    def savefig(self, *args, **kwargs):
        drawn.append(self)
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Figure, "savefig", savefig)
    return drawn


def test_learning_curve_writes_a_png_with_a_panel_per_metric(tmp_path, monkeypatch):
    drawn = _axes(monkeypatch)
    history = _history({"layer0": [60, 55, 52], "layer1": [40, 38, 37]})
    history += [{"stage": "finetune", "epoch": e, "cost": 1 / e, "valid_error": 0.1 / e,
                 "seconds": 0.2} for e in (1, 2, 3)]
    path = plots.learning_curve(history, tmp_path / "curve.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 400 and image.size[1] > 2 * 200
    (figure,) = drawn
    cost, valid = figure.axes
    assert [line.get_label() for line in cost.get_lines()] == ["layer0", "layer1", "finetune"]
    assert [line.get_label() for line in valid.get_lines()] == ["finetune"]
    assert (cost.get_xlabel(), cost.get_ylabel(), valid.get_ylabel()) == ("epoch", "cost", "valid_error")
    assert cost.get_legend() is not None
    assert cost.get_yscale() == "log"  # 0.33 .. 60: more than a decade
    assert valid.get_yscale() == "linear"  # 0.033 .. 0.1: less


def test_log_scale_only_for_positive_values_spanning_a_decade(tmp_path, monkeypatch):
    drawn = _axes(monkeypatch)
    for costs in ([500, 100, 45], [500, 100, 55], [-5, 20, 400], [500, float("nan"), float("inf")]):
        plots.learning_curve(_history({"a": costs}), tmp_path / "curve.png")
    assert [f.axes[0].get_yscale() for f in drawn] == ["log", "linear", "linear", "linear"]


def test_learning_curve_leaves_pyplot_and_the_backend_alone(tmp_path):
    """In a fresh process: the user's backend choice stays, pyplot is never imported."""
    code = ("import sys, matplotlib; matplotlib.use('svg'); from dae.plots import learning_curve; "
            f"learning_curve([{{'stage': 'a', 'epoch': 1, 'cost': 2.0}}], {str(tmp_path / 'c.png')!r}); "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["svg", "False"] and (tmp_path / "c.png").exists()


def test_learning_curve_is_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "curve.png"
    path.write_bytes(b"old")
    from matplotlib.figure import Figure
    monkeypatch.setattr(Figure, "savefig", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        plots.learning_curve(_history({"a": [3, 2]}), path)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["curve.png"]


def test_learning_curve_needs_records_with_a_metric(tmp_path):
    for history in ([], [{"stage": "a", "epoch": 1, "seconds": 1.0}]):
        with pytest.raises(ValueError, match="learning curve needs|no numeric metric"):
            plots.learning_curve(history, tmp_path / "curve.png")


def test_filters_image_tiles_the_first_layer_of_every_model(rng):
    autoencoder = dA(rng, n_visible=16, n_hidden=6)
    image = plots.filters_image(autoencoder, spacing=1)
    assert image.dtype == np.uint8 and image.shape == (2 * 5 - 1, 3 * 5 - 1)  # 6 filters: 2 rows of 3
    first = autoencoder.W.get_value()[:, 0].reshape(4, 4)
    np.testing.assert_array_equal(image[:4, :4], np.rint(255 * (first - first.min()) /
                                                          (first.max() - first.min() + 1e-8)))
    sda = SdA(rng, n_ins=16, hidden_layers_sizes=[5], n_outs=2, corruption_levels=[0.1])
    vae = VAE(rng, n_visible=16, hidden_layers_sizes=[7], n_latent=2)
    assert plots.filters_image(sda, tile_shape=(1, 5)).shape == (4, 5 * 5 - 1)
    assert plots.filters_image(vae, (2, 8), count=3, tile_shape=(3, 1)).shape == (3 * 3 - 1, 8)
    assert plots.filters_image(np.ones((100, 20)), (4, 5), tile_shape=(2, 2)).shape == (9, 11)
    with pytest.raises(ValueError, match="not square images; pass image_shape"):
        plots.filters_image(np.ones((3, 20)))


def test_reconstructions_image_puts_each_row_above_its_reconstructions(rng):
    model = dA(rng, n_visible=4, n_hidden=3)
    x = np.tile(np.linspace(0, 1, 5, dtype="float32")[:, None], (1, 4))  # example i: all pixels i/4
    state = model.theano_rng.get_state()
    image = plots.reconstructions_image(model, x, (2, 2), corruption=0.5, columns=3, mode=MODE)
    assert image.shape == (6 * 3 - 1, 3 * 3 - 1)  # 2 rows of 3 examples, 3 bands each
    assert model.theano_rng.get_state() == state  # the model's stream is not advanced
    assert image[0, 0] == 0 and image[0, 3] == 64 and image[9, 0] == 191  # examples 0, 1; row 2: 3
    again = plots.reconstructions_image(model, x, (2, 2), corruption=0.5, columns=3, mode=MODE)
    np.testing.assert_array_equal(image, again)
    vae = VAE(rng, n_visible=4, hidden_layers_sizes=[], n_latent=2)
    assert plots.reconstructions_image(vae, x, columns=5, mode=MODE).shape == (2 * 3 - 1, 5 * 3 - 1)


def test_samples_and_manifold_are_vae_pictures(rng):
    vae = VAE(rng, n_visible=9, hidden_layers_sizes=[4], n_latent=2)
    samples = plots.samples_image(vae, count=5, seed=3, mode=MODE)
    np.testing.assert_array_equal(samples, plots.samples_image(vae, count=5, seed=3, mode=MODE))
    assert samples.shape == (2 * 4 - 1, 3 * 4 - 1) and samples.dtype == np.uint8
    assert plots.manifold_image(vae, n=4, mode=MODE).shape == (4 * 4 - 1, 4 * 4 - 1)
    with pytest.raises(ValueError, match="samples come from a VAE"):
        plots.samples_image(dA(rng, n_visible=9, n_hidden=2))
    with pytest.raises(ValueError, match="2-D latent space"):
        plots.manifold_image(VAE(rng, n_visible=9, hidden_layers_sizes=[], n_latent=3))


def test_pictures_show_inline_and_are_still_plain_uint8_arrays(rng, tmp_path):
    import io

    from dae.utils import save_png

    picture = plots.filters_image(dA(rng, n_visible=16, n_hidden=6), tile_shape=(2, 3))
    assert isinstance(picture, plots.Picture) and picture.dtype == np.uint8
    with Image.open(io.BytesIO(picture._repr_png_())) as shown:  # what a notebook displays
        scale = shown.size[0] // picture.shape[1]
        assert scale > 1 and shown.size == (picture.shape[1] * scale, picture.shape[0] * scale)
        np.testing.assert_array_equal(np.asarray(shown)[::scale, ::scale], picture)
    with Image.open(io.BytesIO(picture.png(scale=1))) as exact:
        np.testing.assert_array_equal(np.asarray(exact), picture)
    with Image.open(save_png(picture, tmp_path / "filters.png")) as saved:
        np.testing.assert_array_equal(np.asarray(saved), picture)
    assert picture[0]._repr_png_() is None and (picture / 255)._repr_png_() is None
    vae = VAE(rng, n_visible=9, hidden_layers_sizes=[], n_latent=2)
    for image in (plots.samples_image(vae, count=4, mode=MODE), plots.manifold_image(vae, n=3, mode=MODE),
                  plots.reconstructions_image(vae, rng.rand(2, 9), mode=MODE)):
        assert isinstance(image, plots.Picture) and image._repr_png_().startswith(b"\x89PNG")

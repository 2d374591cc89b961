"""Pictures of a model and of its training: the learning curve, filters, reconstructions, samples.

The learning curve is a matplotlib chart, drawn with the object API
(``Figure`` on a ``FigureCanvasAgg``), never pyplot: no backend is chosen or
changed for the user's own plots. The other pictures are uint8 arrays (H, W)
tiled by :func:`dae.utils.tile_raster_images`, as :class:`Picture`s (arrays
that a notebook shows inline); write them with :func:`dae.utils.save_png`.
Functions that run the model compile one small PyTensor function each call,
in ``mode`` (see :func:`dae.config.get_mode`).
"""
import io
import math

import numpy as np

from dae.checks import positive_int
from dae.utils import atomic_write, tile_raster_images

#: Record fields that are not metrics.
NOT_METRICS = ("stage", "epoch", "seconds")


class Picture(np.ndarray):
    """A uint8 image array (H, W) that Jupyter and IPython show as a picture.

    Everything else sees the plain array it is (``save_png``, NumPy, PIL):
    only ``_repr_png_`` is added. A picture under :data:`SHOWN_SIZE` pixels on
    its longer side is shown enlarged by a whole factor, each pixel a square
    block (no smoothing blurs the filters), so 28x28 tiles stay legible.
    """

    def _repr_png_(self):
        if self.ndim != 2 or self.dtype != np.uint8 or self.size == 0:
            return None  # a slice or a computation on it: shown as the array it is
        return self.png()

    def png(self, scale=None):
        """PNG bytes, each pixel a ``scale`` x ``scale`` block (by default as for display)."""
        from PIL import Image

        array = np.asarray(self)
        scale = max(1, -(-SHOWN_SIZE // max(array.shape))) if scale is None else \
            positive_int(scale, "scale")
        image = Image.fromarray(array)
        if scale > 1:
            image = image.resize((array.shape[1] * scale, array.shape[0] * scale), Image.NEAREST)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()


#: Pictures smaller than this (pixels, longer side) are shown enlarged.
SHOWN_SIZE = 256


# -- the learning curve ----------------------------------------------------------------------
def learning_curve(history, path):
    """Each metric against the epoch, one panel per metric, one line per stage; returns ``path``.

    history : list of dicts ``{"stage": str, "epoch": int, <metric>: float, ..., "seconds": float}``
        (a run's records). A metric's panel gets a log y axis when its values are
        all positive and span more than a decade (a cost falling from 500 to 40);
        NaN and inf are left out (a diverged epoch shows as the end of its line).
    path : where the PNG goes, written atomically.
    """
    from matplotlib.ticker import MaxNLocator

    metrics = _metrics(history)
    stages = list(dict.fromkeys(r["stage"] for r in history))
    chart = figure((7, 0.4 + 2.6 * len(metrics)))
    for ax, metric in zip(chart.subplots(len(metrics), 1, squeeze=False)[:, 0], metrics):
        shown = []
        for i, stage in enumerate(stages):
            points = [(r["epoch"], float(r[metric])) for r in history
                      if r["stage"] == stage and _is_number(r.get(metric))]
            if not points:
                continue
            epochs, values = np.array(points).T
            values[~np.isfinite(values)] = np.nan
            ax.plot(epochs, values, color=f"C{i % 10}", label=str(stage),
                    marker="o" if len(points) <= 50 else None, markersize=3)
            shown.extend(values[np.isfinite(values)])
        if _spans_decades(shown):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(title="stage", fontsize="small")
    return save_figure(chart, path)


def figure(size=(7, 4)):
    """A matplotlib ``Figure`` of ``size`` inches on the Agg canvas (no pyplot: no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    chart = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(chart)
    return chart


def save_figure(chart, path):
    """``chart`` as a PNG at ``path``, whole or not at all; returns ``path``."""
    png = io.BytesIO()
    chart.savefig(png, format="png")
    with atomic_write(path, "wb") as f:
        f.write(png.getvalue())
    return path


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _metrics(history):
    if not history or not all(isinstance(r, dict) and "stage" in r and "epoch" in r for r in history):
        raise ValueError("the learning curve needs epoch records, dicts with 'stage', 'epoch' and "
                         f"metrics; got {history!r:.200}")
    metrics = [k for k in dict.fromkeys(k for r in history for k in r)
               if k not in NOT_METRICS and any(_is_number(r.get(k)) for r in history)]
    if not metrics:
        raise ValueError(f"the epoch records hold no numeric metric to draw (keys "
                         f"{sorted(history[0])}); add one such as 'cost'")
    return metrics


def _spans_decades(values):
    return len(values) > 0 and min(values) > 0 and max(values) > 10 * min(values)


# -- image grids -----------------------------------------------------------------------------
def first_layer_weights(model):
    """The first layer's filters, one a row, (n_units, n_visible): the model's
    :meth:`~dae.base.Model.filters` (W^T of an autoencoder, of the SdA's first sigmoid
    layer, of the VAE's first encoder layer or, without one, of its mu layer)."""
    from dae.base import Model

    if not isinstance(model, Model):
        raise TypeError(f"expected a dae model (dA, cA, sA, SdA, VAE) or an array of filters, "
                        f"got {type(model).__name__}")
    weights = model.filters()
    if weights is None:
        raise ValueError(f"a {type(model).__name__} has no first-layer filters to draw")
    return weights


def filters_image(model_or_weights, image_shape=None, count=None, tile_shape=None, spacing=1):
    """The first layer's filters as one picture, each tile scaled to [0, 1]: uint8 (H, W).

    model_or_weights : a dA, cA, sA, SdA or VAE (see :func:`first_layer_weights`), or
        an array (n_filters, h * w), one filter a row.
    image_shape : (h, w); a square by default (n_visible must be a perfect square).
    count : how many filters, the first ones: all the grid holds when ``tile_shape`` is
        given, else 100 (or fewer, if there are fewer).
    tile_shape : (rows, columns); a square-ish grid of ``count`` tiles by default.
    spacing : blank pixels between tiles.

    ``filters_image(da, (28, 28), tile_shape=(10, 10))`` is the tutorials' picture.
    """
    if isinstance(model_or_weights, np.ndarray):
        weights = model_or_weights
        if weights.ndim != 2:
            raise ValueError(f"expected filters as an array (n_filters, h * w), one a row; got "
                             f"shape {weights.shape}")
    else:
        weights = first_layer_weights(model_or_weights)
    if count is None:
        count = 100 if tile_shape is None else tile_shape[0] * tile_shape[1]
    count = min(positive_int(count, "count"), len(weights))
    return tile_raster_images(weights[:count], _image_shape(image_shape, weights.shape[1]),
                              tile_shape or _grid(count), (spacing, spacing)).view(Picture)


def reconstructions_image(model, x, image_shape=None, corruption=0.0, columns=10, mode=None):
    """Examples and their reconstructions: uint8 (H, W), pixels clipped to [0, 1], not rescaled.

    Each row of up to ``columns`` examples (rows of ``x``, (n, n_visible)) lies above
    its reconstructions; with ``corruption`` > 0 (autoencoders) the corrupted input
    lies between them. An autoencoder reconstructs s(y W' + b'); a VAE gives the mean
    of p(x|z) at z = mu(x); an SdA, a classifier, raises ValueError. The corruption is drawn from the model's random stream
    at its current state, which is not advanced (the same model gives the same picture).
    """
    import pytensor
    import pytensor.tensor as pt

    from dae.config import get_mode

    x = _rows(model, x)
    xs = pt.matrix("x", dtype=x.dtype)
    corrupted = model.get_corrupted_input(xs, corruption) if corruption else xs
    # the reconstruction from the features: s(y W' + b') of an autoencoder's code y, the
    # mean of p(x|z) at a VAE's z = mu(x); a model that does not reconstruct raises here
    bands = [xs] + ([corrupted] if corruption else []) + \
        [model.get_reconstructed_input(model.get_features(corrupted))]
    if corruption:
        model.theano_rng.updates()  # ends the draws' chain here: the stream is not advanced
    values = pytensor.function([xs], bands, mode=get_mode(mode))(x)
    columns = min(positive_int(columns, "columns"), len(x))
    rows = math.ceil(len(x) / columns)
    padded = [np.concatenate([v, np.zeros((rows * columns - len(v), v.shape[1]), v.dtype)])
              for v in values]
    # (band, row, column, pixel) -> rows of the picture: row 0's bands, then row 1's, ...
    grid = np.stack(padded).reshape(len(bands), rows, columns, -1).transpose(1, 0, 2, 3)
    return _tile(np.clip(grid.reshape(-1, x.shape[1]), 0, 1), model.n_visible, image_shape,
                 (rows * len(bands), columns))


def samples_image(model, count=100, seed=0, image_shape=None, columns=None, mode=None):
    """A VAE's samples: the means of p(x|z) at ``count`` draws z ~ N(0, I), uint8 (H, W).

    The draws are ``numpy.random.default_rng(seed).standard_normal((count, n_latent))``.
    """
    if not hasattr(model, "n_latent"):
        raise ValueError(f"a {type(model).__name__} does not model p(x): samples come from a VAE")
    count = positive_int(count, "count")
    z = np.random.default_rng(seed).standard_normal((count, model.n_latent)).astype(model.dtype)
    return _tile(np.clip(_decode(model, z, mode), 0, 1), model.n_visible, image_shape,
                 _grid(count, columns))


def manifold_image(model, n=20, image_shape=None, mode=None):
    """A 2-D latent space decoded over an n x n grid of N(0, 1) quantiles 0.05 .. 0.95: uint8.

    Row i holds z_2 = q_i (top to bottom), column j z_1 = q_j.
    """
    from scipy.stats import norm

    if getattr(model, "n_latent", None) != 2:
        raise ValueError(f"the manifold needs a VAE with a 2-D latent space, this model has "
                         f"{getattr(model, 'n_latent', 'none')}; train with --latent 2")
    n = positive_int(n, "n")
    grid = norm.ppf(np.linspace(0.05, 0.95, n))
    z = np.array([[z1, z2] for z2 in grid for z1 in grid], dtype=model.dtype)
    return _tile(np.clip(_decode(model, z, mode), 0, 1), model.n_visible, image_shape, (n, n))


def _decode(model, z, mode):
    import pytensor
    import pytensor.tensor as pt

    from dae.config import get_mode

    zs = pt.matrix("z", dtype=model.dtype)
    return pytensor.function([zs], model.get_reconstructed_input(zs), mode=get_mode(mode))(z)


def _rows(model, x):
    x = np.asarray(x, dtype=model.dtype)
    if x.ndim != 2 or x.shape[1] != model.n_visible or len(x) == 0:
        raise ValueError(f"expected examples of shape (n, {model.n_visible}), one a row, n >= 1; "
                         f"got {x.shape}")
    return x


def _tile(rows, n_pixels, image_shape, tile_shape):
    return tile_raster_images(rows, _image_shape(image_shape, n_pixels), tile_shape, (1, 1),
                              scale_rows_to_unit_interval=False).view(Picture)


def _grid(count, columns=None):
    """(rows, columns) for ``count`` tiles: ``columns`` wide, or as square as it gets."""
    columns = positive_int(columns, "columns") if columns else math.ceil(math.sqrt(count))
    return math.ceil(count / columns), columns


def _image_shape(image_shape, n_pixels):
    if image_shape is not None:
        h, w = image_shape
        if h * w != n_pixels:
            raise ValueError(f"image_shape {h}x{w} has {h * w} pixels, but each row has {n_pixels}; "
                             f"pass (h, w) with h * w = {n_pixels}")
        return int(h), int(w)
    side = math.isqrt(n_pixels)
    if side * side != n_pixels:
        raise ValueError(f"rows of {n_pixels} values are not square images; pass image_shape "
                         f"(h, w) with h * w = {n_pixels}")
    return side, side

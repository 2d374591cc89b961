"""Images for the dae command's ``--data``: an array file or a folder of PNGs.

:func:`load_images` reads

* an ``.npy`` array, or an ``.npz`` holding one array (or arrays ``x`` and,
  optionally, integer labels ``y``), of shape (n, h, w) (images) or (n, d)
  (flattened rows); uint8 values are pixels 0..255 and are divided by 255,
  float values are taken as they are (finite; in [0, 1] for the cross-entropy
  loss, see :func:`check_fits`), bool as 0/1;
* a folder of PNG files, all of one size, read in name order as grayscale
  (colour images are converted to luminance) and divided by 255 (65535 for
  16-bit PNGs).

and returns :class:`Images`: float32 rows (n, h*w), the image shape (h, w) when
it is known (given by the array, or d a perfect square), the labels if any.
Every problem raises :class:`dae.data.DataError` saying what was expected,
what came and what to do. Arrays are read with ``allow_pickle=False``.

Sizes are checked before anything is decoded: .npy headers and the PNGs'
dimensions against the memory available (:mod:`dae.memory`), each PNG against
Pillow's decompression-bomb limit.
"""
import math
import warnings
from pathlib import Path

import numpy as np

from dae import memory
from dae.data import DataError

MNIST_SPLITS = ("train", "valid", "test")


class Images:
    """Examples as rows: ``x`` float32 (n, d); ``y`` int32 (n,) or None;
    ``image_shape`` (h, w) with h * w = d, or None; ``source`` names them in messages."""

    def __init__(self, x, y, image_shape, source):
        self.x, self.y, self.image_shape, self.source = x, y, image_shape, source

    def __len__(self):
        return len(self.x)


def dataset(data=None, data_dir=None, split="train"):
    """``--data`` if given (all of it), else the MNIST ``split`` from ``data_dir``."""
    if data is not None:
        return load_images(data)
    from dae.data import load_mnist

    x, y = load_mnist(data_dir)[MNIST_SPLITS.index(split)]
    return Images(x, y, (28, 28), f"the MNIST {split} set")


def load_images(path):
    """Read ``path`` (.npy, .npz or a folder of PNGs) into :class:`Images`."""
    path = Path(path).expanduser()
    if path.is_dir():
        x, shape = _read_png_folder(path)
        return Images(x, None, shape, str(path))
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; --data takes an .npy or .npz array "
                        "of images, or a folder of PNGs")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise DataError(f"{path}: expected an .npy or .npz array of images, or a folder of "
                        f"PNGs; got a {suffix or 'suffix-less'} file")
    x, y = _read_array_file(path)
    return _images_from_array(path, x, y)


def _read_array_file(path):
    try:
        with open(path, "rb") as f:
            if f.read(len(np.lib.format.MAGIC_PREFIX)) == np.lib.format.MAGIC_PREFIX:
                f.seek(0)
                _check_memory(path, [memory.npy_header(f)])
        loaded = np.load(path, allow_pickle=False)
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(f"{path}: cannot read it as a NumPy array without unpickling ({exc}); "
                        "save plain numeric arrays with np.save / np.savez") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read it ({exc}); the file may be truncated") from None
    if isinstance(loaded, np.ndarray):
        return loaded, None
    try:
        with loaded:
            keys = list(loaded.files)
            wanted = ["x", "y"] if "x" in keys else keys if len(keys) == 1 else []
            headers = memory.npz_headers(loaded)
            _check_memory(path, [headers[k] for k in wanted if k in headers])
            if "x" in keys:
                return loaded["x"], (loaded["y"] if "y" in keys else None)
            if len(keys) == 1:
                return loaded[keys[0]], None
    except DataError:
        raise
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"{path}: cannot read it ({exc}); the file may be damaged") from None
    raise DataError(f"{path} holds arrays {keys}; expected one array, or arrays named x "
                    "(images) and y (labels); save them with np.savez(path, x=images, y=labels)")


def _check_memory(path, headers):
    """Arrays of these ``(shape, dtype)`` headers, as read and as float32 rows (two
    copies while they are scaled), must fit in memory; checked before reading them."""
    need = sum(memory.nbytes(shape, dtype) + 2 * memory.nbytes(shape, np.float32)
               for shape, dtype in headers)
    try:
        memory.check(need, f"{path}'s images", "use fewer or smaller images")
    except memory.MemoryNeeded as exc:
        raise DataError(str(exc)) from None


def _images_from_array(path, x, y):
    if x.ndim == 3:
        n, h, w = x.shape
        shape = (h, w)
    elif x.ndim == 2:
        n, d = x.shape
        side = math.isqrt(d)
        shape = (side, side) if side * side == d else None
    else:
        raise DataError(f"{path}: array of shape {x.shape}; expected images (n, height, width) "
                        "or rows (n, height*width)")
    if x.size == 0:
        raise DataError(f"{path}: array of shape {x.shape} holds no pixels; expected at least "
                        "one image")
    x = _as_unit_float(path, x.reshape(len(x), -1))
    return Images(x, _labels(path, y, len(x)), shape, str(path))


def _as_unit_float(path, x):
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    if x.dtype == np.bool_:
        return x.astype(np.float32)
    if x.dtype.kind != "f":
        raise DataError(f"{path}: pixels of dtype {x.dtype}; expected uint8 (0..255) or float "
                        "(0..1); convert with x.astype('uint8') for 0..255 pixels or x / 255.0")
    x = np.asarray(x, dtype=np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise DataError(f"{path}: {int(np.isnan(x).sum())} NaN and {int(np.isinf(x).sum())} "
                        f"infinite pixel values (the first in example {row}); expected finite "
                        "pixels: drop or repair those examples (e.g. np.nan_to_num)")
    return x


def _labels(path, y, n):
    if y is None:
        return None
    if y.shape != (n,) or (y.dtype.kind not in "iu"):
        raise DataError(f"{path}: labels y of dtype {y.dtype} and shape {y.shape}; expected "
                        f"{n} integer class indices (one per image)")
    return y.astype(np.int32)


def _read_png_folder(folder):
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())
    if not files:
        raise DataError(f"{folder}: no .png files in this folder; --data takes a folder of "
                        "PNG images, or an .npy / .npz array")
    rows, first_size = [], None
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: refuse both
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for file in files:
            try:
                with Image.open(file) as image:  # reads the header: the size, nothing decoded
                    if first_size is None:
                        first_size, first_file = image.size, file
                        w, h = first_size
                        _check_memory(folder, [((len(files), h, w), np.uint8)])
                    elif image.size != first_size:
                        raise DataError(f"{file} is {image.size[0]}x{image.size[1]} pixels but "
                                        f"{first_file.name} is {first_size[0]}x{first_size[1]}; "
                                        "all images in --data must have one size: resize them, "
                                        "or move the odd ones out")
                    image.load()
                    pixels = _grayscale(image)
            except DataError:
                raise
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise DataError(f"{file}: {exc}; --data takes small images (MNIST's are 28x28): "
                                "shrink this one or remove it") from None
            except (OSError, UnidentifiedImageError, ValueError) as exc:
                raise DataError(f"{file}: cannot read this PNG ({exc}); repair or remove it") from None
            rows.append(pixels.reshape(-1))
    return np.stack(rows), first_size[::-1]


def _grayscale(image):
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        pixels = np.asarray(image, dtype=np.float32) / np.float32(65535)
        return np.clip(pixels, 0, 1)
    return np.asarray(image.convert("L"), dtype=np.float32) / np.float32(255)


def check_fits(images, n_visible=None, loss="cross_entropy"):
    """Raise DataError unless ``images`` can go into a model of ``n_visible`` inputs
    (None: any) trained or scored with ``loss``; return ``images``."""
    n, d = images.x.shape
    if n_visible is not None and d != n_visible:
        shape = f" ({images.image_shape[0]}x{images.image_shape[1]} images)" if images.image_shape else ""
        raise DataError(f"{images.source} has {d} values per example{shape}, but the model takes "
                        f"{n_visible} (n_visible); use data of the model's size, or train a model "
                        "on this data")
    if loss == "cross_entropy":
        low, high = float(images.x.min()), float(images.x.max())
        if low < 0 or high > 1:
            raise DataError(f"{images.source} has pixel values in [{low:g}, {high:g}]; the "
                            "cross-entropy loss needs them in [0, 1]: rescale the data (e.g. "
                            "divide 0..255 pixels by 255, or (x - min) / (max - min))")
    return images


def holdout(images, fraction):
    """Split ``images`` into (train, valid): the last ``fraction`` of the examples, at
    least one, is held out for validation (no shuffling: the file's order is kept)."""
    if not 0 < fraction < 1:
        raise ValueError(f"the validation fraction must be in (0, 1), got {fraction}")
    n = len(images)
    n_valid = max(1, int(round(n * fraction)))
    if n_valid >= n:
        raise DataError(f"{images.source} holds {n} examples, too few to hold {fraction:.0%} "
                        "out for validation; pass more data")

    def part(rows, tag):
        y = None if images.y is None else images.y[rows]
        return Images(images.x[rows], y, images.image_shape, f"{images.source} ({tag})")
    return part(slice(0, n - n_valid), "training part"), part(slice(n - n_valid, n), "validation part")

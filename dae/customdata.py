"""Images for the dae command's ``--data``: an array file or a folder of PNGs.

:func:`load_images` reads

* an ``.npy`` array, or an ``.npz`` holding one array (or arrays ``x`` and,
  optionally, integer labels ``y``), of shape (n, h, w) (images) or (n, d)
  (flattened rows); uint8 values are pixels 0..255 and are divided by 255,
  float values are taken as they are (finite; in [0, 1] for the cross-entropy
  loss, see :func:`check_fits`), bool as 0/1;
* a folder of PNG files, all of one size, read in name order as grayscale
  (colour images are converted to luminance) and divided by 255 (65535 for
  16-bit PNGs);
* a folder with no PNGs of its own but one subfolder of PNGs per class: the
  subfolder names, sorted, are the classes 0..K-1 (hidden folders skipped).

and returns :class:`Images`: float32 rows (n, h*w), the image shape (h, w) when
it is known (given by the array, or d a perfect square), the labels if any.

:func:`split` cuts a data set into training, validation and test sets (the SdA
and the VAE need all three) by the rule its docstring states; :func:`check_labels`
checks labels a classifier can learn from.
Every problem raises :class:`dae.data.DataError` saying what was expected,
what came and what to do. The path must be a regular file or a folder
(:func:`check_data_path`, before anything is opened); arrays are read with
``allow_pickle=False``, after their first bytes and headers say they are numeric
NumPy arrays, so NumPy's advice to unpickle never reaches the user.

Sizes are checked before anything is decoded: .npy headers and the PNGs'
dimensions against the memory available (:mod:`dae.memory`), each PNG against
Pillow's decompression-bomb limit.
"""
import math
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from dae import memory
from dae.data import DataError

MNIST_SPLITS = ("train", "valid", "test")
SPLIT = (0.8, 0.1, 0.1)  # the default fractions of :func:`split`
SPLIT_SEED = 0  # fixed, not the run's --seed: another seed trains on the same split


class Images:
    """Examples as rows: ``x`` float32 (n, d); ``y`` int32 (n,) or None;
    ``image_shape`` (h, w) with h * w = d, or None; ``source`` names them in messages;
    ``classes`` the names of labels 0..K-1 of a folder of class subfolders, else None."""

    def __init__(self, x, y, image_shape, source, classes=None):
        self.x, self.y, self.image_shape, self.source = x, y, image_shape, source
        self.classes = classes

    def __len__(self):
        return len(self.x)

    def take(self, rows, tag):
        """The examples ``rows`` (a slice or indices), as :class:`Images` from ``source (tag)``."""
        y = None if self.y is None else self.y[rows]
        return Images(self.x[rows], y, self.image_shape, f"{self.source} ({tag})", self.classes)


def dataset(data=None, data_dir=None, split="train"):
    """``--data`` if given (all of it), else the MNIST ``split`` from ``data_dir``."""
    if data is not None:
        return load_images(data)
    return mnist(data_dir)[MNIST_SPLITS.index(split)]


def eval_set(data=None, data_dir=None, training=None, whole_file=False):
    """What ``dae eval`` scores: ``(images, part)``, ``part`` a phrase saying which examples.

    Without ``data``, MNIST's test set (``part`` None). With it, the test set the
    training run held out when ``training`` (a model file's ``info["training"]``, whose
    ``config`` records the run's absolute ``data`` path and ``split``) says the model was
    trained on this very file by an experiment that splits it (SdA, VAE): :func:`split`
    again, so the examples are the run's own test set (its first ``max_examples`` when the
    run used only those), and the score compares with the run's. Otherwise, or with
    ``whole_file``, all of ``data``, the phrase saying whether the model trained on it.
    """
    if data is None:
        if whole_file:
            raise DataError("--whole-file scores all of a --data file; MNIST's test set is "
                            "scored as it is: pass --data, or drop --whole-file")
        return dataset(None, data_dir, split="test"), None
    images = load_images(data)
    training = training if isinstance(training, dict) else {}
    config = training.get("config", training.get("args"))  # "args": files before configs
    config = config if isinstance(config, dict) else {}
    run = f"dae train {training.get('experiment', '?')}"
    if not _same_file(config.get("data"), images.source):
        trained_on = config.get("data") or ("MNIST" if "data" in config else None)
        why = (f"the model was trained on {trained_on}, not on this file" if trained_on else
               "its model file records no training data")
        return images, f"the whole file ({why})"
    if "split" not in config:
        return images, (f"the whole file, which the model trained on ({run} trains on all of "
                        "--data: no test set held out)")
    fractions, first = config["split"], config.get("max_examples")
    if not (isinstance(fractions, list) and len(fractions) == 3
            and all(isinstance(f, (int, float)) and 0 < f < 1 for f in fractions)
            and (first is None or isinstance(first, int) and first >= 1)):
        raise DataError(f"{images.source}: the model file records the split {fractions!r} of "
                        "its training run, not three fractions: it was modified; pass "
                        "--whole-file to score the whole file")
    parts = split(images, fractions)
    if whole_file:
        return images, (f"the whole file (--whole-file), the {len(parts[0])} training and "
                        f"{len(parts[1])} validation examples the model learned from included")
    test = parts[2] if first is None else parts[2].take(slice(0, first), "first examples")
    return test, (f"the test set {run} held out (--split {' '.join(f'{f:g}' for f in fractions)}"
                  f"{f', its first {len(test)}' if first else ''}: {len(test)} of "
                  f"{len(images)} examples; --whole-file scores them all)")


def _same_file(recorded, path):
    try:
        return isinstance(recorded, str) and os.path.samefile(recorded, path)
    except OSError:
        return False


def mnist(data_dir=None):
    """MNIST's train, valid and test sets as three :class:`Images` (the arrays
    :func:`dae.data.load_mnist` returns, unchanged)."""
    from dae.data import load_mnist

    return [Images(x, y, (28, 28), f"the MNIST {name} set", classes=[str(d) for d in range(10)])
            for (x, y), name in zip(load_mnist(data_dir), MNIST_SPLITS)]


def three_sets(data=None, data_dir=None, fractions=SPLIT, loss="cross_entropy", labels=False):
    """``(train, valid, test, line)``: ``--data`` checked for ``loss`` (see :func:`check_fits`)
    and, with ``labels``, for a classifier (:func:`check_labels`), then :func:`split`, with
    the line saying how; else MNIST's three sets and None."""
    if data is None:
        return (*mnist(data_dir), None)
    images = check_fits(load_images(data), loss=loss)
    if labels:
        k = check_labels(images)
        images.classes = images.classes or [str(label) for label in range(k)]
    parts = split(images, fractions)
    return (*parts, describe_split(images, parts, fractions))


#: What ``--data`` takes, for the messages refusing something else.
DATA = "an .npy/.npz array of images or a folder of PNGs"


def check_data_path(path):
    """``path`` as a :class:`Path` if it is a regular file or a folder, else DataError.

    Checked before anything is opened: a FIFO would hang the read, a device be read
    forever. :func:`load_images` calls it, and the CLI before it reads the model.
    """
    from dae.utils import PathError, check_file

    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; --data takes {DATA}")
    try:
        return check_file(path, DATA, folder=True)
    except PathError as exc:
        raise DataError(str(exc)) from None


def load_images(path):
    """Read ``path`` (.npy, .npz or a folder of PNGs) into :class:`Images`."""
    path = check_data_path(path)
    if path.is_dir():
        return _read_folder(path)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise DataError(f"{path}: expected an .npy or .npz array of images, or a folder of "
                        f"PNGs; got a {suffix or 'suffix-less'} file")
    x, y = _read_array_file(path)
    return _images_from_array(path, x, y)


_NPY, _ZIP = np.lib.format.MAGIC_PREFIX, (b"PK\x03\x04", b"PK\x05\x06")


def _read_array_file(path):
    """(x, y or None). The first bytes and every header are checked before np.load reads
    data, so NumPy's errors (and its advice to unpickle) never reach the user."""
    from dae.io import error_text, file_kind

    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if head.startswith(_NPY):
                f.seek(0)
                _check_headers(path, {None: memory.npy_header(f)})
            elif not head.startswith(_ZIP):
                raise DataError(f"{path} is not an .npy or .npz array ({file_kind(head)}); --data "
                                "takes arrays saved with np.save or np.savez, or a folder of PNGs")
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded, None
        with loaded:
            keys = list(loaded.files)
            wanted = ["x", "y"] if "x" in keys else keys if len(keys) == 1 else []
            headers = memory.npz_headers(loaded)
            _check_headers(path, {k: headers[k] for k in wanted if k in headers})
            if "x" in keys:
                return loaded["x"], (loaded["y"] if "y" in keys else None)
            if len(keys) == 1:
                return loaded[keys[0]], None
    except DataError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read it ({error_text(exc)}); the file is truncated or "
                        "damaged: save the arrays again with np.save or np.savez") from None
    raise DataError(f"{path} holds arrays {keys}; expected one array, or arrays named x "
                    "(images) and y (labels); save them with np.savez(path, x=images, y=labels)")


def _check_headers(path, headers):
    """Arrays of these ``{name: (shape, dtype)}`` headers (name None: the .npy's one) must
    hold numbers, not Python objects (dae never unpickles), and fit in memory as read and
    as float32 rows (two copies while they are scaled); checked before reading them."""
    for name, (_, dtype) in headers.items():
        if dtype.hasobject:
            which = path if name is None else f"{path}: array {name}"
            raise DataError(f"{which} holds Python objects (dtype {dtype}), not numbers; "
                            "dae reads plain numeric arrays and never unpickles: save numbers (images "
                            "as uint8 or float, labels as integers), e.g. np.asarray(images, "
                            "dtype=np.uint8)")
    need = sum(memory.nbytes(shape, dtype) + 2 * memory.nbytes(shape, np.float32)
               for shape, dtype in headers.values())
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
    if y.ndim != 1:
        raise DataError(f"{path}: labels y of shape {y.shape}; expected one integer label per "
                        f"image, shape ({n},): flatten them with y.reshape(-1)")
    if len(y) != n:
        raise DataError(f"{path}: x holds {n} images but y {len(y)} labels; expected one label "
                        "per image, in the same order")
    if y.dtype.kind not in "iu":
        raise DataError(f"{path}: labels y of dtype {y.dtype}; expected integer class indices "
                        "0..K-1: save them with y.astype(int)")
    if len(y) and (y.min() < np.iinfo(np.int32).min or y.max() > np.iinfo(np.int32).max):
        raise DataError(f"{path}: labels y run from {y.min()} to {y.max()}; expected class "
                        "indices 0..K-1")
    return y.astype(np.int32)


def _pngs_in(folder):
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())


def _read_folder(folder):
    """A folder of PNGs (no labels), or of class subfolders of PNGs (labelled by subfolder)."""
    files = _pngs_in(folder)
    if files:
        x, shape = _read_pngs(folder, files)
        return Images(x, None, shape, str(folder))
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subfolders:
        raise DataError(f"{folder}: no .png files and no class subfolders in this folder; --data "
                        "takes a folder of PNG images, one of class subfolders of PNGs, or an "
                        ".npy / .npz array")
    per_class = [_pngs_in(sub) for sub in subfolders]
    for sub, pngs in zip(subfolders, per_class):
        if not pngs:
            raise DataError(f"{sub}: a class folder with no .png files; every subfolder of "
                            f"{folder} is a class and needs at least one PNG: add images or "
                            "remove the folder")
    x, shape = _read_pngs(folder, [f for pngs in per_class for f in pngs])
    y = np.repeat(np.arange(len(subfolders), dtype=np.int32), [len(pngs) for pngs in per_class])
    return Images(x, y, shape, str(folder), classes=[sub.name for sub in subfolders])


def _read_pngs(folder, files):
    from PIL import Image, UnidentifiedImageError

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
                        _check_headers(folder, {None: ((len(files), h, w), np.dtype(np.uint8))})
                    elif image.size != first_size:
                        raise DataError(f"{file} is {image.size[0]}x{image.size[1]} pixels but "
                                        f"{first_file.relative_to(folder)} is {first_size[0]}x{first_size[1]}; "
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
    return (images.take(slice(0, n - n_valid), "training part"),
            images.take(slice(n - n_valid, n), "validation part"))


def split(images, fractions=SPLIT):
    """``images`` cut into (train, valid, test) :class:`Images`, the same way every time.

    The rule: the validation and test sets hold ``n * fraction`` examples each,
    rounded to the nearest (halves up), at least one; training the rest (at least one, so n >= 3). The examples
    are shuffled by ``numpy.random.default_rng(SPLIT_SEED)`` (0; not the run's seed,
    so every seed trains and tests on the same examples). With labels the split
    is stratified: each class is cut in the given proportions (up to rounding; the
    training set gets a class's leftovers first, so a class of one example is in
    training). Each set keeps the shuffled order.
    """
    n = len(images)
    n_valid, n_test = (max(1, math.floor(n * f + 0.5)) for f in fractions[1:])
    if n - n_valid - n_test < 1:
        raise DataError(f"{images.source} holds {n} example{'s' * (n != 1)}, too few for a "
                        "training, a validation and a test set; pass at least 3")
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    if images.y is not None:
        # each example's place within its class, in (0, 1): sorting by it deals every
        # class out across the three sets in proportion
        labels = images.y[order]
        place = np.empty(n)
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            place[members] = (np.arange(len(members)) + 0.5) / len(members)
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        order = order[np.argsort(place, kind="stable")]
    else:
        position = None
    cuts = np.split(order, [n - n_valid - n_test, n - n_test])
    if position is not None:
        cuts = [rows[np.argsort(position[rows], kind="stable")] for rows in cuts]
    return [images.take(rows, f"{name} split") for rows, name in zip(cuts, ("training", "validation", "test"))]


def describe_split(images, parts, fractions=SPLIT):
    """One line saying how :func:`split` cut ``images`` into ``parts``."""
    counts = ", ".join(f"{len(p)} {name}" for p, name in zip(parts, ("training", "validation", "test")))
    how = "stratified by class, " if images.y is not None else ""
    classes = "" if images.y is None else f", {len(np.unique(images.y))} classes"
    return (f"split {images.source} ({len(images)} examples{classes}) into {counts} examples: "
            f"fractions {'/'.join(f'{f:g}' for f in fractions)}, {how}shuffled with the fixed "
            f"seed {SPLIT_SEED} (not --seed)")


def check_labels(images):
    """Raise DataError unless ``images`` has labels 0..K-1, K >= 2, each class with an
    example; return K."""
    if images.y is None:
        if Path(images.source).is_dir():
            raise DataError(f"{images.source}: PNGs with no class subfolders, so no labels; the "
                            "SdA learns to classify: put each class's PNGs in a subfolder of its "
                            "own (the sorted subfolder names are the classes), or pass an .npz "
                            "with arrays x (images) and y (labels)")
        raise DataError(f"{images.source} has no labels y; the SdA learns to classify: pass an "
                        ".npz with arrays x (images) and y (integer labels 0..K-1), or a folder "
                        "with one subfolder of PNGs per class")
    y = images.y
    if y.min() < 0:
        raise DataError(f"{images.source}: labels y include {int(y.min())}; expected class "
                        "indices 0..K-1, none negative")
    k = int(y.max()) + 1
    empty = np.flatnonzero(np.bincount(y, minlength=k) == 0)
    if len(empty):
        shown = ", ".join(map(str, empty[:5])) + (f", ... ({len(empty)} in all)" if len(empty) > 5 else "")
        raise DataError(f"{images.source}: labels y run 0..{k - 1} but class{'es' * (len(empty) > 1)} "
                        f"{shown} {'have' if len(empty) > 1 else 'has'} no examples; number the "
                        "classes 0..K-1 with no gaps (np.unique(y, return_inverse=True)[1] does)")
    if k < 2:
        raise DataError(f"{images.source}: every label is 0, one class; a classifier needs at "
                        "least two")
    return k

"""MNIST for the tutorials: the deeplearning.net ``load_data``, modernized.

:func:`load_data` returns what the Theano tutorials' ``load_data`` returned::

    [(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]

of PyTensor shared variables, and :func:`load_mnist` the same structure of NumPy
arrays:

=========  ============  =========================  ===========================
split      examples      x                          y
=========  ============  =========================  ===========================
train      50,000        float32 (50000, 784)       int32 (50000,), in 0..9
valid      10,000        float32 (10000, 784)       int32 (10000,), in 0..9
test       10,000        float32 (10000, 784)       int32 (10000,), in 0..9
=========  ============  =========================  ===========================

x holds the 28x28 images row by row, as pixel / 255 in [0, 1]. train is the
first 50,000 images of MNIST's training file, valid its last 10,000, test the
10,000 images of MNIST's test file: the split of the tutorial's ``mnist.pkl.gz``.

Where the data comes from
-------------------------
Two formats are read:

* the four standard IDX files, gzipped, as published with MNIST
  (:data:`MNIST_FILES`, checked against the published sizes and md5s);
* the tutorials' ``mnist.pkl.gz``, a gzipped Python 2 pickle of
  ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))``.

The folder is chosen by precedence, and only that one is consulted:

1. the ``dataset`` argument: a folder, or a path to ``mnist.pkl.gz``; it must
   exist and hold MNIST;
2. else ``$DAE_DATA_DIR``, a folder, which must exist and hold MNIST;
3. else :data:`DEFAULT_DATA_DIR`, the repository's top-level ``data/``: if MNIST
   is not there, the missing IDX files are downloaded into it from
   :data:`MIRRORS` and checked against the published md5s.

A folder that holds the four IDX files is read from them; otherwise its
``mnist.pkl.gz`` is read. Nothing is downloaded into a folder you chose, so a
mistyped folder gives an error rather than a silent download or a silent use of
some other copy. Every problem with the data raises one :class:`DataError` that
names the file, says what is wrong and what to do.
"""
import gzip
import hashlib
import http.client
import os
import pickle
import sys
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from dae.utils import PathError, atomic_write, check_file

__all__ = [
    "DataError", "MIRRORS", "MNIST_FILES", "PICKLE_NAME", "DEFAULT_DATA_DIR",
    "load_data", "load_mnist", "shared_dataset", "find_mnist", "download_mnist", "read_idx",
    "write_mnist_pkl",
]

#: Base URLs tried in order when MNIST has to be downloaded; each ends with "/".
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: The four standard MNIST files: name -> (size in bytes, published md5).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train-labels-idx1-ubyte.gz": (28881, "d53e105ee54ea40749a09fcbcd1e9432"),
    "t10k-images-idx3-ubyte.gz": (1648877, "9fb629c4189551a2d022fa330f9573f3"),
    "t10k-labels-idx1-ubyte.gz": (4542, "ec29112dd5afa0611ce80d1b7f02629c"),
}

TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = MNIST_FILES

#: The tutorials' pickle of the split data set.
PICKLE_NAME = "mnist.pkl.gz"

#: Where MNIST is looked for, and downloaded to, when neither a folder nor
#: ``$DAE_DATA_DIR`` is given: the repository's top-level ``data/``.
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"

ENV_VAR = "DAE_DATA_DIR"

IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
N_VALID = 10000

# IDX type codes (third byte of the magic number) -> big-endian dtype.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16


class DataError(ValueError):
    """A data file is missing, corrupt or not what was expected.

    The message names the file, what is wrong (expected and found) and what to do.
    """


# -- public API ---------------------------------------------------------------------
def load_data(dataset=None, *, verify_md5=True, mirrors=None, timeout=30.0):
    """MNIST as the tutorials' shared variables.

    Parameters
    ----------
    dataset : str or path-like or None
        A folder holding the four IDX ``.gz`` files or ``mnist.pkl.gz``, or the
        path of an ``mnist.pkl.gz``. None: ``$DAE_DATA_DIR``, else
        :data:`DEFAULT_DATA_DIR` (downloading into it when MNIST is absent).
        See :func:`find_mnist`.
    verify_md5 : bool
        Check files with the standard IDX names against the published md5s.
    mirrors : sequence of str or None
        Base URLs to download from; None means :data:`MIRRORS`.
    timeout : float
        Seconds before a download connection is given up.

    Returns
    -------
    list of 3 tuples ``(x, y)``
        train, valid, test. x is a float32 shared variable of shape
        ``(n, 784)`` with values in [0, 1]; y is ``cast(shared_y, 'int32')``,
        a symbolic int32 vector of shape ``(n,)`` over a float32 shared
        variable, exactly as the tutorials' ``shared_dataset`` builds it.
        n is 50,000, 10,000 and 10,000 for full MNIST.

    Raises
    ------
    DataError
        If MNIST cannot be found, downloaded or read; the message says why.
    """
    return [shared_dataset(xy) for xy in
            load_mnist(dataset, verify_md5=verify_md5, mirrors=mirrors, timeout=timeout)]


def shared_dataset(data_xy, borrow=True):
    """The tutorials' ``shared_dataset``: put ``(x, y)`` into shared variables.

    Parameters
    ----------
    data_xy : tuple (x, y)
        x array-like of shape ``(n, d)``; y array-like of integer labels, shape ``(n,)``.
    borrow : bool
        Passed to ``pytensor.shared``.

    Returns
    -------
    shared_x : float32 shared variable, shape ``(n, d)``
    y : int32 symbolic vector ``cast(shared_y, 'int32')`` of shape ``(n,)``, where
        shared_y is a float32 shared variable (shared data on a GPU had to be float).
    """
    import pytensor
    import pytensor.tensor as pt

    data_x, data_y = data_xy
    shared_x = pytensor.shared(np.asarray(data_x, dtype="float32"), borrow=borrow)
    shared_y = pytensor.shared(np.asarray(data_y, dtype="float32"), borrow=borrow)
    return shared_x, pt.cast(shared_y, "int32")


def load_mnist(dataset=None, *, verify_md5=True, mirrors=None, timeout=30.0):
    """MNIST as NumPy arrays: ``[(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]``.

    Parameters
    ----------
    dataset : str or path-like or None
        Where MNIST is; see :func:`find_mnist`.
    verify_md5 : bool
        Check files with the standard IDX names against :data:`MNIST_FILES`
        (size and md5). Turn it off only to read other data under those names.
    mirrors : sequence of str or None
        Base URLs to download from; None means :data:`MIRRORS`.
    timeout : float
        Seconds before a download connection is given up.

    Returns
    -------
    list of 3 tuples ``(x, y)``
        train, valid, test; x float32 of shape ``(n, 784)``, values in [0, 1];
        y int32 of shape ``(n,)``, values in 0..9.

        From IDX files, with n_train images in the training file: valid is the
        last 10,000 of them if n_train > 10,000, else the last
        ``n_train // 6`` (so full MNIST gives 50,000 / 10,000, and a tiny file
        of 12 images gives 10 / 2); train is the rest, test the test file.
        From ``mnist.pkl.gz``, the pickle's own split is kept.

    Raises
    ------
    DataError
        If MNIST cannot be found, downloaded or read; the message says why.

    Notes
    -----
    Loading a pickle can run code. ``mnist.pkl.gz`` is only read when you point
    at it, or it sits in the chosen data folder (and the IDX files do not), and it
    is read with an unpickler that only accepts NumPy arrays.
    """
    where = find_mnist(dataset, mirrors=mirrors, timeout=timeout)
    if where.is_file():
        return _load_pickle(where)
    return _load_idx_dir(where, verify_md5=verify_md5)


def find_mnist(dataset=None, *, download=True, mirrors=None, timeout=30.0):
    """Where MNIST is: a folder holding the four IDX files, or an ``mnist.pkl.gz``.

    Precedence, and only the first that applies is consulted:

    1. ``dataset``, if given: a folder, or a pickle file. It must exist, and a
       folder must hold the four IDX files or ``mnist.pkl.gz``.
    2. ``$DAE_DATA_DIR``, if set and not empty: same rules.
    3. :data:`DEFAULT_DATA_DIR`: if neither the four IDX files nor
       ``mnist.pkl.gz`` are there, the missing IDX files are downloaded into it
       (when ``download`` is true) with :func:`download_mnist`.

    Parameters
    ----------
    dataset : str or path-like or None
    download : bool
        Download into :data:`DEFAULT_DATA_DIR` when MNIST is absent there.
    mirrors : sequence of str or None
        Base URLs to download from; None means :data:`MIRRORS`.
    timeout : float
        Seconds before a download connection is given up.

    Returns
    -------
    pathlib.Path
        A folder holding the four IDX files, or the path of a pickle.

    Raises
    ------
    DataError
        If the chosen location does not exist or does not hold MNIST, or the
        download fails.
    """
    if dataset is not None:
        return _chosen_location(Path(dataset).expanduser(), "the path you gave")
    env = os.environ.get(ENV_VAR)
    if env:
        return _chosen_location(Path(env).expanduser(), f"${ENV_VAR}")
    found = _mnist_in(DEFAULT_DATA_DIR)
    if found is not None:
        return found
    if not download:
        raise DataError(
            f"MNIST not found in {DEFAULT_DATA_DIR} (no folder given, ${ENV_VAR} not set); "
            f"missing: {', '.join(_missing(DEFAULT_DATA_DIR))}. "
            f"Set {ENV_VAR} to a folder holding the four IDX .gz files, or pass that folder.")
    download_mnist(DEFAULT_DATA_DIR, mirrors=mirrors, timeout=timeout,
                   looked_in=[f"{DEFAULT_DATA_DIR} (no folder given, ${ENV_VAR} not set)"])
    return DEFAULT_DATA_DIR


def download_mnist(directory=None, *, mirrors=None, timeout=30.0, looked_in=None):
    """Download the standard MNIST files missing from ``directory``.

    Each file is fetched into a temporary file in ``directory``, checked against
    :data:`MNIST_FILES` (size and md5), then renamed into place; a failed or
    interrupted download leaves no file behind. Files already present are left
    alone (never deleted nor overwritten). A tqdm bar is drawn on stderr when it
    is a terminal.

    Parameters
    ----------
    directory : str or path-like or None
        Destination, created if missing; None means :data:`DEFAULT_DATA_DIR`.
    mirrors : sequence of str or None
        Base URLs tried in order for each file (``file://`` URLs work too);
        None means :data:`MIRRORS`.
    timeout : float
        Seconds before a connection is given up.
    looked_in : list of str or None
        Locations already searched, for the error message.

    Returns
    -------
    list of pathlib.Path
        The files downloaded (empty if none were missing).

    Raises
    ------
    DataError
        If some file could not be fetched from any mirror; the message lists the
        missing files, every place looked in and every mirror's error.
    """
    directory = Path(DEFAULT_DATA_DIR if directory is None else directory).expanduser()
    mirrors = list(MIRRORS if mirrors is None else mirrors)
    missing = [name for name in MNIST_FILES if not (directory / name).exists()]
    if not missing:
        return []
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data folder {directory}: {exc}. "
                        f"Set {ENV_VAR} to a folder holding the four MNIST IDX .gz files.") from None
    done, failures = [], {}
    for name in missing:
        errors = []
        for mirror in mirrors:
            url = mirror if mirror.endswith("/") else mirror + "/"
            url += name
            try:
                _fetch(url, directory / name, timeout)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                # URLError, HTTPError, timeouts, short reads, bad URLs, wrong size or md5
                errors.append(f"{url}: {exc}")
            else:
                done.append(directory / name)
                break
        else:
            failures[name] = errors or ["no mirrors given"]
    if failures:
        places = list(looked_in or []) or [str(directory)]
        lines = [f"could not download MNIST: {len(failures)} file(s) missing: {', '.join(failures)}.",
                 "Looked for MNIST in: " + "; ".join(places) + "."]
        for name, errors in failures.items():
            lines.append(f"{name}:")
            lines += [f"  {e}" for e in errors]
        lines.append(
            f"To fix: set {ENV_VAR} to a folder holding the four IDX .gz files, or pass that folder "
            f"(--data-dir, or load_data(folder)); or download {', '.join(MNIST_FILES)} by hand "
            f"(e.g. from {mirrors[0] if mirrors else MIRRORS[0]}) into {directory}.")
        raise DataError("\n".join(lines))
    return done


def read_idx(path):
    """Read an IDX file (gzipped or not) into a NumPy array.

    The header is checked: zero first two bytes, a known type code, at least one
    dimension, and a data size equal to the declared shape's.

    Parameters
    ----------
    path : str or path-like
        An IDX file; gzip is detected from its first bytes, and a name ending in
        ``.gz`` must be gzip.

    Returns
    -------
    numpy.ndarray
        Of the declared shape and type, native byte order: uint8 for MNIST's
        files ((n, 28, 28) images, (n,) labels); int8, int16, int32, float32 or
        float64 for the other IDX type codes.

    Raises
    ------
    DataError
        If the file is missing, not gzip (when named ``.gz``), corrupt,
        truncated, or its header is malformed.
    """
    return _read_idx(Path(path))[0]


def write_mnist_pkl(folder, data_dir=None, *, verify_md5=True):
    """Write the tutorials' ``mnist.pkl.gz`` into ``folder``, from the IDX files.

    The Theano tutorials' own ``load_data('mnist.pkl.gz')`` reads it from
    ``<code>/../data/``: write it into that ``data`` folder. It is a gzipped
    pickle (protocol 4) of ``((train_x, train_y), (valid_x, valid_y),
    (test_x, test_y))``: x float32 of shape (n, 784) in [0, 1], y int64 of
    shape (n,), n = 50,000 / 10,000 / 10,000 for MNIST, the split of
    :func:`load_mnist`. Written atomically; an existing file is replaced.

    Parameters
    ----------
    folder : str or path-like
        Where to write it; created if missing.
    data_dir : str or path-like or None
        The folder of the four IDX ``.gz`` files; None: ``$DAE_DATA_DIR``, else
        :data:`DEFAULT_DATA_DIR` (downloading into it when absent). See
        :func:`find_mnist`.
    verify_md5 : bool
        Check the IDX files against the published md5s.

    Returns the path written. Raises :class:`DataError` when the IDX files are
    not found or not valid, or ``data_dir`` leads to a pickle instead.
    """
    source = find_mnist(data_dir)
    if source.is_file():
        raise DataError(f"{source} is a pickle: mnist.pkl.gz is written from MNIST's four IDX "
                        f"files (checked against their md5s). Pass the folder holding "
                        f"{', '.join(MNIST_FILES)}.")
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file: pass the folder to write {PICKLE_NAME} into")
    splits = tuple((x, y.astype(np.int64)) for x, y in _load_idx_dir(source, verify_md5))
    dest = folder / PICKLE_NAME
    # mtime=0: the same data give the same bytes. Level 6 makes 17 MB in a
    # few seconds; level 9 saved little and took much longer.
    with atomic_write(dest, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as f:
        pickle.dump(splits, f, protocol=4)
    return dest


# -- IDX ----------------------------------------------------------------------------
def _check_regular(path, what):
    """:func:`dae.utils.check_file` before opening, as a DataError; a missing file is left to
    the caller's own message."""
    if os.path.lexists(path):
        try:
            check_file(path, what)
        except PathError as exc:
            raise DataError(str(exc)) from None


def _read_bytes(path):
    """The file's bytes, gunzipped if it is gzip."""
    _check_regular(path, "an MNIST IDX file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found.") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it: {exc}.") from None
    if raw[:2] != _GZIP_MAGIC:
        if path.name.endswith(".gz"):
            raise DataError(f"{path}: not a gzip file (its first bytes are {raw[:4].hex() or 'empty'}, "
                            f"expected 1f8b...). Replace it with the original .gz file.")
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc or type(exc).__name__}); the file is "
                        f"damaged or truncated. Replace it with a good copy.") from None


def _read_idx(path):
    """(array, magic number) of an IDX file, validated."""
    raw = _read_bytes(path)
    fix = "Replace it with a good copy."
    if len(raw) < 4:
        raise DataError(f"{path}: not an IDX file: {len(raw)} bytes, shorter than the 4-byte "
                        f"magic number. {fix}")
    magic = int.from_bytes(raw[:4], "big")
    code, ndim = raw[2], raw[3]
    if raw[0] != 0 or raw[1] != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise DataError(f"{path}: bad IDX magic number {magic} (0x{magic:08x}); expected 0x0000TTDD with "
                        f"type TT in {sorted(_IDX_DTYPES)} and DD >= 1 dimensions, e.g. "
                        f"{IMAGE_MAGIC} for images or {LABEL_MAGIC} for labels. {fix}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header: {len(raw)} bytes, expected {header} for "
                        f"{ndim} dimensions. {fix}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise DataError(f"{path}: {what}: its header declares shape {shape} ({expected} bytes of data), "
                        f"found {found} bytes. {fix}")
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    if dtype.byteorder == ">":
        array = array.astype(dtype.newbyteorder("="))
    return array, magic


def _check_file(path):
    """Check a standard-named file against the published size and md5."""
    size, md5 = MNIST_FILES[path.name]
    fix = ("Delete it to have dae download it again (or fetch it by hand), or pass "
           "verify_md5=False to read it anyway.")
    found = path.stat().st_size
    if found != size:
        raise DataError(f"{path}: {found} bytes, expected {size} (the published size of MNIST's "
                        f"{path.name}); the file is {'truncated' if found < size else 'not the original'}. {fix}")
    digest = _md5(path)
    if digest != md5:
        raise DataError(f"{path}: md5 {digest}, expected {md5} (the published md5 of MNIST's "
                        f"{path.name}); the file is corrupt or not the original. {fix}")


def _md5(path):
    h = hashlib.md5()
    _check_regular(path, "an MNIST IDX file")
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_split(directory, images_name, labels_name, verify_md5):
    """(images float32 (n, 784) in [0, 1], labels int32 (n,)) of one IDX pair."""
    paths = directory / images_name, directory / labels_name
    if verify_md5:
        for path in paths:
            _check_file(path)
    images, magic = _read_idx(paths[0])
    fix = "Replace it with MNIST's original file."
    if magic != IMAGE_MAGIC:
        raise DataError(f"{paths[0]}: magic number {magic}, expected {IMAGE_MAGIC} (unsigned-byte "
                        f"images, 3 dimensions). {fix}")
    if images.shape[1:] != (28, 28):
        raise DataError(f"{paths[0]}: images of {images.shape[1]}x{images.shape[2]} pixels, expected "
                        f"28x28. {fix}")
    labels, magic = _read_idx(paths[1])
    if magic != LABEL_MAGIC:
        raise DataError(f"{paths[1]}: magic number {magic}, expected {LABEL_MAGIC} (unsigned-byte "
                        f"labels, 1 dimension). {fix}")
    if len(labels) != len(images):
        raise DataError(f"{paths[1]}: {len(labels)} labels, but {paths[0].name} has {len(images)} images; "
                        f"expected as many labels as images. {fix}")
    if labels.size and labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise DataError(f"{paths[1]}: label {int(labels[bad])} at index {bad}, expected labels in "
                        f"0..9. {fix}")
    x = images.reshape(len(images), -1).astype(np.float32)
    x /= np.float32(255)
    return x, labels.astype(np.int32)


def _load_idx_dir(directory, verify_md5=True):
    train_x, train_y = _read_split(directory, TRAIN_IMAGES, TRAIN_LABELS, verify_md5)
    test = _read_split(directory, TEST_IMAGES, TEST_LABELS, verify_md5)
    n = len(train_x)
    n_valid = N_VALID if n > N_VALID else n // 6
    cut = n - n_valid
    # Copies, so that train and valid do not share (and pin) one buffer.
    return [(train_x[:cut].copy(), train_y[:cut].copy()),
            (train_x[cut:].copy(), train_y[cut:].copy()),
            test]


# -- pickle -------------------------------------------------------------------------
_PICKLE_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and tuples of them, refusing every other global."""

    def find_class(self, module, name):
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only NumPy arrays are "
                                         f"expected in an MNIST pickle")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module[len("numpy.core."):]
        return super().find_class(module, name)


def _load_pickle(path):
    """The tutorials' mnist.pkl.gz (gzipped or plain pickle), validated."""
    fix = "Replace it with the tutorials' mnist.pkl.gz, or use the four IDX .gz files."
    _check_regular(path, f"the tutorials' {PICKLE_NAME}")
    try:
        with open(path, "rb") as f:
            gz = f.read(2) == _GZIP_MAGIC
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
            data = _ArrayUnpickler(f, encoding="latin1").load()
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError, AttributeError, ImportError,
            IndexError, TypeError, ValueError, MemoryError) as exc:
        raise DataError(f"{path}: cannot read it as a pickle{' (gzip)' if gz else ''}: "
                        f"{exc or type(exc).__name__}. {fix}") from None
    expected = "expected ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))"
    if not isinstance(data, (tuple, list)) or len(data) != 3:
        raise DataError(f"{path}: found {_describe(data)}, {expected}. {fix}")
    out = []
    for split, xy in zip(("train", "valid", "test"), data):
        if not isinstance(xy, (tuple, list)) or len(xy) != 2:
            raise DataError(f"{path}: {split} set is {_describe(xy)}, expected a pair (x, y); {expected}. {fix}")
        x, y = xy
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != 784:
            raise DataError(f"{path}: {split}_x is {_describe(x)}, expected an array of shape (n, 784). {fix}")
        if not isinstance(y, np.ndarray) or y.shape != (len(x),):
            raise DataError(f"{path}: {split}_y is {_describe(y)}, expected an array of shape ({len(x)},) "
                            f"(one label per row of {split}_x). {fix}")
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / np.float32(255)
        elif x.dtype.kind != "f":
            raise DataError(f"{path}: {split}_x has dtype {x.dtype}, expected float in [0, 1] or uint8. {fix}")
        x = np.asarray(x, dtype=np.float32)
        if x.size and not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise DataError(f"{path}: {split}_x has values in [{x.min()}, {x.max()}], expected [0, 1]. {fix}")
        if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.array_equal(y, np.round(y))):
            raise DataError(f"{path}: {split}_y has dtype {y.dtype}, expected integer labels. {fix}")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DataError(f"{path}: {split}_y has labels in [{y.min()}, {y.max()}], expected 0..9. {fix}")
        out.append((x, y.astype(np.int32)))
    return out


def _describe(obj):
    if isinstance(obj, np.ndarray):
        return f"an array of shape {obj.shape} and dtype {obj.dtype}"
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of length {len(obj)}"
    return f"a {type(obj).__name__}"


# -- locating -----------------------------------------------------------------------
def _mnist_in(directory):
    """The folder if it holds the four IDX files, else its pickle, else None."""
    if all((directory / name).is_file() for name in MNIST_FILES):
        return directory
    if (directory / PICKLE_NAME).is_file():
        return directory / PICKLE_NAME
    return None


def _missing(directory):
    return [name for name in MNIST_FILES if not (directory / name).is_file()]


def _chosen_location(path, origin):
    """A location the user chose: it must exist and hold MNIST; no download, no fallback."""
    fix = (f"Pass a folder holding {', '.join(MNIST_FILES)} (or {PICKLE_NAME}), or the path of "
           f"{PICKLE_NAME}; or set neither the folder nor ${ENV_VAR} to have dae download MNIST "
           f"into {DEFAULT_DATA_DIR}.")
    if not path.exists():
        raise DataError(f"MNIST location {path} ({origin}) does not exist. {fix}")
    if path.is_file():
        if path.name in MNIST_FILES:
            raise DataError(f"{path} ({origin}) is one of MNIST's IDX files; pass the folder holding "
                            f"all four instead.")
        return path  # read as a pickle; a non-pickle fails there with a clear message
    found = _mnist_in(path)
    if found is None:
        raise DataError(f"no MNIST in {path} ({origin}): missing {', '.join(_missing(path))} "
                        f"and no {PICKLE_NAME}. {fix}")
    return found


# -- downloading --------------------------------------------------------------------
def _fetch(url, dest, timeout):
    """Download url to dest atomically, verifying size and md5 from MNIST_FILES."""
    size, md5 = MNIST_FILES[dest.name]
    request = urllib.request.Request(url, headers={"User-Agent": "dae (python urllib)"})

    # atomic_write, dae's one way to write a file: a failed check leaves no file behind; a
    # copy another process finished meanwhile passed the same checks, so replacing it is harmless
    with atomic_write(dest, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
        h = hashlib.md5()
        n = 0
        with _progress(dest.name, size) as bar:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                h.update(chunk)
                n += len(chunk)
                bar.update(len(chunk))
        if n != size:
            raise DataError(f"received {n} bytes, expected {size}")
        if h.hexdigest() != md5:
            raise DataError(f"md5 {h.hexdigest()}, expected {md5}")


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass


def _progress(name, total):
    if not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, desc=f"downloading {name}", unit="B", unit_scale=True,
                unit_divisor=1024, file=sys.stderr, leave=False)

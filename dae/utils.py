"""Small helpers: tiling filters into one picture, saving PNGs, atomic file writes.

:func:`tile_raster_images` follows the deeplearning.net tutorials' ``utils.py``
(the function that draws a model's filters as a grid of little images);
:func:`save_png` writes such a picture; :func:`atomic_write` is the one way dae
writes files (models, checkpoints, metrics, downloads, pictures), so that a crash
or a Ctrl-C mid-write never leaves a truncated file behind.
"""
import contextlib
import contextvars
import errno
import os
import stat
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["tile_raster_images", "save_png", "atomic_write", "check_file", "write_target", "PathError"]

#: Added to a tile's maximum before dividing, as in the tutorial, so that a
#: constant tile gives zeros instead of dividing by zero.
_EPS = 1e-8


# --------------------------------------------------------------------------- tiling
def _pair(value, name, minimum):
    """``value`` as a tuple of two ints >= ``minimum``, or a ValueError saying why not."""
    try:
        pair = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be a pair of integers like (28, 28); got {value!r}") from None
    if len(pair) != 2:
        raise ValueError(f"{name} must be a pair of integers like (28, 28); got {len(pair)} "
                         f"values: {value!r}")
    out = []
    for v in pair:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must hold integers; got {value!r}")
        if v < minimum:
            what = "positive" if minimum > 0 else "non-negative"
            raise ValueError(f"{name} must be {what}; got {value!r}")
        out.append(int(v))
    return tuple(out)


def _float_dtype(dtype):
    """``dtype`` if it is a float dtype, else float64 (integer pixels scale to fractions)."""
    dtype = np.dtype(dtype)
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


def _as_rows(X, n_pixels, img_shape, name="X"):
    """``X`` as a 2-D array of rows of ``n_pixels`` values, or a ValueError."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_images, {img_shape[0]}*{img_shape[1]}) "
                         f"with one flattened image a row; got shape {X.shape}. Reshape it with "
                         f"X.reshape(len(X), -1) first")
    if X.shape[1] != n_pixels:
        raise ValueError(f"{name}'s rows must hold img_shape[0]*img_shape[1] = {img_shape[0]}*"
                         f"{img_shape[1]} = {n_pixels} values; got rows of {X.shape[1]} "
                         f"(shape {X.shape}). Pass the img_shape the rows were flattened from")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
        raise ValueError(f"{name} must hold numbers; got dtype {X.dtype}")
    return X


def _tile_channel(X, img_shape, tile_shape, tile_spacing, scale, output_pixel_vals, out_shape,
                  dtype):
    """One channel: X's rows laid out row-major on a grid, in an array of ``dtype``."""
    h, w = img_shape
    hs, ws = tile_spacing
    n_rows, n_cols = tile_shape
    out = np.zeros(out_shape, dtype=dtype)
    work = _float_dtype(X.dtype)
    for k in range(min(X.shape[0], n_rows * n_cols)):
        r, c = divmod(k, n_cols)
        tile = X[k].reshape(h, w).astype(work)  # a copy: X is never modified
        if scale:
            tile = tile - tile.min()
            tile = tile / (tile.max() + _EPS)
        if output_pixel_vals:
            # The tutorial truncates (astype) and lets values outside [0, 1] wrap
            # around; rounding makes a tile's maximum 255 rather than 254 (the eps
            # keeps the scaled maximum just under 1) and clipping keeps unscaled
            # values outside [0, 1] black or white instead of wrapping.
            tile = np.clip(np.rint(tile * 255.0), 0, 255)
        y, x = r * (h + hs), c * (w + ws)
        out[y:y + h, x:x + w] = tile
    return out


def tile_raster_images(X, img_shape, tile_shape, tile_spacing=(0, 0),
                       scale_rows_to_unit_interval=True, output_pixel_vals=True):
    """Lay out rows of flattened images as one picture: a grid of tiles.

    This is the deeplearning.net tutorials' ``tile_raster_images``, used to look
    at a model's filters (``tile_raster_images(W.T, (28, 28), (10, 10), (1, 1))``).

    Parameters
    ----------
    X : array of shape (n_images, h * w), or tuple (R, G, B, A)
        One flattened ``h x w`` image a row (any real dtype). A 4-tuple of such
        arrays, each or any ``None``, makes an RGBA picture: each array is tiled
        on its own into its channel; a ``None`` channel is filled with 0, except
        alpha, filled with opaque (255, or 1.0 when ``output_pixel_vals`` is false).
    img_shape : (h, w)
        Each image's height and width, positive.
    tile_shape : (n_rows, n_cols)
        The grid, positive. Tiles are filled row-major from X's rows; tiles past
        X's last row stay 0 (black), rows past the last tile are not drawn.
    tile_spacing : (hs, ws), default (0, 0)
        Blank (0) pixels between neighbouring tiles, non-negative.
    scale_rows_to_unit_interval : bool, default True
        Min-max scale each tile on its own to [0, 1]: ``x - x.min()`` divided by
        ``its max + 1e-8`` (a constant tile becomes 0).
    output_pixel_vals : bool, default True
        True: return uint8 pixels, values x 255 (rounded, clipped to 0..255).
        False: return floats in X's dtype (float64 if X is not a float array).

    Returns
    -------
    numpy.ndarray
        Shape ``(H, W)`` for a 2-D X, ``(H, W, 4)`` for a tuple, where
        ``H = (h + hs) * n_rows - hs`` and ``W = (w + ws) * n_cols - ws``;
        dtype uint8 or float as above.

    Raises
    ------
    ValueError
        X not 2-D, X's rows not ``h * w`` long, a tuple not of 4 entries, or a
        shape or spacing not a pair of positive (spacing: non-negative) integers.
    """
    img_shape = _pair(img_shape, "img_shape", 1)
    tile_shape = _pair(tile_shape, "tile_shape", 1)
    tile_spacing = _pair(tile_spacing, "tile_spacing", 0)
    out_shape = tuple((i + s) * t - s for i, t, s in zip(img_shape, tile_shape, tile_spacing))
    n_pixels = img_shape[0] * img_shape[1]
    scale = bool(scale_rows_to_unit_interval)
    pixels = bool(output_pixel_vals)

    if isinstance(X, tuple):
        if len(X) != 4:
            raise ValueError(f"an X tuple must hold 4 channels (R, G, B, A), each an array or None; "
                             f"got {len(X)} entries. Pad it with None, e.g. (r, g, b, None)")
        channels = [None if c is None else _as_rows(c, n_pixels, img_shape, name=f"X[{i}]")
                    for i, c in enumerate(X)]
        # The tutorial's tuple branch breaks with output_pixel_vals=False: it
        # builds the output with ``dtype=X.dtype``, but X is a tuple there and has
        # no dtype (AttributeError), so only uint8 RGBA pictures ever worked.
        # Here the float dtype comes from the channels given, and a None channel
        # is filled with 0, alpha with 1.0 (255 for uint8).
        if pixels:
            dtype, opaque = np.dtype(np.uint8), 255
        else:
            given = [_float_dtype(c.dtype) for c in channels if c is not None]
            dtype, opaque = (np.result_type(*given) if given else np.dtype(np.float64)), 1.0
        out = np.zeros(out_shape + (4,), dtype=dtype)
        for i, channel in enumerate(channels):
            if channel is None:
                out[:, :, i] = opaque if i == 3 else 0
            else:
                out[:, :, i] = _tile_channel(channel, img_shape, tile_shape, tile_spacing, scale,
                                             pixels, out_shape, dtype)
        return out

    X = _as_rows(X, n_pixels, img_shape)
    dtype = np.dtype(np.uint8) if pixels else _float_dtype(X.dtype)
    return _tile_channel(X, img_shape, tile_shape, tile_spacing, scale, pixels, out_shape, dtype)


# --------------------------------------------------------------------------- files
class PathError(ValueError):
    """A path names the wrong kind of thing for what dae does with it: a folder,
    FIFO, device or socket where a regular file is read or written, or the very
    file being read as the place to write."""


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_file(path, what, *, folder=False):
    """The one check of every path dae opens for reading: ``path`` must be a
    regular file (or, with ``folder``, a folder); return it as a :class:`Path`.

    Done before opening, so a FIFO cannot hang the open and a device is never
    read. ``what`` names what dae expected there, e.g. ``"a model file (.npz)"``;
    the :class:`PathError` says what came instead and what to pass.
    """
    path = Path(os.fspath(path))
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise PathError(f"{path}: no such file{' or folder' if folder else ''}") from None
    except OSError as exc:
        raise PathError(f"{path}: cannot look at it ({exc.strerror}); expected {what}") from None
    if stat.S_ISREG(mode) or (folder and stat.S_ISDIR(mode)):
        return path
    raise PathError(f"{path} is {_kind(mode)}, not {what}: pass the path of "
                    f"{'a regular file or folder' if folder else 'a regular file'} holding one")


def write_target(path, protect=()):
    """The one rule for every file dae writes: the path to write for ``path``.

    A symlink is followed (its target is written; the link stays). What is
    there must be nothing yet or a regular file, which is replaced (as ``--out``
    and ``--output-dir`` promise); a folder, FIFO, device or socket is refused,
    and so is any of the files in ``protect`` (the inputs being read), under
    whatever name. Raises :class:`PathError`.
    """
    path = Path(os.fspath(path))
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target
    if not stat.S_ISREG(st.st_mode):
        raise PathError(f"{path} is {_kind(st.st_mode)}, not a regular file: dae writes only "
                        f"regular files (it would replace what is there); pass another path")
    for source in protect:
        with contextlib.suppress(OSError):
            if os.path.samestat(st, os.stat(source)):
                same = "" if Path(os.fspath(source)) == path else f" ({source})"
                raise PathError(f"{path} is the file being read{same}: writing there would "
                                "destroy it; pass another path")
    source = _READING.get().get((st.st_dev, st.st_ino))
    if source is not None:
        raise PathError(f"{path} is {source}, which this run reads: writing there would destroy "
                        "it; remove that link (or pass another output folder)")
    return target


#: The files the code running now reads (its data), by (device, inode): see :func:`reading`.
_READING = contextvars.ContextVar("dae_reading", default={})


@contextlib.contextmanager
def reading(*paths, besides=None):
    """While inside, :func:`write_target` (every write of dae's) refuses the files at ``paths``,
    and the files in those that are folders and in their subfolders (MNIST's folder, a folder
    of PNGs by class), under whatever name: a run's inputs, which a symlink in its output folder
    may point at. None among ``paths`` is skipped; so is what is in the folder ``besides`` (the
    run's own output folder, should it lie inside its data folder)."""
    files = dict(_READING.get())
    own = os.path.realpath(besides) + os.sep if besides is not None else None
    for path in paths:
        if path is None:
            continue
        found = [Path(path)]
        if os.path.isdir(path):
            found = [p for p in Path(path).iterdir() if p.is_file()]
            found += [p for sub in Path(path).iterdir() if sub.is_dir() for p in sub.iterdir()]
        for file in found:
            if own and os.path.realpath(file).startswith(own):
                continue
            with contextlib.suppress(OSError):
                st = os.stat(file)
                if stat.S_ISREG(st.st_mode):
                    files[(st.st_dev, st.st_ino)] = file
    token = _READING.set(files)
    try:
        yield files
    finally:
        _READING.reset(token)


def reads_in(folder):
    """The first entry of ``folder`` that is (or links to) a file being read, or None."""
    for entry in sorted(Path(folder).iterdir()) if os.path.isdir(folder) else []:
        with contextlib.suppress(OSError):
            st = os.stat(entry)
            if (st.st_dev, st.st_ino) in _READING.get():
                return entry, _READING.get()[(st.st_dev, st.st_ino)]
    return None


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once: reading the umask means setting it, which is not thread-safe.
_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_write(path, mode="wb", *, encoding=None, newline=None, protect=()):
    """Write ``path`` all at once or not at all.

    Yields a file object on a temporary file in ``path``'s directory (created if
    missing). When the ``with`` body ends normally the file is flushed, fsynced
    and renamed over ``path`` (``os.replace``, atomic on POSIX and Windows);
    when it raises (Ctrl-C included) the temporary file is removed and
    ``path`` is left as it was. The new file gets the usual permissions
    (``0o666`` less the umask), not the temporary file's ``0o600``. What may be
    written over is :func:`write_target`'s rule: a symlink's target, a regular
    file, never a folder, device, FIFO, socket or a file in ``protect``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    mode : str, default "wb"
        A write mode: ``"wb"`` (bytes) or ``"w"`` (text), optionally with ``"+"``.
    encoding : str, optional
        Text mode only; defaults to UTF-8 (not the locale's encoding).
    newline : str, optional
        Text mode only, as for :func:`open`.
    protect : sequence of paths, optional
        The files being read (a model file): refused as ``path``.

    Example
    -------
    >>> with atomic_write("results.json", "w") as f:   # doctest: +SKIP
    ...     json.dump(results, f)
    """
    if not isinstance(mode, str) or not mode.startswith("w") or set(mode) - set("wbt+") \
            or ("b" in mode and "t" in mode) or len(set(mode)) != len(mode):
        raise ValueError(f"atomic_write needs a write mode such as 'wb' or 'w'; got {mode!r} "
                         f"(appending or reading cannot be atomic: write the whole file)")
    binary = "b" in mode
    if binary and (encoding is not None or newline is not None):
        raise ValueError(f"encoding and newline are for text modes; got mode {mode!r}")
    path = write_target(path, protect)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise WriteError(path, exc) if exc.errno in _WRITE_ERRNOS else exc from None
    try:
        if binary:
            f = os.fdopen(fd, mode)
        else:
            f = os.fdopen(fd, mode, encoding=encoding or "utf-8", newline=newline)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError) and exc.errno in _WRITE_ERRNOS:
            raise WriteError(path, exc) from None  # a full disk, a folder made read-only...
        raise  # the body's own errors (a download that failed) are its own
    _fsync_directory(parent)


#: What a failed write says: no space, no quota, no permission, a read-only or failing disk.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO, errno.EFBIG}


class WriteError(OSError):
    """A file could not be written (disk full, no permission): ``str()`` names it and says it is
    as it was before (:func:`atomic_write` writes whole files or none)."""

    def __init__(self, path, cause):
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.path = path
        self.message = (f"could not write {path}: {cause.strerror or cause}; it is as it was "
                        "before (files are written whole or not at all)")

    def __str__(self):
        return self.message


def _fsync_directory(directory):
    """Make a rename in ``directory`` durable where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_png(array, path, protect=()):
    """Save an image array as a PNG file, atomically (see :func:`atomic_write`).

    Parameters
    ----------
    array : array of shape (H, W), (H, W, 3) or (H, W, 4)
        Grayscale, RGB or RGBA pixels: uint8 (0..255) as they are, or floats in
        [0, 1], scaled x 255, rounded and clipped to 0..255.
    path : str or os.PathLike
        Where to write; the parent directory is created if missing.
    protect : sequence of paths, optional
        Files being read, never written over (see :func:`write_target`).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        Another shape, a dtype neither uint8 nor float, or a float array with
        NaN or infinite values.
    """
    from PIL import Image

    array = np.asarray(array)
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ValueError(f"save_png needs an image of shape (H, W) (grayscale), (H, W, 3) (RGB) "
                         f"or (H, W, 4) (RGBA); got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"save_png needs an image at least 1x1; got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise ValueError("save_png got NaN or infinite pixel values; a float image must hold "
                             "values in [0, 1]")
        array = np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ValueError(f"save_png needs uint8 pixels (0..255) or floats in [0, 1]; got dtype "
                         f"{array.dtype}. Convert with array.astype(np.uint8) if the values are "
                         f"already 0..255")
    # uint8 (H, W), (H, W, 3), (H, W, 4) give Pillow modes L, RGB, RGBA
    image = Image.fromarray(np.ascontiguousarray(array))
    path = Path(os.fspath(path))
    with atomic_write(path, "wb", protect=protect) as f:
        image.save(f, format="PNG")
    return path

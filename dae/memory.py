"""Sizes before allocations: one clear error instead of a MemoryError or a swapping machine.

A flag such as ``--n-hidden 1000000000``, a 5 kB model file claiming such a
size, or an ``.npy`` header claiming a terabyte array would otherwise start a
multi-gigabyte allocation. Whoever is about to allocate estimates the bytes
first and calls :func:`check`, which raises :class:`MemoryNeeded`::

    784-1000000000 dA's parameters: 3.14 TB needed, 24.9 GB of memory available;
    use fewer hidden units (n_hidden)

Bytes are counted exactly where the arrays are known (shapes times item size;
:func:`parameter_bytes` for every model's, layer's and update rule's
parameters) and estimated where they are not (the IWAE's intermediate values); the check
is against what the machine has now, not what the whole run will need.
"""
import contextlib
import contextvars
import os
from pathlib import Path

import numpy as np

#: (bytes, reason) while :func:`allowance` is active: a tighter bound than the machine's.
_allowance = contextvars.ContextVar("dae_memory_allowance", default=None)


class MemoryNeeded(ValueError):
    """An allocation was refused before it started: it would not fit in memory."""


def available_bytes():
    """Memory available to this process now, in bytes; None where it cannot be told.

    Linux: ``MemAvailable`` of /proc/meminfo (free memory plus what the kernel
    can reclaim), lowered to a cgroup v2 limit's remainder in a container.
    Elsewhere: the physical memory (``os.sysconf``).
    """
    available = _meminfo_available()
    if available is None:
        try:
            available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    limit = _cgroup_remaining()
    return available if limit is None else min(available, limit)


def _meminfo_available():
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_remaining():
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text()))
    except (OSError, ValueError):
        return None


def format_bytes(n):
    """``3140000000000`` -> ``"3.14 TB"`` (decimal units, three significant digits)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 999.5 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000


def nbytes(shape, dtype):
    """Bytes of an array of ``shape`` and ``dtype``, as an exact Python int (no overflow)."""
    count = 1
    for n in shape:
        count *= int(n)
    return count * np.dtype(dtype).itemsize


def parameter_bytes(shapes, dtype):
    """Bytes of parameters of ``shapes``, all of ``dtype``: the one estimate every model,
    layer and update rule makes before it allocates (exact, as :func:`nbytes`)."""
    return sum(nbytes(shape, dtype) for shape in shapes)


def check_parameters(shapes, dtype, what, advice):
    """:func:`check` for parameters of ``shapes`` and ``dtype``, before the first is drawn."""
    return check(parameter_bytes(shapes, dtype), what, advice)


def check(n_bytes, what, advice):
    """Raise :class:`MemoryNeeded` unless ``n_bytes`` fit; return ``n_bytes``.

    ``what`` names the allocation ("784-1000000000 dA's parameters"); ``advice``
    says what to do ("use fewer hidden units"). Inside :func:`allowance` the
    allowance's bound applies too.
    """
    bound = _allowance.get()
    if bound is not None and n_bytes > bound[0]:
        raise MemoryNeeded(f"{what}: {format_bytes(n_bytes)} needed, more than {bound[1]}")
    available = available_bytes()
    if available is not None and n_bytes > available:
        raise MemoryNeeded(f"{what}: {format_bytes(n_bytes)} needed, {format_bytes(available)} "
                           f"of memory available; {advice}")
    return n_bytes


@contextlib.contextmanager
def allowance(n_bytes, reason):
    """Within the block, :func:`check` also refuses more than ``n_bytes``.

    ``reason`` completes "more than ...": a model file's hyperparameters are
    built under the size of the arrays it holds, so a 5 kB file cannot make a
    model allocate gigabytes.
    """
    token = _allowance.set((n_bytes, reason))
    try:
        yield
    finally:
        _allowance.reset(token)


# -- .npy headers: an array's size, read without its data ------------------------------
def npy_header(f):
    """``(shape, dtype)`` from the header of the .npy stream ``f`` (left after the header).

    Raises ValueError for a stream that is not .npy.
    """
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(f)
    elif version in ((2, 0), (3, 0)):
        # 3.0 is 2.0 with UTF-8 field names; read as Latin-1 they change, the sizes do not
        shape, _, dtype = fmt.read_array_header_2_0(f)
    else:
        raise ValueError(f".npy format version {version}; NumPy writes 1.0 to 3.0")
    return shape, dtype


def npz_headers(npz):
    """``{key: (shape, dtype)}`` of every array in an open ``np.load`` .npz, reading headers only."""
    headers = {}
    for member in npz.zip.namelist():
        with npz.zip.open(member) as f:
            key = member[:-4] if member.endswith(".npy") else member
            headers[key] = npy_header(f)
    return headers

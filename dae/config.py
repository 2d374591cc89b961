"""Engine settings: dtype and compile mode.

dae runs on PyTensor, Theano's maintained continuation. Two of Theano's settings
matter to the tutorials and are settled here, once, when ``dae`` is imported:

* ``floatX`` becomes ``float32`` (the tutorials assumed it) unless the user set
  it explicitly (``PYTENSOR_FLAGS=floatX=...`` or ``.pytensorrc``).
* the compile mode becomes dae's Numba mode unless the user chose one: a pip
  install gives PyTensor's C backend no BLAS, and there a dA epoch runs about
  ten times slower than in Numba mode, which needs no BLAS. dae's Numba mode is
  PyTensor's with BLAS rewrites and faster float32 kernels
  (:mod:`dae.numba_mode`); ``plain_numba`` is PyTensor's own.

``py`` is dae's Python mode, PyTensor's FAST_COMPILE without its slow paths
(:mod:`dae.python_mode`); ``fast_compile`` is PyTensor's own. ``jax`` is dae's
JAX mode, PyTensor's with NumPy results and random streams that advance
(:mod:`dae.jax_mode`; JAX is optional, imported when a function is compiled);
``plain_jax`` is PyTensor's own.

Override the mode with ``$DAE_MODE`` or the scripts' ``--mode`` flag.
"""
import importlib.util
import os
import warnings

# The C backend warns at import that it found no BLAS; with Numba as the default
# mode that warning is noise, so it is silenced before PyTensor is imported.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")

import numpy as np  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

MODES = {
    "numba": "NUMBA",  # dae's Numba mode: see get_mode
    "plain_numba": "NUMBA",
    # PyTensor's FAST_RUN is Numba unless config.linker says otherwise: "c" must
    # name the C backend (through the C virtual machine) itself.
    "c": "CVM",
    "cvm": "CVM",
    "fast_run": "FAST_RUN",
    "jax": "JAX",  # dae's JAX mode: see get_mode
    "plain_jax": "JAX",
    "py": "FAST_COMPILE",  # dae's Python mode: see get_mode
    "fast_compile": "FAST_COMPILE",
}
DEFAULT_MODE = "numba"
#: The experiments whose step is faster in JAX mode than in Numba mode as a user runs them
#: (``bench_modes.py --threads 0``: dae's Numba mode on one OpenBLAS thread, XLA on every core;
#: benchmarks/README.md, 2026-12-06): the dA by 1.25x, the cA 1.6-1.8x, the sA 1.3x, the VAE
#: 2.1x, and JAX compiles a graph in 1-4 s where Numba takes 7-57 s from empty caches. The
#: SdA's steps at the tutorial's batch 1 are 1.05-2.5x faster in Numba mode, so its stays
#: numba at small minibatches (:data:`JAX_FROM_BATCH`). Numba on two OpenBLAS threads is
#: faster still for the dA and the sA on an idle machine, and 3-5x slower when another
#: process holds a core: not a default (:mod:`dae.numba_mode`).
FASTEST = {"dA": "jax", "cA": "jax", "sA": "jax", "vae": "jax"}
#: The experiments whose fastest mode turns JAX from a minibatch size on: the SdA's
#: pretraining and fine-tuning steps at batch 10 are 1.8-2.2x faster in JAX mode (at batch 1
#: 1.05-2.5x slower; sizes in between not measured), so a run whose smallest minibatch is at
#: least 10 (the README's published SdA: 50 and 10) compiles in JAX mode.
JAX_FROM_BATCH = {"SdA": 10}
#: The mode :func:`set_mode` chose in this process (a notebook's first cell), over $DAE_MODE.
_chosen = None


def _asked():
    """The mode the user chose for every run of this process, if any."""
    return _chosen or os.environ.get("DAE_MODE")


def default_mode(experiment=None, quick=False, batch=None):
    """The mode an ``experiment``'s run compiles in when none was chosen: the one
    :func:`set_mode` chose, else ``$DAE_MODE`` if set, else the experiment's fastest mode
    (:data:`FASTEST`, :data:`JAX_FROM_BATCH` for a run whose smallest minibatch is
    ``batch``) if it is installed, else :data:`DEFAULT_MODE`.

    ``quick``: a run of a few hundred steps (the notebooks' quick mode), which compiling
    dominates: JAX compiles a graph in 1-4 s where Numba takes 20-57 s from empty caches, so
    every model runs in JAX mode where it is installed (a notebook's quick mode 12-26 s cold
    against Numba's 44-125 s, ``bench_first_epoch.py``)."""
    if _asked():
        return _asked()
    fastest = "jax" if quick else FASTEST.get(experiment, DEFAULT_MODE)
    if batch is not None and batch >= JAX_FROM_BATCH.get(experiment, float("inf")):
        fastest = "jax"
    if fastest == "jax" and importlib.util.find_spec("jax") is None:
        return DEFAULT_MODE  # JAX is optional: without it every experiment runs in Numba mode
    return fastest


def get_mode(mode=None):
    """The PyTensor mode for ``mode``, else the one :func:`set_mode` chose, ``$DAE_MODE`` or
    the default.

    Parameters
    ----------
    mode : str, pytensor Mode or None
        One of ``numba`` (default), ``c``, ``jax``, ``py`` (case-insensitive), a
        PyTensor mode name such as ``FAST_RUN``, or a PyTensor ``Mode`` (returned
        as it is).

    Returns what ``pytensor.function(mode=...)`` takes: for ``numba``, dae's
    Numba mode (a ``pytensor.compile.mode.Mode``, see :mod:`dae.numba_mode`);
    for ``py``, dae's Python mode (:mod:`dae.python_mode`); for ``jax``, dae's JAX
    mode (:mod:`dae.jax_mode`, equal to the name ``"JAX"``); otherwise a PyTensor
    mode name (``plain_numba`` gives PyTensor's ``NUMBA``, ``plain_jax`` its ``JAX``,
    ``fast_compile`` its ``FAST_COMPILE``).
    """
    if isinstance(mode, pytensor.compile.mode.Mode):
        return mode
    name = mode if mode is not None else _asked() or DEFAULT_MODE
    key = str(name).strip().lower()
    if key not in MODES:
        raise ValueError(
            f"unknown compile mode {name!r}: expected one of "
            f"{', '.join(sorted(set(MODES)))}; pass --mode or set DAE_MODE to one of them"
        )
    if key == "numba":
        from dae.numba_mode import mode as numba_mode
        return numba_mode()
    if key == "py":
        from dae.python_mode import mode as python_mode
        return python_mode()
    if key == "jax":
        from dae.jax_mode import mode as jax_mode
        return jax_mode()
    return MODES[key]


def set_mode(mode=None):
    """Make ``mode`` (a name) the mode of every dae function compiled without one and
    PyTensor's default (what a bare ``pytensor.function`` uses), for this process; None: the
    default (``$DAE_MODE``, else dae's Numba mode)."""
    global _chosen
    if mode is None:
        _chosen = None
    pytensor.config.mode = get_mode(mode)  # a bad name raises here, before it is recorded
    _chosen = mode if isinstance(mode, str) else None
    return pytensor.config.mode


def floatX():
    """The float dtype dae creates shared variables and inputs in."""
    return pytensor.config.floatX


def _configure_on_import():
    cfg = pytensor.config._config_var_dict
    if cfg["floatX"].is_default:
        pytensor.config.floatX = "float32"
    if cfg["mode"].is_default:
        try:
            set_mode(None)
        except ValueError:
            # A bad $DAE_MODE must not break `import dae` (nor `dae --help`): the
            # default stays, and get_mode says what is wrong when a command compiles.
            pytensor.config.mode = get_mode(DEFAULT_MODE)  # not recorded as the user's choice


def scalar(value, dtype):
    """A number or symbolic scalar as a scalar of ``dtype``.

    ``pt.cast(0.7, "float64")`` is not 0.7: with floatX float32, PyTensor first
    makes the Python float a float32 constant. A number goes through NumPy in
    ``dtype`` instead, so float64 models (gradient checks) get it exactly.
    """
    if isinstance(value, pytensor.graph.basic.Variable):
        return pt.cast(value, dtype)
    return pt.constant(np.asarray(value, dtype=dtype))

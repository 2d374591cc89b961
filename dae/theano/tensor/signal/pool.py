"""``theano.tensor.signal.pool`` (and the old ``downsample``): Theano's 2-d pooling.

Pools the last two dimensions of an input of 2 or more. A window of ``ws``
(rows, columns) moves by ``stride`` over the input zero-padded by ``pad``::

    z[..., i, j] = reduce_{(y, v) in R_i x R_j} x[..., y, v]
    R_i = [i s - p, min(i s + ws, H + p)) cut to the input [0, H)

where reduce is max, sum, or the mean: ``average_inc_pad`` divides by the
window's size counting the padding (cut to the padded input),
``average_exc_pad`` by the number of input entries in it. With
``ignore_border=True`` only whole windows count; with ``False`` (Theano's
default, which it warned would change) a last window that starts inside the
input counts too, and the padding must be 0. The gradient (max: every entry
equal to its window's maximum gets that window's gradient) is
:class:`dae.theano.windows.Pool2DGrad`.
"""
import warnings

import numpy as np
import pytensor.tensor as pt

from dae.theano.missing import missing
from dae.theano.windows import POOL_MODES, Pool2D

__all__ = ["pool_2d", "max_pool_2d", "max_pool_2d_same_size", "pool_3d"]

pool_3d = missing("theano.tensor.signal.pool.pool_3d")


def _ints(value, name, low):
    try:
        pair = tuple(int(v) for v in (value if np.ndim(value) else (value, value)))
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or min(pair) < low:
        raise ValueError(f"pool_2d: {name} must be a pair of ints >= {low} (Python ints: "
                         f"dae.theano's pooling is not symbolic in it), got {value!r}")
    return pair


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max",
            ds=None, st=None, padding=None):
    """Theano's ``pool_2d``: ``ws`` (or the old ``ds``), ``stride`` (``st``), ``pad`` (``padding``).

    input has 2 or more dimensions, the last two pooled; ``stride`` defaults to
    ``ws``. Returns z with the leading dimensions kept.
    """
    ws = _ints(ws if ws is not None else ds, "ws", 1)
    stride = ws if stride is None and st is None else _ints(stride if stride is not None else st,
                                                            "stride", 1)
    pad = _ints(padding if padding is not None else pad, "pad", 0)
    if ignore_border is None:
        warnings.warn("pool_2d: ignore_border not given; using Theano's default, False (Theano "
                      "said it would become True): pass ignore_border to choose", stacklevel=2)
        ignore_border = False
    if mode not in POOL_MODES:
        raise ValueError(f"pool_2d: mode must be one of {', '.join(POOL_MODES)}, got {mode!r}")
    if pad != (0, 0) and not ignore_border:
        raise ValueError(f"pool_2d: pad {pad} needs ignore_border=True (as in Theano)")
    if pad[0] >= ws[0] or pad[1] >= ws[1]:
        raise ValueError(f"pool_2d: pad {pad} must be smaller than ws {ws} (as in Theano)")
    x = pt.as_tensor_variable(input)
    if x.ndim < 2:
        raise TypeError(f"pool_2d: the input needs 2 or more dimensions, got {x.ndim}-d {x.type}")
    op = Pool2D(ws, stride, pad, ignore_border, mode)
    if x.ndim == 4:
        return op(x)
    # one batch dimension for the op, restored afterwards
    z = op(x.reshape((-1, 1, x.shape[-2], x.shape[-1])))
    return z.reshape((*(x.shape[i] for i in range(x.ndim - 2)), z.shape[2], z.shape[3]),
                     ndim=x.ndim)


def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0), mode="max"):
    """Theano < 0.9's ``downsample.max_pool_2d``: :func:`pool_2d` under its old names."""
    return pool_2d(input, ws=ds, ignore_border=ignore_border, stride=st, pad=padding, mode=mode)


def max_pool_2d_same_size(input, patch_size):
    """Keeps each window's maximum where it is and zeros the rest (the input's shape)."""
    x = pt.as_tensor_variable(input)
    z = pool_2d(x, patch_size, ignore_border=True)
    return pt.grad(None, wrt=x, known_grads={z: z})

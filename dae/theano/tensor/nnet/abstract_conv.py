"""``theano.tensor.nnet.abstract_conv``: Theano's 2-d convolution and its two gradients.

For an input x (B, C, H, W) and filters w (O, C, k_h, k_w), Theano's
``conv2d`` is::

    (1) y[b, o, i, j] = sum_{c, a, e} x_pad[b, c, i s_h + a d_h, j s_w + e d_w] w'[o, c, a, e]
    (2) w' = w[:, :, ::-1, ::-1] if filter_flip (a real convolution, Theano's default) else w

with stride s = ``subsample``, dilation d = ``filter_dilation`` and x_pad the
input zero-padded by ``border_mode``: 'valid' none, 'full' (k - 1) d, 'half'
((k - 1) d + 1) // 2, an int or (rows, columns) pair, or ((top, bottom),
(left, right)). With every window of x_pad a column of ``cols``
(:class:`dae.theano.windows.Im2Col`), (1) is one matrix product::

    (3) Y = W cols,   W = w as (O, C k_h k_w),   Y = y as (O, B o_h o_w)

(the flip of (2) is in the order ``cols`` reads each window), so BLAS computes
it, and PyTensor's autodiff gives both gradients: of the weights,
dW = dY cols^T, and of the input, col2im(W^T dY) (the transposed convolution,
:func:`conv2d_grad_wrt_inputs`). ``num_groups`` splits the
channels into groups, each convolved with its own filters.
"""
import numpy as np
import pytensor.tensor as pt

from dae.theano.missing import missing, unsupported
from dae.theano.windows import Col2Im, Im2Col

__all__ = ["conv2d", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights", "conv3d",
           "bilinear_upsampling"]

conv3d = missing("theano.tensor.nnet.abstract_conv.conv3d")
bilinear_upsampling = missing("theano.tensor.nnet.abstract_conv.bilinear_upsampling")


def _pair(value, name):
    try:
        pair = tuple(int(v) for v in (value if np.ndim(value) else (value, value)))
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"conv2d: {name} must be a positive int or a pair of them, got {value!r}")
    return pair


def _border(border_mode):
    """'full', 'half' or (top, bottom, left, right) from Theano's ``border_mode``."""
    if isinstance(border_mode, str):
        if border_mode in ("full", "half"):
            return border_mode
        if border_mode == "valid":
            return (0, 0, 0, 0)
    else:
        try:
            value = border_mode
            if np.ndim(value) == 0:
                value = (value, value)
            pads = []
            for pad in value:
                pads.extend(int(p) for p in (pad if np.ndim(pad) else (pad, pad)))
            if len(pads) == 4 and min(pads) >= 0:
                return tuple(pads)
        except (TypeError, ValueError):
            pass
    raise ValueError(f"conv2d: border_mode must be 'valid', 'full', 'half', an int, a (rows, "
                     f"columns) pair or ((top, bottom), (left, right)), got {border_mode!r}")


def _hinted(x, shape, name):
    """x with the static shape of Theano's shape hint (None entries stay unknown)."""
    x = pt.as_tensor_variable(x)
    if x.ndim != 4:
        raise TypeError(f"conv2d: {name} must be 4-d (batch, channels, rows, columns), got "
                        f"{x.ndim}-d {x.type}: reshape it to 4-d first")
    if shape is None:
        return x
    hint = tuple(shape)
    if len(hint) != 4:
        raise ValueError(f"conv2d: the {name}'s shape hint must have 4 entries, got {shape!r}")
    hint = tuple(None if h is None or not isinstance(h, (int, np.integer)) else int(h) for h in hint)
    for have, want in zip(x.type.shape, hint):
        if None not in (have, want) and have != want:
            raise ValueError(f"conv2d: the shape hint {tuple(shape)} for the {name} does not "
                             f"match its shape {x.type.shape}: pass a matching hint or none")
    return pt.specify_shape(x, hint) if any(h is not None for h in hint) else x


def _options(border_mode, subsample, filter_dilation, filter_flip, num_groups, unshared, api):
    if unshared:
        raise unsupported(f"theano.tensor.nnet.abstract_conv.{api}(unshared=True)", depth=2)
    if int(num_groups) < 1:
        raise ValueError(f"conv2d: num_groups must be a positive int, got {num_groups!r}")
    return dict(stride=_pair(subsample, "subsample"), dilation=_pair(filter_dilation, "filter_dilation"),
                border=_border(border_mode), flip=bool(filter_flip))


def _as_rows(g):
    """(B, O, o_h, o_w) -> (O, B o_h o_w), the layout of Y in (3)."""
    return _as_matrix(g.dimshuffle(1, 0, 2, 3))


def _as_matrix(t):
    """A 4-d tensor as (its first dimension, the rest).

    Shapes here are always an array's own (``t.shape[i]``) or constants, never
    arithmetic on them: JAX needs a reshape's shape concrete.
    """
    return t.reshape((t.shape[0], -1))


def _times(n, groups):
    return n if groups == 1 else n * groups


def _per_group(n, groups):
    return n if groups == 1 else n // groups


def _groups(num_groups, *tensors_and_axes):
    """Each tensor split into ``num_groups`` along its axis, group by group."""
    if num_groups == 1:
        return [tuple(t for t, _ in tensors_and_axes)]
    splits = []
    for t, axis in tensors_and_axes:
        size = t.shape[axis] // num_groups
        splits.append([t[(slice(None),) * axis + (slice(g * size, (g + 1) * size),)]
                       for g in range(num_groups)])
    return list(zip(*splits))


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, image_shape=None, filter_dilation=(1, 1),
           num_groups=1, unshared=False, **kwargs):
    """Theano's 2-d convolution (1): input (B, C, H, W), filters (O, C / num_groups, k_h, k_w).

    Returns y (B, O, o_h, o_w) in the input's dtype, o_h = (H + pads - (k_h - 1) d_h - 1)
    // s_h + 1. ``input_shape`` (or the old ``image_shape``) and ``filter_shape``
    are optional hints (None entries allowed); given, they are checked when the
    function runs. Extra Theano keywords for GPU back ends are ignored.
    """
    options = _options(border_mode, subsample, filter_dilation, filter_flip, int(num_groups),
                       unshared, "conv2d")
    x = _hinted(input, input_shape if input_shape is not None else image_shape, "input")
    w = _hinted(filters, filter_shape, "filters")
    outputs = []
    for xg, wg in _groups(int(num_groups), (x, 1), (w, 0)):
        cols = Im2Col(**options)(xg, wg)  # (C k_h k_w, B, o_h, o_w)
        y = pt.dot(_as_matrix(wg), _as_matrix(cols))
        y = y.reshape((wg.shape[0], cols.shape[1], cols.shape[2], cols.shape[3]))
        outputs.append(y.dimshuffle(1, 0, 2, 3))
    return outputs[0] if len(outputs) == 1 else pt.concatenate(outputs, axis=1)


def _shape(shape, known, name, what, api):
    """Theano's shape argument: 4 entries, None ones taken from ``known``, the last two needed."""
    entries = list(shape) if isinstance(shape, (list, tuple)) else [shape[i] for i in range(4)]
    if len(entries) != 4 or entries[2] is None or entries[3] is None:
        raise ValueError(f"{api}: {name} must have 4 entries, the last two ({what}) given, "
                         f"got {shape!r}")
    return [k if s is None else pt.as_tensor_variable(s) for s, k in zip(entries, known)]


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None,
                           border_mode="valid", subsample=(1, 1), filter_flip=True,
                           filter_dilation=(1, 1), num_groups=1, unshared=False):
    """The gradient of (1) with respect to its input: the transposed convolution.

    output_grad (B, O, o_h, o_w), filters (O, C / num_groups, k_h, k_w), and the
    input's shape ``input_shape`` (B, C, H, W): H and W are needed (with
    ``subsample`` several input sizes give the same output), B and C may be None.
    Returns col2im(W^T dY), of shape ``input_shape``.
    """
    api, groups = "conv2d_grad_wrt_inputs", int(num_groups)
    options = _options(border_mode, subsample, filter_dilation, filter_flip, groups, unshared, api)
    g, w = _hinted(output_grad, None, "output_grad"), _hinted(filters, filter_shape, "filters")
    b, c, h, wd = _shape(input_shape, (g.shape[0], _times(w.shape[1], groups), None, None),
                         "input_shape", "the input's rows and columns", api)
    outputs = []
    for gg, wg in _groups(groups, (g, 1), (w, 0)):
        cols = pt.dot(_as_matrix(wg).T, _as_rows(gg))
        cols = cols.reshape((-1, gg.shape[0], gg.shape[2], gg.shape[3]))
        like = pt.zeros((b, _per_group(c, groups), h, wd), dtype=g.dtype)  # only its shape is read
        outputs.append(Col2Im(**options)(cols, like, wg))
    return outputs[0] if len(outputs) == 1 else pt.concatenate(outputs, axis=1)


def conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None,
                            border_mode="valid", subsample=(1, 1), filter_flip=True,
                            filter_dilation=(1, 1), num_groups=1, unshared=False):
    """The gradient of (1) with respect to its filters: dW = dY cols^T.

    input (B, C, H, W), output_grad (B, O, o_h, o_w), and the filters' shape
    ``filter_shape`` (O, C / num_groups, k_h, k_w): k_h and k_w are needed, O and
    C may be None. Returns the gradient, of shape ``filter_shape``.
    """
    api, groups = "conv2d_grad_wrt_weights", int(num_groups)
    options = _options(border_mode, subsample, filter_dilation, filter_flip, groups, unshared, api)
    x, g = _hinted(input, input_shape, "input"), _hinted(output_grad, None, "output_grad")
    o, c, kh, kw = _shape(filter_shape, (g.shape[1], _per_group(x.shape[1], groups), None, None),
                          "filter_shape", "the filters' rows and columns", api)
    kernel = pt.zeros((1, 1, kh, kw), dtype=g.dtype)  # only its shape is read
    outputs = []
    for xg, gg in _groups(groups, (x, 1), (g, 1)):
        dw = pt.dot(_as_rows(gg), _as_matrix(Im2Col(**options)(xg, kernel)).T)
        outputs.append(dw.reshape((_per_group(o, groups), c, kh, kw)))
    return outputs[0] if len(outputs) == 1 else pt.concatenate(outputs, axis=0)

"""Sliding-window ops: the im2col of a convolution, its adjoint, 2-d pooling and its gradient.

A convolution layer is a matrix product once every input window is a column
(im2col); pooling reduces each window. For an input x of shape (B, C, H, W),
a k_h x k_w window with stride (s_h, s_w), dilation (d_h, d_w) and zero pads
(p_top, p_bottom, p_left, p_right), numbered as Theano numbers a filter's
entries::

    (1) cols[(c k_h + a) k_w + e, b, i, j] = x_pad[b, c, i s_h + a' d_h, j s_w + e' d_w]
    (2) o_h = (H + p_top + p_bottom - (k_h - 1) d_h - 1) // s_h + 1     (o_w alike)

with (a', e') = (a, e), or (k_h - 1 - a, k_w - 1 - e) when ``flip`` (a real
convolution: the filters stay as they are, the windows are read backwards).

:class:`Im2Col` computes (1); :class:`Col2Im` its adjoint, summing every
column entry back onto the pixel it came from (so ``grad`` of one is the
other). The window size is read from a second input's last two dimensions at
run time (the filters, for a convolution), so filters with no static shape
(Theano's shared variables) work. ``cols`` is 4-d, so that the shapes of a
layer's outputs are shapes of arrays (JAX needs them concrete), never
arithmetic on them: for the same reason :class:`Im2Col` and :class:`Pool2D`
have no ``infer_shape``.

:class:`Pool2D` reduces each window by Theano's rules (``max``, ``sum``,
``average_inc_pad``, ``average_exc_pad``; a window cut by the border keeps
the part inside, see :func:`pool_regions`); :class:`Pool2DGrad` is its
gradient (for ``max``, every entry equal to its window's maximum gets the
window's gradient, as in Theano).

Each op has a NumPy ``perform`` (the ``py`` and ``c`` modes), Numba kernels
(:mod:`dae.theano._windows_numba`) and JAX ones (:mod:`dae.theano._windows_jax`),
registered by :func:`backends` when a graph first uses them.
"""
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import disconnected_type, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from dae.theano._after_import import when_imported

__all__ = ["Im2Col", "Col2Im", "Pool2D", "Pool2DGrad", "POOL_MODES", "resolve_pads",
           "conv_out_size", "pool_out_size", "pool_regions", "windows"]

POOL_MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def resolve_pads(border, kh, kw, dh, dw):
    """(top, bottom, left, right) zero pads for ``border``: 'full', 'half' or 4 ints.

    'full' pads by the dilated filter's size less one (every overlap counts),
    'half' by half of it, rounded down (the output keeps an odd filter's input
    size). Works on ints and on symbolic sizes.
    """
    if border == "full":
        return ((kh - 1) * dh,) * 2 + ((kw - 1) * dw,) * 2
    if border == "half":
        return (((kh - 1) * dh + 1) // 2,) * 2 + (((kw - 1) * dw + 1) // 2,) * 2
    return tuple(border)


def conv_out_size(size, k, stride, dilation, pad_before, pad_after):
    """Equation (2) along one axis (ints or symbolic)."""
    return (size + pad_before + pad_after - (k - 1) * dilation - 1) // stride + 1


def pool_out_size(size, ws, stride, pad, ignore_border):
    """Theano's pooled size along one axis (ints or symbolic).

    With ``ignore_border`` only whole windows count; without, a last window
    that starts inside the input counts too.
    """
    padded = size + 2 * pad
    if ignore_border:
        return (padded - ws) // stride + 1
    if stride >= ws:
        return (padded - 1) // stride + 1
    return (padded - 1 - ws + stride) // stride + 1


def pool_regions(size, ws, stride, pad, ignore_border, out=None):
    """For each window along one axis: (first, last + 1) input index and its divisor.

    The window of output j covers padded positions [j s, min(j s + ws, size + 2 pad));
    its data are the ones inside the input. ``average_inc_pad`` divides by the
    window's padded length, ``average_exc_pad`` by its data's (Theano's rules).
    Returns int arrays ``lo``, ``hi``, ``inc`` (padded length), each of length ``out``.
    """
    out = pool_out_size(size, ws, stride, pad, ignore_border) if out is None else out
    start = np.arange(out) * stride
    end = np.minimum(start + ws, size + 2 * pad)
    lo = np.maximum(start, pad) - pad
    hi = np.minimum(end - pad, size)
    return lo, hi, end - start


def windows(xp, x, size, stride, dilation, pads, fill):
    """x (..., H, W) -> (..., k_h k_w, o_h, o_w): entry (a, e) of every window, by (1).

    ``xp`` is NumPy or jax.numpy; ``pads`` may exceed what (2) needs (the
    pooling border), ``fill`` is the padding value.
    """
    (kh, kw), (sh, sw), (dh, dw) = size, stride, dilation
    top, bottom, left, right = pads
    x = xp.pad(x, [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)],
               constant_values=fill)
    oh = (x.shape[-2] - (kh - 1) * dh - 1) // sh + 1
    ow = (x.shape[-1] - (kw - 1) * dw - 1) // sw + 1
    return xp.stack([x[..., a * dh:a * dh + (oh - 1) * sh + 1:sh, e * dw:e * dw + (ow - 1) * sw + 1:sw]
                     for a in range(kh) for e in range(kw)], axis=-3)


def windows_adjoint(win, shape, size, stride, dilation, pads):
    """The adjoint of :func:`windows` in NumPy: each window entry added onto its pixel."""
    (kh, kw), (sh, sw), (dh, dw) = size, stride, dilation
    top, bottom, left, right = pads
    out = np.zeros(shape[:-2] + (shape[-2] + top + bottom, shape[-1] + left + right), win.dtype)
    oh, ow = win.shape[-2:]
    for a in range(kh):
        for e in range(kw):
            out[..., a * dh:a * dh + (oh - 1) * sh + 1:sh,
                e * dw:e * dw + (ow - 1) * sw + 1:sw] += win[..., a * kw + e, :, :]
    return out[..., top:top + shape[-2], left:left + shape[-1]]


def check_conv_size(oh, ow, image, kernel):
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d: the padded input ({image[0]}x{image[1]}) is smaller than the "
                         f"dilated filter ({kernel[0]}x{kernel[1]}): pad the input "
                         "(border_mode) or use a smaller filter")


class _Geometry:
    """What Im2Col and Col2Im share: their props and the size of (1)."""

    __props__ = ("stride", "dilation", "border", "flip")

    def __init__(self, stride=(1, 1), dilation=(1, 1), border=(0, 0, 0, 0), flip=False):
        self.stride, self.dilation, self.flip = tuple(stride), tuple(dilation), bool(flip)
        self.border = border if isinstance(border, str) else tuple(border)

    def pads(self, kh, kw):
        return resolve_pads(self.border, kh, kw, *self.dilation)

    def out_size(self, h, w, kh, kw):
        top, bottom, left, right = self.pads(kh, kw)
        return (conv_out_size(h, kh, self.stride[0], self.dilation[0], top, bottom),
                conv_out_size(w, kw, self.stride[1], self.dilation[1], left, right))

    def im2col(self, x, kh, kw, xp=np):
        """Equation (1) in NumPy (or jax.numpy)."""
        win = windows(xp, x, (kh, kw), self.stride, self.dilation, self.pads(kh, kw), 0)
        if self.flip:  # reversing a * k_w + e reverses both a and e
            win = win[:, :, ::-1]
        b, c, k, oh, ow = win.shape
        check_conv_size(oh, ow, x.shape[-2:], (kh, kw))
        return win.transpose(1, 2, 0, 3, 4).reshape(c * k, b, oh, ow)

    def col2im(self, cols, shape, kh, kw):
        b, c, h, w = shape
        win = cols.reshape(c, kh * kw, b, *self.out_size(h, w, kh, kw)).transpose(2, 0, 1, 3, 4)
        if self.flip:
            win = win[:, :, ::-1]
        return windows_adjoint(win, tuple(shape), (kh, kw), self.stride, self.dilation,
                               self.pads(kh, kw))


def _tensor4(x, name):
    x = pt.as_tensor_variable(x)
    if x.ndim != 4:
        raise TypeError(f"{name} must be 4-d (batch, channels, rows, columns), got {x.ndim}-d "
                        f"{x.type}: reshape it to 4-d first")
    return x


class Im2Col(_Geometry, Op):
    """cols = im2col(x) by (1), for windows of ``kernel``'s last two dimensions."""

    __props__ = _Geometry.__props__

    def make_node(self, x, kernel):
        backends()
        x, kernel = _tensor4(x, "the input"), _tensor4(kernel, "the filters")
        (b, c, h, w), (kh, kw) = x.type.shape, kernel.type.shape[2:]
        rows = None if None in (c, kh, kw) else c * kh * kw
        oh, ow = (None, None) if None in (h, w, kh, kw) else self.out_size(h, w, kh, kw)
        if oh is not None:
            check_conv_size(oh, ow, (h, w), (kh, kw))
        # static shapes where the input's are: JAX needs them concrete
        return Apply(self, [x, kernel], [pt.tensor4(dtype=x.dtype, shape=(rows, b, oh, ow))])

    def perform(self, node, inputs, outputs):
        x, kernel = inputs
        outputs[0][0] = self.im2col(x, *kernel.shape[-2:])

    def connection_pattern(self, node):
        return [[True], [False]]

    def pullback(self, inputs, outputs, output_grads):
        x, kernel = inputs
        return [Col2Im(*self._props())(output_grads[0], x, kernel),
                disconnected_type()]


class Col2Im(_Geometry, Op):
    """The adjoint of (1): an image of ``like``'s shape, each column entry added onto its pixel."""

    __props__ = _Geometry.__props__

    def make_node(self, cols, like, kernel):
        backends()
        cols = _tensor4(cols, "the columns")
        like, kernel = _tensor4(like, "the image"), _tensor4(kernel, "the filters")
        return Apply(self, [cols, like, kernel], [pt.tensor4(dtype=cols.dtype)])

    def perform(self, node, inputs, outputs):
        cols, like, kernel = inputs
        outputs[0][0] = self.col2im(cols, like.shape, *kernel.shape[-2:])

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[1]]

    def connection_pattern(self, node):
        return [[True], [False], [False]]

    def pullback(self, inputs, outputs, output_grads):
        _, _, kernel = inputs
        return [Im2Col(*self._props())(output_grads[0], kernel),
                disconnected_type(), disconnected_type()]


class _PoolGeometry:
    __props__ = ("ws", "stride", "pad", "ignore_border", "mode")

    def __init__(self, ws, stride, pad, ignore_border, mode):
        self.ws, self.stride, self.pad = tuple(ws), tuple(stride), tuple(pad)
        self.ignore_border, self.mode = bool(ignore_border), mode

    def out_size(self, h, w):
        return tuple(pool_out_size(n, *args, self.ignore_border)
                     for n, args in zip((h, w), zip(self.ws, self.stride, self.pad)))

    def regions(self, h, w):
        return [pool_regions(n, *args, self.ignore_border)
                for n, args in zip((h, w), zip(self.ws, self.stride, self.pad))]

    def pads(self, h, w):
        """(top, bottom, left, right) for :func:`windows`: without ``ignore_border``
        the last window may reach past the padding, and is padded further."""
        (ph, pw), (kh, kw), (sh, sw) = self.pad, self.ws, self.stride
        oh, ow = self.out_size(h, w)
        return (ph, max(ph, (oh - 1) * sh + kh - h - ph), pw, max(pw, (ow - 1) * sw + kw - w - pw))

    def windows(self, xp, x, fill):
        """x's windows (B, C, ws_h ws_w, o_h, o_w), the padding filled with ``fill``."""
        return windows(xp, x, self.ws, self.stride, (1, 1), self.pads(*x.shape[-2:]), fill)

    def divisor(self, h, w, dtype):
        """(o_h, o_w): each window's divisor in the average modes."""
        (lo_h, hi_h, inc_h), (lo_w, hi_w, inc_w) = self.regions(h, w)
        if self.mode == "average_inc_pad":
            return np.outer(inc_h, inc_w).astype(dtype)
        return np.outer(hi_h - lo_h, hi_w - lo_w).astype(dtype)

    def pool(self, x, xp=np):
        """Theano's pooling of x (B, C, H, W), in NumPy or jax.numpy."""
        if self.mode == "max":
            return self.windows(xp, x, -np.inf).max(axis=-3)
        total = self.windows(xp, x, 0).sum(axis=-3)
        return total if self.mode == "sum" else total / self.divisor(*x.shape[-2:], x.dtype)

    def grad_windows(self, x, z, gz, xp=np):
        """The gradient's windows: gz, shared by the window (average) or where the
        entry equals the window's maximum (max)."""
        if self.mode == "max":
            win = self.windows(xp, x, -np.inf)
            return xp.where(win == z[..., None, :, :], gz[..., None, :, :], 0).astype(gz.dtype)
        share = gz if self.mode == "sum" else gz / self.divisor(*x.shape[-2:], gz.dtype)
        return xp.broadcast_to(share[..., None, :, :],
                               share.shape[:-2] + (self.ws[0] * self.ws[1],) + share.shape[-2:])

    def pool_grad(self, x, z, gz):
        return windows_adjoint(self.grad_windows(x, z, gz), x.shape, self.ws, self.stride, (1, 1),
                               self.pads(*x.shape[-2:]))


class Pool2D(_PoolGeometry, Op):
    """Theano's 2-d pooling of a (batch, channels, rows, columns) tensor."""

    __props__ = _PoolGeometry.__props__

    def make_node(self, x):
        backends()
        x = _tensor4(x, "the input")
        b, c, h, w = x.type.shape
        oh, ow = (None, None) if None in (h, w) else self.out_size(h, w)
        return Apply(self, [x], [pt.tensor4(dtype=x.dtype, shape=(b, c, oh, ow))])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.asarray(self.pool(inputs[0]), dtype=node.outputs[0].dtype)

    def pullback(self, inputs, outputs, output_grads):
        return [Pool2DGrad(*self._props())(inputs[0], outputs[0], output_grads[0])]


class Pool2DGrad(_PoolGeometry, Op):
    """The gradient of :class:`Pool2D` at x (pooled to z) for the output gradient gz."""

    __props__ = _PoolGeometry.__props__

    def make_node(self, x, z, gz):
        backends()
        x, z, gz = _tensor4(x, "the input"), _tensor4(z, "the pooled input"), _tensor4(gz, "the gradient")
        return Apply(self, [x, z, gz], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.asarray(self.pool_grad(*inputs), dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]

    def connection_pattern(self, node):
        if self.mode == "max":  # piecewise constant in x and z
            return [[True], [True], [True]]
        return [[False], [False], [True]]

    def pullback(self, inputs, outputs, output_grads):
        x, z, gz = inputs
        if self.mode == "max":
            return [pt.zeros_like(x), pt.zeros_like(z),
                    grad_not_implemented(self, 2, gz, "second derivative of max pooling")]
        # linear in gz: its adjoint is the pooling itself
        return [disconnected_type(), disconnected_type(),
                Pool2D(*self._props())(output_grads[0])]


def _register_jax(module):
    import dae.theano._windows_jax  # noqa: F401


def backends():
    """Register the ops' kernels: Numba's now, JAX's once PyTensor imports its JAX back end.

    Called by every ``make_node``, so that a graph holding these ops always has
    its Numba kernels (dae's default mode: importing Numba's dispatch costs
    about 1 s, once, and only code that builds these ops pays it), and JAX's
    without importing JAX (3 s) for code that never compiles in that mode. The
    call is idempotent and cheap after the first.
    """
    import dae.theano._windows_numba  # noqa: F401
    when_imported("pytensor.link.jax.dispatch", _register_jax)

"""Numba kernels of :mod:`dae.theano.windows`, registered with PyTensor's Numba dispatch.

Loops over the output with no padded copy of the input: a pixel outside the
input is a zero (im2col) or is skipped (pooling). Each kernel reads any
strided input (a transposed or sliced view reaches it as one). Single-threaded,
as dae's BLAS is on this busy machine (see :mod:`dae._numba_kernels`).
"""
import numpy as np
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key

from dae.theano.windows import POOL_MODES, Col2Im, Im2Col, Pool2D, Pool2DGrad

KERNEL_VERSION = 7
njit = numba_basic.numba_njit


def _cache_key(op, node):
    dtypes = tuple(v.type.dtype for v in node.inputs + node.outputs)
    return f"dae.theano._windows_numba.{type(op).__name__}{op._props()}.v{KERNEL_VERSION}.{dtypes}"


@njit(inline="always")
def _inside(n_out, stride, offset, size):
    """The outputs j in [lo, hi) whose input index j * stride + offset lies in [0, size)."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = 0 if offset >= size else (size - 1 - offset) // stride + 1
    return lo, max(lo, min(hi, n_out))


def _conv_geometry(op):
    """njit (h, w, kh, kw) -> (top pad, left pad, o_h, o_w), equation (2) for the op's border."""
    kind = op.border if isinstance(op.border, str) else "explicit"
    explicit = (0, 0, 0, 0) if isinstance(op.border, str) else op.border
    (sh, sw), (dh, dw) = op.stride, op.dilation

    @njit(inline="always")
    def geometry(h, w, kh, kw):
        if kind == "full":
            top, bottom, left, right = (kh - 1) * dh, (kh - 1) * dh, (kw - 1) * dw, (kw - 1) * dw
        elif kind == "half":
            top = bottom = ((kh - 1) * dh + 1) // 2
            left = right = ((kw - 1) * dw + 1) // 2
        else:
            top, bottom, left, right = explicit
        oh = (h + top + bottom - (kh - 1) * dh - 1) // sh + 1
        ow = (w + left + right - (kw - 1) * dw - 1) // sw + 1
        if oh < 1 or ow < 1:
            raise ValueError("conv2d: the padded input is smaller than the dilated filter: pad "
                             "the input (border_mode) or use a smaller filter")
        return top, left, oh, ow

    return geometry


def _window_loops(op, scatter):
    """njit (img, cols, kh, kw, top, left): cols = im2col(img) by (1), or, with
    ``scatter``, img += its adjoint (each column entry added onto its pixel).

    Both arrays C-contiguous, indexed flat from offsets computed once a row:
    with a short row (8 pixels in LeNet's second layer) the index arithmetic
    of 4-d indexing, or a view made inside the loop, costs more than the copy.
    """
    (sh, sw), (dh, dw), flip = op.stride, op.dilation, op.flip

    @njit(inline="always")
    def loops(img, cols, kh, kw, top, left):
        b_n, c_n, h, w = img.shape
        oh, ow = cols.shape[2], cols.shape[3]
        pixels, entries = img.reshape(-1), cols.reshape(-1)
        for c in range(c_n):
            for a in range(kh):
                af = kh - 1 - a if flip else a  # the window's row read into row a
                i_lo, i_hi = _inside(oh, sh, af * dh - top, h)
                for e in range(kw):
                    ef = kw - 1 - e if flip else e
                    j_lo, j_hi = _inside(ow, sw, ef * dw - left, w)
                    r = (c * kh + a) * kw + e
                    for b in range(b_n):
                        for i in range(i_lo, i_hi):
                            src = ((b * c_n + c) * h + i * sh + af * dh - top) * w + ef * dw - left
                            dst = ((r * b_n + b) * oh + i) * ow
                            for j in range(j_lo, j_hi):
                                if scatter:
                                    pixels[src + j * sw] += entries[dst + j]
                                else:
                                    entries[dst + j] = pixels[src + j * sw]

    return loops


@register_funcify_and_cache_key(Im2Col)
def _numba_im2col(op, node, **kwargs):
    geometry, loops = _conv_geometry(op), _window_loops(op, scatter=False)
    dtype = node.outputs[0].type.numpy_dtype
    valid = op.border == (0, 0, 0, 0)

    @njit
    def im2col(x, kernel):
        b_n, c_n, h, w = x.shape
        kh, kw = kernel.shape[2], kernel.shape[3]
        top, left, oh, ow = geometry(h, w, kh, kw)
        shape = (c_n * kh * kw, b_n, oh, ow)
        # without padding every entry is written; with it, those outside stay 0
        cols = np.empty(shape, dtype=dtype) if valid else np.zeros(shape, dtype=dtype)
        loops(np.ascontiguousarray(x), cols, kh, kw, top, left)
        return cols

    return im2col, _cache_key(op, node)


@register_funcify_and_cache_key(Col2Im)
def _numba_col2im(op, node, **kwargs):
    geometry, loops = _conv_geometry(op), _window_loops(op, scatter=True)
    dtype = node.outputs[0].type.numpy_dtype

    @njit
    def col2im(cols, like, kernel):
        b_n, c_n, h, w = like.shape
        kh, kw = kernel.shape[2], kernel.shape[3]
        top, left, oh, ow = geometry(h, w, kh, kw)
        if cols.shape != (c_n * kh * kw, b_n, oh, ow):
            raise ValueError("conv2d's gradient: the columns do not match the image and filter shapes")
        img = np.zeros((b_n, c_n, h, w), dtype=dtype)
        loops(img, np.ascontiguousarray(cols), kh, kw, top, left)
        return img

    return col2im, _cache_key(op, node)


def _pool_regions(op):
    """njit (h, w) -> the windows' bounds and divisors along each axis (windows.pool_regions)."""
    (kh, kw), (sh, sw), (ph, pw) = op.ws, op.stride, op.pad
    ignore_border, inc_pad = op.ignore_border, op.mode == "average_inc_pad"

    @njit(inline="always")
    def axis(n, k, s, p):
        padded = n + 2 * p
        if ignore_border:
            n_out = (padded - k) // s + 1
        elif s >= k:
            n_out = (padded - 1) // s + 1
        else:
            n_out = (padded - 1 - k + s) // s + 1
        n_out = max(n_out, 0)
        lo, hi, div = np.empty(n_out, np.int64), np.empty(n_out, np.int64), np.empty(n_out, np.int64)
        for j in range(n_out):
            start, end = j * s, min(j * s + k, padded)
            lo[j], hi[j] = max(start, p) - p, min(end - p, n)
            div[j] = end - start if inc_pad else hi[j] - lo[j]
        return lo, hi, div

    @njit
    def regions(h, w):
        return axis(h, kh, sh, ph), axis(w, kw, sw, pw)

    return regions


@register_funcify_and_cache_key(Pool2D)
def _numba_pool(op, node, **kwargs):
    regions, mode = _pool_regions(op), POOL_MODES.index(op.mode)  # 0 max, 1 sum, else average
    dtype = node.outputs[0].type.numpy_dtype

    @njit
    def pool(x):
        b_n, c_n, h, w = x.shape
        (lo_h, hi_h, div_h), (lo_w, hi_w, div_w) = regions(h, w)
        z = np.empty((b_n, c_n, len(lo_h), len(lo_w)), dtype=dtype)
        for b in range(b_n):
            for c in range(c_n):
                img = x[b, c]
                for i in range(len(lo_h)):
                    for j in range(len(lo_w)):
                        acc = -np.inf if mode == 0 else 0.0
                        for y in range(lo_h[i], hi_h[i]):
                            for v in img[y, lo_w[j]:hi_w[j]]:
                                acc = max(acc, v) if mode == 0 else acc + v
                        z[b, c, i, j] = acc if mode < 2 else acc / (div_h[i] * div_w[j])
        return z

    return pool, _cache_key(op, node)


@register_funcify_and_cache_key(Pool2DGrad)
def _numba_pool_grad(op, node, **kwargs):
    regions, mode = _pool_regions(op), POOL_MODES.index(op.mode)
    dtype = node.outputs[0].type.numpy_dtype

    @njit
    def pool_grad(x, z, gz):
        b_n, c_n, h, w = x.shape
        (lo_h, hi_h, div_h), (lo_w, hi_w, div_w) = regions(h, w)
        gx = np.zeros((b_n, c_n, h, w), dtype=dtype)
        for b in range(b_n):
            for c in range(c_n):
                for i in range(len(lo_h)):
                    for j in range(len(lo_w)):
                        g = gz[b, c, i, j]
                        if mode >= 2:
                            g = g / (div_h[i] * div_w[j])
                        for y in range(lo_h[i], hi_h[i]):
                            for v in range(lo_w[j], hi_w[j]):
                                if mode != 0 or x[b, c, y, v] == z[b, c, i, j]:
                                    gx[b, c, y, v] += g
        return gx

    return pool_grad, _cache_key(op, node)

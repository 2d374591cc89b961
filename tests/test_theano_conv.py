"""dae.theano's conv2d, its gradients and pool_2d against NumPy references, in every mode.

The references are loops written from Theano's definitions, not from dae's
code: a convolution sums over each window of the padded input, its gradients
are the same sums read the other way, and pooling follows Theano's
``Pool.perform`` (a window cut by the border keeps the part inside). The
gradients are also checked numerically (``verify_grad``, float64). The ``py``
mode runs every option; Numba (dae's default mode) and JAX a representative
set, since each new option compiles new kernels.
"""
import subprocess
import sys
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import verify_grad

from dae.config import get_mode
from dae.theano.tensor.nnet import abstract_conv, conv, conv2d
from dae.theano.tensor.signal import downsample, pool

RNG = np.random.default_rng(1234)


@pytest.fixture(params=["py", "numba", "jax"])
def mode(request):
    """A compile mode; JAX only where installed, run in float64 (x64 on) for the checks."""
    if request.param != "jax":
        yield get_mode(request.param)
        return
    jax = pytest.importorskip("jax")
    import pytensor.link.jax.dispatch  # noqa: F401  (sets x64 from floatX: set it after)

    saved = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield get_mode("jax")
    jax.config.update("jax_enable_x64", saved)


def compile_fn(inputs, outputs, mode):
    # An op with no Numba kernel would fall back to object mode with a warning: fail instead.
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*object mode.*")
        return pytensor.function(inputs, outputs, mode=mode)


def variables(*arrays):
    """Symbolic inputs with the arrays' static shapes (JAX needs them)."""
    return [pt.tensor(dtype=a.dtype, shape=a.shape) for a in arrays]


# -- NumPy references ------------------------------------------------------------------
def padded(x, pads):
    top, bottom, left, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def out_size(n, k, s, d):
    return (n - (k - 1) * d - 1) // s + 1


def ref_conv(x, w, pads, stride=(1, 1), dilation=(1, 1), flip=True):
    """y[b, o, i, j] = sum_{c,a,e} x_pad[b, c, i s + a d, j s + e d] w'[o, c, a, e]."""
    w = w[:, :, ::-1, ::-1] if flip else w
    xp = padded(x, pads)
    (kh, kw), (sh, sw), (dh, dw) = w.shape[2:], stride, dilation
    oh, ow = out_size(xp.shape[2], kh, sh, dh), out_size(xp.shape[3], kw, sw, dw)
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for e in range(kw):
                    y[:, :, i, j] += xp[:, :, i * sh + a * dh, j * sw + e * dw] @ w[:, :, a, e].T
    return y


def ref_grad_inputs(g, w, x_shape, pads, stride=(1, 1), dilation=(1, 1), flip=True):
    """Each output's gradient added back onto the input pixels its window read."""
    w = w[:, :, ::-1, ::-1] if flip else w
    top, bottom, left, right = pads
    gx = np.zeros((x_shape[0], x_shape[1], x_shape[2] + top + bottom, x_shape[3] + left + right))
    (kh, kw), (sh, sw), (dh, dw) = w.shape[2:], stride, dilation
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            for a in range(kh):
                for e in range(kw):
                    gx[:, :, i * sh + a * dh, j * sw + e * dw] += g[:, :, i, j] @ w[:, :, a, e]
    return gx[:, :, top:top + x_shape[2], left:left + x_shape[3]]


def ref_grad_weights(x, g, w_shape, pads, stride=(1, 1), dilation=(1, 1), flip=True):
    """dw'[o, c, a, e] = sum_{b,i,j} g[b, o, i, j] x_pad[b, c, i s + a d, j s + e d]."""
    xp = padded(x, pads)
    kh, kw = w_shape[2:]
    (sh, sw), (dh, dw) = stride, dilation
    gw = np.zeros(w_shape)
    for a in range(kh):
        for e in range(kw):
            for i in range(g.shape[2]):
                for j in range(g.shape[3]):
                    gw[:, :, a, e] += g[:, :, i, j].T @ xp[:, :, i * sh + a * dh, j * sw + e * dw]
    return gw[:, :, ::-1, ::-1] if flip else gw


def ref_pool(x, ws, stride, pad, ignore_border, mode):
    """Theano's Pool.perform: regions [j s, min(j s + ws, padded)), cut to the input
    unless ``average_inc_pad``; max, sum or mean over each."""
    n = [x.shape[-2] + 2 * pad[0], x.shape[-1] + 2 * pad[1]]
    out = []
    for k in range(2):
        if ignore_border:
            out.append((n[k] - ws[k]) // stride[k] + 1)
        elif stride[k] >= ws[k]:
            out.append((n[k] - 1) // stride[k] + 1)
        else:
            out.append(max(0, (n[k] - 1 - ws[k] + stride[k]) // stride[k]) + 1)
    y = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * pad[0], x.shape[3] + 2 * pad[1]))
    y[:, :, pad[0]:pad[0] + x.shape[2], pad[1]:pad[1] + x.shape[3]] = x
    regions = []
    for k in range(2):
        r = []
        for j in range(out[k]):
            start, end = j * stride[k], min(j * stride[k] + ws[k], n[k])
            if mode != "average_inc_pad":
                start, end = max(start, pad[k]), min(end, n[k] - pad[k])
            r.append(slice(start, end))
        regions.append(r)
    reduce = {"max": np.max, "sum": np.sum}.get(mode, np.mean)
    z = np.zeros((x.shape[0], x.shape[1], out[0], out[1]))
    for i, ri in enumerate(regions[0]):
        for j, rj in enumerate(regions[1]):
            z[:, :, i, j] = reduce(y[:, :, ri, rj], axis=(2, 3))
    return z


# -- conv2d ----------------------------------------------------------------------------
BORDERS = [("valid", (0, 0, 0, 0)), ("full", None), ("half", None), (2, (2, 2, 2, 2)),
           ((1, 2), (1, 1, 2, 2)), (((0, 2), (1, 0)), (0, 2, 1, 0))]


def pads_of(border_mode, pads, kh, kw, dilation):
    """The pads Theano's border_mode means (full and half depend on the dilated filter)."""
    dkh, dkw = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    if border_mode == "full":
        return (dkh - 1, dkh - 1, dkw - 1, dkw - 1)
    if border_mode == "half":
        return (dkh // 2, dkh // 2, dkw // 2, dkw // 2)
    return pads


def check_conv(mode, x_shape, w_shape, border_mode="valid", pads=(0, 0, 0, 0), subsample=(1, 1),
               filter_flip=True, filter_dilation=(1, 1)):
    xv, wv = RNG.normal(size=x_shape), RNG.normal(size=w_shape)
    x, w = variables(xv, wv)
    y = conv2d(x, w, border_mode=border_mode, subsample=subsample, filter_flip=filter_flip,
               filter_dilation=filter_dilation)
    pads = pads_of(border_mode, pads, *w_shape[2:], filter_dilation)
    want = ref_conv(xv, wv, pads, subsample, filter_dilation, filter_flip)
    np.testing.assert_allclose(compile_fn([x, w], y, mode)(xv, wv), want, rtol=1e-10, atol=1e-10)
    # the gradients, against the references for a random output gradient
    gv = RNG.normal(size=want.shape)
    gx, gw = pt.grad((y * gv).sum(), [x, w])
    got_x, got_w = compile_fn([x, w], [gx, gw], mode)(xv, wv)
    opts = (pads, subsample, filter_dilation, filter_flip)
    np.testing.assert_allclose(got_x, ref_grad_inputs(gv, wv, x_shape, *opts), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got_w, ref_grad_weights(xv, gv, w_shape, *opts), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("border_mode, pads", BORDERS)
@pytest.mark.parametrize("subsample", [(1, 1), (2, 3)])
@pytest.mark.parametrize("filter_flip", [True, False])
@pytest.mark.parametrize("filter_dilation", [(1, 1), (2, 1)])
def test_conv2d_every_option_matches_numpy_in_py_mode(border_mode, pads, subsample, filter_flip,
                                                      filter_dilation):
    check_conv(get_mode("py"), (2, 3, 9, 8), (4, 3, 3, 2), border_mode, pads, subsample,
               filter_flip, filter_dilation)


@pytest.mark.parametrize("border_mode, pads", [BORDERS[0], BORDERS[1], BORDERS[5]])
def test_conv2d_matches_numpy_in_each_mode(mode, border_mode, pads):
    check_conv(mode, (2, 3, 9, 8), (4, 3, 3, 2), border_mode, pads, subsample=(2, 1),
               filter_dilation=(1, 2))


def test_conv2d_numerical_gradient(mode):
    xv, wv = RNG.normal(size=(2, 2, 6, 7)), RNG.normal(size=(3, 2, 3, 2))
    verify_grad(lambda x, w: conv2d(x, w, border_mode="half", subsample=(2, 1),
                                    filter_dilation=(1, 2)), [xv, wv], rng=RNG, mode=mode)
    verify_grad(lambda x, w: conv2d(x, w, border_mode=(1, 0), filter_flip=False), [xv, wv],
                rng=RNG, mode=mode)


def test_conv2d_without_static_shapes_shared_filters_and_hints(mode):
    """Theano's usual call: a tensor4 input, shared filters; hints checked when the function runs."""
    if mode == "JAX":
        pytest.skip("JAX needs static shapes (give the input's type its shape, or all-int hints)")
    xv, wv = RNG.normal(size=(3, 2, 7, 6)), RNG.normal(size=(4, 2, 2, 3))
    x, w = pt.tensor4(dtype="float64"), pytensor.shared(wv)
    f = compile_fn([x], conv2d(x, w, border_mode="full"), mode)
    np.testing.assert_allclose(f(xv), ref_conv(xv, wv, (1, 1, 2, 2)), rtol=1e-10)
    hinted = conv2d(x, w, input_shape=(None, 2, 7, 6), filter_shape=(4, 2, 2, 3))
    assert hinted.type.shape[2:] == (6, 4)  # the hints give static shapes
    g = compile_fn([x], hinted, mode)
    np.testing.assert_allclose(g(xv), ref_conv(xv, wv, (0,) * 4), rtol=1e-10)
    with pytest.raises(Exception, match="7"):
        g(xv[:, :, :6])


def test_conv2d_groups_and_the_old_names():
    mode = get_mode("py")
    xv, wv = RNG.normal(size=(2, 4, 6, 5)), RNG.normal(size=(6, 2, 3, 3))
    x, w = variables(xv, wv)
    y = compile_fn([x, w], conv2d(x, w, num_groups=2), mode)(xv, wv)
    want = np.concatenate([ref_conv(xv[:, :2], wv[:3], (0,) * 4),
                           ref_conv(xv[:, 2:], wv[3:], (0,) * 4)], axis=1)
    np.testing.assert_allclose(y, want, rtol=1e-10)
    w1 = pt.tensor(dtype="float64", shape=(3, 4, 3, 3))
    w1v = RNG.normal(size=(3, 4, 3, 3))
    for f in (conv.conv2d(x, w1, image_shape=(2, 4, 6, 5), border_mode="full"),
              abstract_conv.conv2d(x, w1, border_mode="full"),
              conv2d(x, w1, image_shape=(2, 4, 6, 5), border_mode="full")):
        np.testing.assert_allclose(compile_fn([x, w1], f, mode)(xv, w1v),
                                   ref_conv(xv, w1v, (2, 2, 2, 2)), rtol=1e-10)


@pytest.mark.parametrize("subsample", [(1, 1), (2, 3)])
@pytest.mark.parametrize("border_mode, pads", [BORDERS[0], BORDERS[2], BORDERS[4]])
def test_conv2d_gradient_ops_match_numpy(mode, subsample, border_mode, pads):
    """conv2d_grad_wrt_inputs (the transposed convolution) and conv2d_grad_wrt_weights."""
    x_shape, w_shape = (2, 3, 10, 9), (4, 3, 3, 3)
    pads = pads_of(border_mode, pads, 3, 3, (1, 1))
    xv, wv = RNG.normal(size=x_shape), RNG.normal(size=w_shape)
    y_shape = ref_conv(xv, wv, pads, subsample).shape
    gv = RNG.normal(size=y_shape)
    x, w, g = variables(xv, wv, gv)
    opts = dict(border_mode=border_mode, subsample=subsample)
    # with a stride, several input sizes give this output: input_shape says which
    gx = abstract_conv.conv2d_grad_wrt_inputs(g, w, input_shape=(None, None, 10, 9), **opts)
    gw = abstract_conv.conv2d_grad_wrt_weights(x, g, filter_shape=(None, None, 3, 3), **opts)
    got_x, got_w = compile_fn([x, w, g], [gx, gw], mode)(xv, wv, gv)
    np.testing.assert_allclose(got_x, ref_grad_inputs(gv, wv, x_shape, pads, subsample), rtol=1e-10)
    np.testing.assert_allclose(got_w, ref_grad_weights(xv, gv, w_shape, pads, subsample), rtol=1e-10)


def test_the_transposed_convolution_has_a_gradient(mode):
    wv, gv = RNG.normal(size=(3, 2, 3, 3)), RNG.normal(size=(2, 3, 3, 3))
    verify_grad(lambda w, g: abstract_conv.conv2d_grad_wrt_inputs(
        g, w, input_shape=(2, 2, 7, 8), subsample=(2, 2)), [wv, gv], rng=RNG, mode=mode)


@pytest.mark.parametrize("call, message", [
    (lambda x, w: conv2d(x, w, border_mode="same"), "border_mode must be"),
    (lambda x, w: conv2d(x, w, subsample=(0, 1)), "subsample must be"),
    (lambda x, w: conv2d(x, w, input_shape=(2, 3, 5, 5)), "does not match its shape"),
    (lambda x, w: conv2d(x[0], w), "must be 4-d"),
    (lambda x, w: conv2d(x, pt.tensor(shape=(4, 3, 9, 1))), "smaller than the dilated"),
    (lambda x, w: conv.conv2d(x, w, border_mode="half"), "'valid' or 'full'"),
    (lambda x, w: abstract_conv.conv2d_grad_wrt_inputs(x, w, input_shape=(2, 3, None, 4)),
     "the last two"),
])
def test_bad_conv_arguments_fail_in_one_line(call, message):
    x, w = pt.tensor(shape=(2, 3, 6, 5)), pt.tensor(shape=(4, 3, 3, 3))
    with pytest.raises((ValueError, TypeError), match=message) as raised:
        call(x, w)
    assert "\n" not in str(raised.value)


# -- pool_2d ---------------------------------------------------------------------------
POOLS = [((2, 2), None, (0, 0), True), ((2, 2), None, (0, 0), False), ((3, 2), (2, 1), (0, 0), False),
         ((3, 3), (1, 2), (1, 2), True), ((2, 3), (3, 2), (1, 1), True), ((3, 2), (1, 1), (0, 0), False)]


@pytest.mark.parametrize("pool_mode", ["max", "sum", "average_inc_pad", "average_exc_pad"])
@pytest.mark.parametrize("ws, stride, pad, ignore_border", POOLS)
def test_pool_2d_every_option_matches_numpy_in_py_mode(pool_mode, ws, stride, pad, ignore_border):
    check_pool(get_mode("py"), pool_mode, ws, stride, pad, ignore_border)


@pytest.mark.parametrize("pool_mode", ["max", "sum", "average_inc_pad", "average_exc_pad"])
@pytest.mark.parametrize("ws, stride, pad, ignore_border", [POOLS[2], POOLS[3]])
def test_pool_2d_matches_numpy_in_each_mode(mode, pool_mode, ws, stride, pad, ignore_border):
    check_pool(mode, pool_mode, ws, stride, pad, ignore_border)


def check_pool(mode, pool_mode, ws, stride, pad, ignore_border):
    xv = RNG.normal(size=(2, 3, 7, 8))
    [x] = variables(xv)
    z = pool.pool_2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=pool_mode)
    want = ref_pool(xv, ws, stride or ws, pad, ignore_border, pool_mode)
    np.testing.assert_allclose(compile_fn([x], z, mode)(xv), want, rtol=1e-12)
    verify_grad(lambda a: pool.pool_2d(a, ws, ignore_border=ignore_border, stride=stride, pad=pad,
                                       mode=pool_mode), [xv], rng=RNG, mode=mode)


def test_max_pool_gradient_goes_to_every_maximum_as_in_theano(mode):
    xv = np.array([[[[1.0, 3.0, 3.0, 0.0], [2.0, 0.0, 1.0, 3.0]]]])  # ties in the second window
    [x] = variables(xv)
    z = pool.pool_2d(x, (2, 2), ignore_border=True)
    got = compile_fn([x], pt.grad(z.sum(), x), mode)(xv)
    np.testing.assert_array_equal(got, [[[[0, 1, 1, 0], [0, 0, 0, 1]]]])


def test_pool_2d_any_leading_dimensions_and_the_old_names():
    mode = get_mode("py")
    xv = RNG.normal(size=(2, 3, 4, 5, 6))
    x = pt.tensor(dtype="float64", shape=(None,) * 5)
    z = compile_fn([x], pool.pool_2d(x, ds=(2, 3), st=(1, 2), padding=(1, 1), ignore_border=True,
                                     mode="average_inc_pad"), mode)(xv)
    want = ref_pool(xv.reshape(6, 4, 5, 6), (2, 3), (1, 2), (1, 1), True, "average_inc_pad")
    np.testing.assert_allclose(z, want.reshape(2, 3, *want.shape[1:]), rtol=1e-12)
    m = pt.matrix(dtype="float64")
    mv = RNG.normal(size=(5, 4))
    np.testing.assert_allclose(compile_fn([m], downsample.max_pool_2d(m, (2, 2), True), mode)(mv),
                               ref_pool(mv[None, None], (2, 2), (2, 2), (0, 0), True, "max")[0, 0])
    same = compile_fn([x], pool.max_pool_2d_same_size(x, (2, 2)), mode)(xv)
    keep = same != 0  # each window's maximum, where it was; zeros elsewhere
    np.testing.assert_array_equal(same[keep], xv[keep])
    assert keep.reshape(-1, 2, 3, 2).sum() == 2 * 3 * 4 * 2 * 3


def test_pool_2d_warns_on_theanos_ignore_border_default():
    with pytest.warns(UserWarning, match="ignore_border"):
        pool.pool_2d(pt.tensor4(), (2, 2))


@pytest.mark.parametrize("kwargs, message", [
    (dict(ws=(2, 2), pad=(1, 1), ignore_border=False), "needs ignore_border=True"),
    (dict(ws=(2, 2), pad=(2, 0), ignore_border=True), "smaller than ws"),
    (dict(ws=(2, 2), ignore_border=True, mode="median"), "mode must be one of"),
    (dict(ws=pt.lvector(), ignore_border=True), "Python ints"),
])
def test_bad_pool_arguments_fail_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as raised:
        pool.pool_2d(pt.tensor4(), **kwargs)
    assert "\n" not in str(raised.value)


def test_kernels_register_when_a_graph_uses_the_ops_jax_only_once_jax_is_loaded():
    """``import theano`` loads neither back end; a conv graph registers the Numba kernels
    (dae's default mode), and the JAX ones only when PyTensor imports its JAX back end."""
    pytest.importorskip("jax")
    code = ("import sys, dae.theano, pytensor.tensor as pt\n"
            "loaded = lambda: [m in sys.modules for m in ('dae.theano._windows_numba', "
            "'dae.theano._windows_jax', 'pytensor.link.jax.dispatch')]\n"
            "print(*loaded())\n"
            "from dae.theano.tensor.nnet import conv2d\n"
            "y = conv2d(pt.tensor4(), pt.tensor4())\n"
            "print(*loaded())\n"
            "import pytensor.link.jax.dispatch\n"
            "print(*loaded())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["False False False", "True False False", "True True True"]

"""JAX versions of :mod:`dae.theano.windows`' ops, registered with PyTensor's JAX dispatch.

The forward ops are the NumPy code run on jax.numpy (shapes are concrete when
JAX traces them); each adjoint is JAX's transpose of the linear map
:func:`dae.theano.windows.windows`, so no second implementation is written.
"""
import jax
import jax.numpy as jnp
from pytensor.link.jax.dispatch import jax_funcify

from dae.theano.windows import Col2Im, Im2Col, Pool2D, Pool2DGrad, windows


def _adjoint(win, shape, dtype, size, stride, dilation, pads):
    """:func:`windows_adjoint` by JAX's transpose of the (linear) windows map."""
    def forward(img):
        return windows(jnp, img, size, stride, dilation, pads, 0)

    (img,) = jax.linear_transpose(forward, jax.ShapeDtypeStruct(shape, dtype))(win)
    return img


@jax_funcify.register(Im2Col)
def _jax_im2col(op, **kwargs):
    def im2col(x, kernel):
        return op.im2col(x, *kernel.shape[-2:], xp=jnp)

    return im2col


@jax_funcify.register(Col2Im)
def _jax_col2im(op, **kwargs):
    def col2im(cols, like, kernel):
        (c_k, b, oh, ow), (kh, kw) = cols.shape, kernel.shape[-2:]
        win = cols.reshape(c_k // (kh * kw), kh * kw, b, oh, ow).transpose(2, 0, 1, 3, 4)
        if op.flip:
            win = win[:, :, ::-1]
        return _adjoint(win, like.shape, cols.dtype, (kh, kw), op.stride, op.dilation,
                        op.pads(kh, kw))

    return col2im


@jax_funcify.register(Pool2D)
def _jax_pool(op, **kwargs):
    def pool(x):
        return op.pool(x, xp=jnp).astype(x.dtype)

    return pool


@jax_funcify.register(Pool2DGrad)
def _jax_pool_grad(op, **kwargs):
    def pool_grad(x, z, gz):
        win = op.grad_windows(x, z, gz, xp=jnp)
        return _adjoint(win, x.shape, gz.dtype, op.ws, op.stride, (1, 1),
                        op.pads(*x.shape[-2:])).astype(x.dtype)

    return pool_grad


"""``theano.tensor.nnet.conv``: Theano's older ``conv2d``, a real convolution.

The same convolution as :func:`dae.theano.tensor.nnet.abstract_conv.conv2d`
with ``filter_flip=True``, under the old signature: ``image_shape`` for the
input's shape hint, ``border_mode`` 'valid' or 'full' only.
"""
from dae.theano.tensor.nnet import abstract_conv

__all__ = ["conv2d"]


def conv2d(input, filters, image_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), **kwargs):
    """y = input * filters, a real convolution: input (B, C, H, W), filters (O, C, k_h, k_w)."""
    if border_mode not in ("valid", "full"):
        raise ValueError(f"theano.tensor.nnet.conv.conv2d: border_mode must be 'valid' or 'full', "
                         f"got {border_mode!r}; theano.tensor.nnet.conv2d takes the others")
    return abstract_conv.conv2d(input, filters, input_shape=image_shape, filter_shape=filter_shape,
                                border_mode=border_mode, subsample=subsample, filter_flip=True)

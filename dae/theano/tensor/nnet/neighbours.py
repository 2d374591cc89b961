"""``theano.tensor.nnet.neighbours``: ``images2neibs`` as a graph of strided slices.

PyTensor 3 has no ``Images2Neibs`` op. A slice per position in the
neighbourhood, stacked, gives Theano's layout (a row per neighbourhood, for
each image and channel, row-major) and its gradient for free. Modes ``valid``
and ``ignore_borders``; the padded ones are not here.
"""
import pytensor.tensor as pt
from pytensor.raise_op import Assert

from dae.theano.missing import missing, unsupported

__all__ = ["images2neibs", "neibs2images"]

neibs2images = missing("theano.tensor.nnet.neighbours.neibs2images")


def images2neibs(ten4, neib_shape, neib_step=None, mode="valid"):
    """(batch, channels, h, w) -> (batch * channels * n_neighbourhoods, r * c), as Theano's."""
    if mode not in ("valid", "ignore_borders"):
        raise unsupported(f"theano.tensor.nnet.neighbours.images2neibs(mode={mode!r})")
    try:  # the loop below needs the neighbourhood's size in Python
        r, c = (int(n) for n in neib_shape)
        sr, sc = (int(n) for n in (neib_shape if neib_step is None else neib_step))
    except TypeError:
        raise unsupported("theano.tensor.nnet.neighbours.images2neibs with a symbolic "
                          "neib_shape or neib_step") from None
    x = pt.as_tensor_variable(ten4)
    h, w = x.shape[2], x.shape[3]
    if mode == "valid":  # Theano refused an image the neighbourhoods do not tile exactly
        x = Assert("images2neibs: mode='valid' needs (h - r) and (w - c) to be multiples of the "
                   "step; use mode='ignore_borders'")(x, pt.eq((h - r) % sr, 0) & pt.eq((w - c) % sc, 0))
    rows, cols = (h - r) // sr + 1, (w - c) // sc + 1
    patches = [x[:, :, i:i + sr * (rows - 1) + 1:sr, j:j + sc * (cols - 1) + 1:sc]
               for i in range(r) for j in range(c)]
    return pt.stack(patches, axis=-1).reshape((-1, r * c))

"""``theano.tensor.nnet.abstract_conv``: names only, for now.

PyTensor 3 has no 2-d convolution of Theano's kind (its ``signal.convolve2d``
is a single-channel one); each function here raises
:class:`dae.theano.missing.TheanoAPIMissing` when called.
"""
from dae.theano.missing import missing

conv2d = missing("theano.tensor.nnet.abstract_conv.conv2d")
conv2d_grad_wrt_inputs = missing("theano.tensor.nnet.abstract_conv.conv2d_grad_wrt_inputs")
conv2d_grad_wrt_weights = missing("theano.tensor.nnet.abstract_conv.conv2d_grad_wrt_weights")
conv3d = missing("theano.tensor.nnet.abstract_conv.conv3d")
bilinear_upsampling = missing("theano.tensor.nnet.abstract_conv.bilinear_upsampling")

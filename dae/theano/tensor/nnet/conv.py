"""``theano.tensor.nnet.conv``: Theano's older ``conv2d`` (see :mod:`.abstract_conv`)."""
from dae.theano.missing import missing

conv2d = missing("theano.tensor.nnet.conv.conv2d")

"""``theano.scan_module``: Theano's home of scan, PyTensor's ``pytensor.scan``."""
from pytensor.scan import op as scan_op  # noqa: F401
from pytensor.scan import utils as scan_utils  # noqa: F401  (equal_computations, ...)
from pytensor.scan.basic import scan  # noqa: F401

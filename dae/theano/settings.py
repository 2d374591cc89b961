"""``theano.config``: PyTensor's config, plus the settings Theano-era code reads.

Reading or setting any of PyTensor's settings (``floatX``, ``mode``,
``compute_test_value``, ...) reaches ``pytensor.config``. ``device`` is
``"cpu"``: PyTensor has no GPU device setting (dae's GPU path is its JAX mode,
``DAE_MODE=jax``), so setting it to anything else is an error.
"""
import types

import pytensor

__all__ = ["config", "TheanoConfig"]


class TheanoConfig:
    """Attribute access forwarded to ``pytensor.config``, with Theano's ``device``."""

    device = "cpu"
    init_gpu_device = ""
    force_device = False
    # Theano's flags about its own old bugs (rnnrbm.py sets warn.subtensor_merge_bug):
    # PyTensor never had those bugs, so the flags are kept and nothing reads them.
    warn = types.SimpleNamespace()

    def __getattr__(self, name):
        return getattr(pytensor.config, name)

    def __setattr__(self, name, value):
        if name in ("device", "init_gpu_device", "force_device"):
            if value != getattr(TheanoConfig, name):
                raise ValueError(f"theano.config.{name} cannot be {value!r} here: dae.theano runs "
                                 "on PyTensor, which has no GPU device; run with DAE_MODE=jax "
                                 "(with jax installed) for the GPU")
            return
        setattr(pytensor.config, name, value)

    def __dir__(self):
        return sorted(set(dir(pytensor.config)) | {"device", "init_gpu_device", "force_device", "warn"})


config = TheanoConfig()

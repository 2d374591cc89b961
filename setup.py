import re
from pathlib import Path

from setuptools import find_packages, setup


HERE = Path(__file__).parent
# The version lives once, in dae/__init__.py (read here without importing dae).
VERSION = re.search(r'^__version__ = "([^"]+)"', (HERE / "dae" / "__init__.py").read_text(),
                    re.M).group(1)

setup(
    name="dae",
    version=VERSION,
    description="Denoising, contractive, sparse, stacked and variational autoencoders "
                "of the deeplearning.net tutorials, on PyTensor",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["dae", "dae.*"]),
    python_requires=">=3.10",
    install_requires=[
        "pytensor>=3.0,<4",
        "numba>=0.60",
        "numpy>=1.26",
        "scipy>=1.11",
        "pillow>=10",
        "matplotlib>=3.7",
        "tqdm>=4.60",
    ],
    extras_require={
        # JAX for tests/test_backends.py's JAX-mode test (CPU wheel, installs in seconds).
        "test": ["pytest>=7", "jax>=0.4"],
        "jax": ["jax>=0.4"],
        # what the original Theano tutorial files import besides theano (see dae.theano)
        "theano": ["six>=1.16"],
    },
    entry_points={"console_scripts": ["dae=dae.cli:main"]},
)

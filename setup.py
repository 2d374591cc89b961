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
    # the console script's first lines, outside the package so they import at once (see it)
    py_modules=["_dae_entry"],
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
        # pytest-xdist runs the suite on every core (pytest -n auto);
        # JAX for tests/test_config.py's JAX-mode tests (CPU wheel, installs in seconds);
        # nbclient, nbformat and ipykernel (which brings the python3 kernel) for
        # tests/test_notebooks.py, which runs the notebooks in a Jupyter kernel.
        "test": ["pytest>=7", "pytest-xdist>=3", "jax>=0.4", "nbclient>=0.7", "nbformat>=5.7", "ipykernel>=6.20"],
        # to open notebooks/ (jupyter lab notebooks/); ipywidgets draws tqdm's bars as widgets,
        # six is for the original tutorial files that theano_tutorials.ipynb imports
        "notebooks": ["jupyterlab>=4", "ipywidgets>=8", "nbclient>=0.7", "nbformat>=5.7",
                      "ipykernel>=6.20", "six>=1.16"],
        "jax": ["jax>=0.4"],
        # what the original Theano tutorial files import besides theano (see dae.theano)
        "theano": ["six>=1.16"],
    },
    entry_points={"console_scripts": ["dae=_dae_entry:main"]},
)

from pathlib import Path

from setuptools import find_packages, setup


setup(
    name="dae",
    version="0.1.0",
    description="Denoising, contractive, sparse, stacked and variational autoencoders "
                "of the deeplearning.net tutorials, on PyTensor",
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["dae", "dae.*"]),
    python_requires=">=3.10",
    install_requires=[
        "pytensor>=3.0,<4",
        "numba>=0.60",
        "numpy>=1.26",
        "scipy>=1.11",
        "pillow>=10",
        "tqdm>=4.60",
    ],
    extras_require={
        # JAX for tests/test_backends.py's JAX-mode test (CPU wheel, installs in seconds).
        "test": ["pytest>=7", "jax>=0.4"],
        "jax": ["jax>=0.4"],
    },
    entry_points={"console_scripts": ["dae=dae.cli:main"]},
)

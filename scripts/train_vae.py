"""Variational autoencoder on binarized MNIST, with honest likelihood numbers.

Trains a 784-512-512-50 VAE (mirrored decoder, ReLU, Adam 1e-3, batch 100) on
dynamically binarized MNIST, printing the training and validation ELBO each
epoch, then the test ELBO and the importance-sampled NLL (k = 1000) on the test
set binarized once (seed 0). Writes ``vae_plots/samples.png``,
``reconstructions.png``, ``results.json`` and, with ``--latent 2``,
``manifold.png``. Run ``python scripts/train_vae.py --help`` for the flags.
"""
import sys

from _dae_entry import script  # noqa: E402 -- Ctrl-C is one line from the first instant

if __name__ == "__main__":
    sys.exit(script("vae"))

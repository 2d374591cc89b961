"""Sparse autoencoder on MNIST with UFLDL's settings.

Trains a 784-196 sparse autoencoder (rho 0.1, beta 3, lambda 3e-3; SGD, rate
0.5, batch 100, 30 epochs, seed 123), printing each epoch's cost, KL term, mean
hidden activation and seconds, and writes ``sA_plots/sae_filters.png``.
Run ``python scripts/train_sA.py --help`` for the flags.
"""
import sys

from _dae_entry import script  # noqa: E402 -- Ctrl-C is one line from the first instant

if __name__ == "__main__":
    sys.exit(script("sA"))

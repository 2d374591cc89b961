"""Contractive autoencoder on MNIST: the deeplearning.net tutorial's experiment.

Trains a 784-500 cA for 20 epochs (learning rate 0.01, batch 10, contraction
0.1, seed 123), printing each epoch's reconstruction cost, mean ||J_f(x)||_F and
seconds, and writes ``cA_plots/cae_filters.png``.
Run ``python scripts/train_cA.py --help`` for the flags.
"""
import sys

from _dae_entry import script  # noqa: E402 -- Ctrl-C is one line from the first instant

if __name__ == "__main__":
    sys.exit(script("cA"))

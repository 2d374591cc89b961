"""Denoising autoencoder on MNIST: the deeplearning.net tutorial's experiment.

Trains a 784-500 dA for 15 epochs (learning rate 0.1, batch 20, seed 123) at
corruption 0% and 30%, printing one line per epoch, and writes
``dA_plots/filters_corruption_0.png`` and ``filters_corruption_30.png``.
Run ``python scripts/train_dA.py --help`` for the flags.
"""
import sys

from _dae_entry import script  # noqa: E402 -- Ctrl-C is one line from the first instant

if __name__ == "__main__":
    sys.exit(script("dA"))

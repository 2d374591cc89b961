"""Stacked denoising autoencoder on MNIST: the deeplearning.net tutorial's experiment.

Pretrains a 784-1000-1000-1000 SdA layer by layer (15 epochs per layer,
corruption 0.1/0.2/0.3, learning rate 0.001), then fine-tunes it with a
logistic layer on top (learning rate 0.1, early stopping), minibatch 1, seed
89677; prints the costs, the validation and test errors, and writes
``SdA_plots/filters_layer0.png`` and ``SdA_plots/best_model.npz``.
The tutorial's quick check: ``--pretraining-epochs 1 --training-epochs 1 --batch-size 300``.
Run ``python scripts/train_SdA.py --help`` for the flags.
"""
import sys

from _dae_entry import script  # noqa: E402 -- Ctrl-C is one line from the first instant

if __name__ == "__main__":
    sys.exit(script("SdA"))

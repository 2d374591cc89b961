"""The tutorial's SdA experiment: greedy layer-wise pretraining, then supervised
fine-tuning with early stopping, on MNIST.

Defaults are the tutorial's: 784-1000-1000-1000-10, corruption 0.1/0.2/0.3,
pretraining 15 epochs at learning rate 0.001, fine-tuning up to 1000 epochs at
0.1, minibatch 1, seed 89677. Prints each layer's pretraining cost per epoch, the
validation error per fine-tuning epoch and the test error at each new best, the
wall time of each phase, and a final ``best validation X% at epoch N, test Y%``.
Writes ``<output-dir>/filters_layer0.png`` (the first layer's first 100 filters)
and ``<output-dir>/best_model.npz`` (the best model's parameters, ``W0, b0, ...``).
"""
import time

import numpy as np

from dae.cli import (UserError, add_common_flags, fraction, positive_float, positive_int,
                     progress_bar, say)

HELP = "stacked denoising autoencoder on MNIST: pretraining, then fine-tuning (the tutorial's experiment)"

# The tutorial evaluated in the training minibatch size; the errors do not depend
# on it, and at minibatch 1 this is ~10x faster.
EVAL_BATCH_SIZE = 1000


def run(args):
    from dae.config import set_mode
    from dae.SdA import SdA

    set_mode(args.mode)
    if len(args.corruption_levels) != len(args.hidden_layers):
        raise UserError(f"--corruption-levels has {len(args.corruption_levels)} values for "
                        f"{len(args.hidden_layers)} --hidden-layers; give one per layer")
    datasets = _datasets(args)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(args.seed)
    sda = SdA(numpy_rng=rng, n_ins=datasets[0][0].get_value(borrow=True).shape[1],
              hidden_layers_sizes=args.hidden_layers, n_outs=10,
              corruption_levels=args.corruption_levels, layer_type=args.layer_type)
    pretrain(sda, datasets[0][0], args)
    best = finetune(sda, datasets, args)
    sda.set_params(best["params"])
    _write_outputs(sda, args)
    return 0


def pretrain(sda, train_x, args):
    from dae.train import fit

    batch_size = args.pretrain_batch_size or args.batch_size
    start = time.perf_counter()
    functions = sda.pretraining_functions(train_x, batch_size, args.mode)
    for i, (function, level) in enumerate(zip(functions, args.corruption_levels)):
        def step(index, function=function, level=level):
            return function(index, corruption=level, lr=args.pretrain_lr)
        fit(step, function.n_steps, args.pretraining_epochs,
            on_epoch=lambda r, i=i: say(f"pre-training layer {i}, epoch {r['epoch']}, "
                                        f"cost {r['cost']:.4f}  ({r['seconds']:.1f} s)"),
            progress=progress_bar(args.quiet, f"layer {i}"))
    say(f"pretraining took {(time.perf_counter() - start) / 60:.2f} min")


def finetune(sda, datasets, args):
    """SGD on the supervised cost with the tutorial's early stopping; returns the best epoch's
    ``{"params", "valid", "test", "epoch"}``. Ctrl-C after the first epoch ends it there."""
    from dae.stopping import EarlyStopping
    from dae.train import fit

    start = time.perf_counter()
    rule = {"update_rule": "momentum", "momentum": args.momentum} if args.momentum else {}
    train_fn, valid_score, test_score = sda.build_finetune_functions(
        datasets, args.batch_size, args.finetune_lr, args.mode,
        eval_batch_size=EVAL_BATCH_SIZE, **rule)
    n = train_fn.n_steps
    stopper = EarlyStopping(patience=args.patience_factor * n)
    best = {"params": sda.get_params(), "valid": None, "test": None, "epoch": 0}
    progress = progress_bar(args.quiet, "fine-tuning")
    try:
        for epoch in range(1, args.training_epochs + 1):
            record = fit(train_fn, n, epoch, start_epoch=epoch - 1, progress=progress)[0]
            iteration = epoch * n - 1  # the last minibatch of this epoch, counted from 0
            valid = valid_score.mean(valid_score())
            line = (f"epoch {epoch}, minibatch {n}/{n}, cost {record['cost']:.4f}, "
                    f"validation error {valid:.2%}")
            if stopper.update(iteration, valid, epoch=epoch):
                test = test_score.mean(test_score())
                best = {"params": sda.get_params(), "valid": valid, "test": test, "epoch": epoch}
                line += f", test error of best model {test:.2%}"
            say(f"{line}  ({time.perf_counter() - start:.0f} s)")
            if not stopper.validates_at(iteration + n):
                break
    except KeyboardInterrupt:  # Ctrl-C ends a long fine-tuning early, keeping its best model
        if best["epoch"] == 0:
            raise
        say(f"interrupted: fine-tuning stops, keeping the best model so far (epoch {best['epoch']})")
    say(f"fine-tuning took {(time.perf_counter() - start) / 60:.2f} min")
    say(f"best validation {best['valid']:.2%} at epoch {best['epoch']}, test {best['test']:.2%}")
    return best


def _datasets(args):
    from dae.data import load_mnist, shared_dataset

    splits = load_mnist(args.data_dir)
    if args.max_examples:
        splits = [(x[:args.max_examples], y[:args.max_examples]) for x, y in splits]
    return [shared_dataset(split) for split in splits]


def _write_outputs(sda, args):
    from dae.utils import atomic_write, save_png, tile_raster_images

    filters = sda.params[0].get_value(borrow=True).T
    image = tile_raster_images(filters[:100], img_shape=(28, 28), tile_shape=(10, 10),
                               tile_spacing=(1, 1))
    say(f"wrote {save_png(image, args.output_dir / 'filters_layer0.png')}")
    path = args.output_dir / "best_model.npz"
    with atomic_write(path, "wb") as f:
        np.savez(f, **sda.get_params())
    say(f"wrote {path}")


def add_flags(p):
    p.add_argument("--hidden-layers", type=positive_int, nargs="+", default=[1000, 1000, 1000],
                   metavar="N", help="sizes of the hidden layers (default 1000 1000 1000)")
    p.add_argument("--corruption-levels", type=fraction, nargs="+", default=[0.1, 0.2, 0.3],
                   metavar="C", help="one corruption level per layer, in [0, 1]; the contraction "
                   "level for --layer-type cA, unused by sA (default 0.1 0.2 0.3)")
    p.add_argument("--layer-type", choices=("dA", "cA", "sA"), default="dA",
                   help="autoencoder each layer is pretrained as (default dA)")
    p.add_argument("--pretrain-lr", type=positive_float, default=0.001,
                   help="pretraining learning rate (default 0.001)")
    p.add_argument("--pretraining-epochs", type=positive_int, default=15,
                   help="pretraining epochs per layer (default 15)")
    p.add_argument("--finetune-lr", type=positive_float, default=0.1,
                   help="fine-tuning learning rate (default 0.1)")
    p.add_argument("--training-epochs", type=positive_int, default=1000,
                   help="most fine-tuning epochs; early stopping usually ends sooner (default 1000)")
    p.add_argument("--batch-size", type=positive_int, default=1,
                   help="minibatch size of fine-tuning, and of pretraining unless "
                        "--pretrain-batch-size is given (default 1)")
    p.add_argument("--pretrain-batch-size", type=positive_int, default=None,
                   help="minibatch size of pretraining (default: --batch-size)")
    p.add_argument("--momentum", type=fraction, default=0.0,
                   help="fine-tune with momentum SGD (dae.updates.momentum) at this momentum "
                        "(default 0: plain SGD, the tutorial's)")
    p.add_argument("--patience-factor", type=_patience_factor, default=10,
                   help="early stopping trains at least this many epochs (the tutorial's "
                        "patience = 10 * n_train_batches; default 10, at least 2)")
    p.add_argument("--max-examples", type=positive_int, default=None,
                   help="use only the first N examples of each split (quick checks)")
    add_common_flags(p, seed=89677, output_dir="SdA_plots")


def _patience_factor(text):
    # Below 2 the tutorial would validate more often than once an epoch
    # (validation_frequency = min(n_train_batches, patience // 2)).
    value = positive_int(text)
    if value < 2:
        import argparse
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text}")
    return value

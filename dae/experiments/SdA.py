"""The tutorial's SdA experiment: greedy layer-wise pretraining, then supervised
fine-tuning with early stopping, on MNIST.

Defaults are the tutorial's: 784-1000-1000-1000-10, corruption 0.1/0.2/0.3,
pretraining 15 epochs at learning rate 0.001, fine-tuning up to 1000 epochs at
0.1, minibatch 1, seed 89677. Every phase runs through the run's session
(:mod:`dae.session`): stages ``pretrain_0`` .. ``pretrain_<L-1>`` then
``finetune``, a checkpoint after every epoch (the early-stopping state and the
best parameters so far included), ``--resume`` after Ctrl-C. Prints each
layer's pretraining cost per epoch, the validation error per fine-tuning epoch
and the test error at each new best, the wall time of each phase, and a final
``best validation X% at epoch N, test Y%``. Writes ``filters_layer0.png`` (the
first layer's first 100 filters) and ``best_model.npz`` (the model at its best
validation error, a dae model file: ``dae eval``, ``dae info``, ``dae.load``),
rewritten at each new best so it is there even while the run goes on.
"""
import numpy as np

from dae.experiments.common import (UserError, add_common_flags, fraction, non_negative_int,
                                    positive_float, positive_int, start_session)

HELP = "stacked denoising autoencoder on MNIST: pretraining, then fine-tuning (the tutorial's experiment)"

# The tutorial evaluated in the training minibatch size; the errors do not depend
# on it, and at minibatch 1 this is ~10x faster.
EVAL_BATCH_SIZE = 1000
BEST = "best_model.npz"


def run(args, report):
    may_change = ("pretraining_epochs", "training_epochs", "pretrain_lr", "finetune_lr", "mode")
    with start_session(args, "SdA", report, may_change=may_change) as session:
        if len(args.corruption_levels) != len(args.hidden_layers):
            raise UserError(f"--corruption-levels has {len(args.corruption_levels)} values for "
                            f"{len(args.hidden_layers)} --hidden-layers; give one per layer")
        from dae.SdA import SdA

        from dae.data import shared_dataset

        splits = _splits(args)
        session.bind_data(*splits[0])
        datasets = [shared_dataset(split) for split in splits]
        session.info["image_shape"] = [28, 28]
        sda = SdA(numpy_rng=np.random.RandomState(args.seed),
                  n_ins=datasets[0][0].get_value(borrow=True).shape[1],
                  hidden_layers_sizes=args.hidden_layers, n_outs=10,
                  corruption_levels=args.corruption_levels, layer_type=args.layer_type)
        session.restore(sda)  # a resumed run starts each stage from the checkpoint's weights
        pretrain(session, sda, datasets[0][0], args, report)
        best = finetune(session, sda, datasets, args, report)
        best.apply(sda)
        from dae.plots import filters_image
        from dae.utils import save_png
        image = filters_image(sda, image_shape=(28, 28), tile_shape=(10, 10))
        report.line(f"wrote {save_png(image, args.output_dir / 'filters_layer0.png')}")
        report.line(f"wrote {session.save_model(sda, BEST, stage='finetune', best=best.summary())}")
        report.line(f"wrote {session.finish()}")
    return 0


class LayerStep:
    """Layer i's pretraining function as a step of the minibatch index alone."""

    def __init__(self, function, corruption, learning_rate):
        self.function, self.n_steps = function.function, function.n_steps
        self._call, self._args = function, (corruption, learning_rate)

    def __call__(self, index):
        return self._call(index, *self._args)


def pretrain(session, sda, train_x, args, report):
    stages = [f"pretrain_{i}" for i in range(sda.n_layers)]
    todo = [i for i, stage in enumerate(stages) if not session.done(stage)]
    if not todo or args.pretraining_epochs == 0:
        return
    functions = sda.pretraining_functions(train_x, args.pretrain_batch_size or args.batch_size,
                                          args.mode)
    for i in todo:
        step = LayerStep(functions[i], args.corruption_levels[i], args.pretrain_lr)
        session.fit(stages[i], sda, step, args.pretraining_epochs, rate="pretrain_lr")
    seconds = sum(r["seconds"] for r in session.history if r["stage"] in stages)
    report.line(f"pretraining took {seconds / 60:.2f} min")


class Best:
    """The fine-tuning epoch with the lowest validation error: its numbers and weights.

    Checkpointed with the stage (``state_dict`` / ``load_state_dict``), so a
    resumed run keeps the best model found before the interruption.
    """

    def __init__(self, sda):
        self.epoch, self.valid, self.test, self.params = None, None, None, sda.get_weights()

    def capture(self, sda, epoch, valid, test):
        self.epoch, self.valid, self.test, self.params = epoch, valid, test, sda.get_weights()

    def summary(self):
        return {"epoch": self.epoch, "valid_error": self.valid, "test_error": self.test}

    def apply(self, sda):
        sda.set_weights(self.params)

    def state_dict(self):
        return {"epoch": self.epoch, "valid": self.valid, "test": self.test, **self.params}

    def load_state_dict(self, values):
        self.epoch, self.valid, self.test = values["epoch"], values["valid"], values["test"]
        self.params = {k: v for k, v in values.items() if k not in ("epoch", "valid", "test")}


def finetune(session, sda, datasets, args, report):
    """SGD on the supervised cost with the tutorial's early stopping; returns the :class:`Best`."""
    from dae.stopping import EarlyStopping

    rule = {"update_rule": "momentum", "momentum": args.momentum} if args.momentum else {}
    train_fn, valid_score, test_score = sda.build_finetune_functions(
        datasets, args.batch_size, args.finetune_lr, args.mode,
        eval_batch_size=EVAL_BATCH_SIZE, **rule)
    n = train_fn.n_steps
    stopper = EarlyStopping(patience=args.patience_factor * n)
    best = Best(sda)

    def on_epoch(record):
        # Epochs are counted from 0, as in every epoch line and metrics.jsonl (the
        # tutorial printed them from 1).
        epoch = record["epoch"]
        iteration = (epoch + 1) * n - 1  # the last minibatch of this epoch, counted from 0
        record["valid_error"] = valid_score.mean(valid_score())
        if stopper.update(iteration, record["valid_error"], epoch=epoch):
            record["test_error"] = test_score.mean(test_score())
            best.capture(sda, epoch, record["valid_error"], record["test_error"])
            # written at each new best, so the best model is there while the run goes on
            session.save_model(sda, BEST, stage="finetune", best=best.summary())
        return not stopper.validates_at(iteration + n)

    session.fit("finetune", sda, train_fn, args.training_epochs, on_epoch=on_epoch,
                keep=[stopper, best], rate="finetune_lr")
    seconds = sum(r["seconds"] for r in session.history if r["stage"] == "finetune")
    report.line(f"fine-tuning took {seconds / 60:.2f} min")
    if best.valid is None:
        raise UserError("fine-tuning ended before any validation: nothing to keep; train more epochs")
    report.line(f"best validation {best.valid:.2%} at epoch {best.epoch}, test {best.test:.2%}")
    return best


def _splits(args):
    from dae.data import load_mnist

    splits = load_mnist(args.data_dir)
    if args.max_examples:
        splits = [(x[:args.max_examples], y[:args.max_examples]) for x, y in splits]
    return splits


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
    p.add_argument("--pretraining-epochs", type=non_negative_int, default=15,
                   help="pretraining epochs per layer; 0 fine-tunes from the random initial "
                        "weights (default 15)")
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
    import argparse

    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text}")
    return value

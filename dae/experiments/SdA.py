"""The tutorial's SdA experiment: greedy layer-wise pretraining, then supervised
fine-tuning with early stopping, on MNIST.

Defaults are the tutorial's: 784-1000-1000-1000-10, corruption 0.1/0.2/0.3,
pretraining 15 epochs at learning rate 0.001, fine-tuning up to 1000 epochs at
0.1, minibatch 1, seed 89677. Every phase runs through the run's session
(:mod:`dae.session`): stages ``pretrain_0`` .. ``pretrain_<L-1>`` then
``finetune``, a checkpoint after every epoch (the early-stopping state and the
best parameters so far included), resume after Ctrl-C. Prints each
layer's pretraining cost per epoch, the validation error per fine-tuning epoch
and the test error at each new best, the wall time of each phase, and a final
``best validation X% at epoch N, test Y%``. Writes ``filters_layer0.png`` (the
first layer's first 100 filters) and ``best_model.npz`` (the model at its best
validation error, a dae model file: ``dae eval``, ``dae info``, ``dae.load``),
rewritten at each new best so it is there even while the run goes on.

With ``data`` (an .npz of images ``x`` and integer labels ``y``, or a folder
of one PNG subfolder per class) it trains on those instead: ``split`` cuts them
into training, validation and test sets by :func:`dae.customdata.split`'s rule
(80/10/10, stratified by class, shuffled with a fixed seed, not ``seed``; one
line says the counts), and the classes give the output layer's size.
"""
import dataclasses
import typing
from pathlib import Path

import numpy as np

from dae.experiments.common import Report, UserError, open_session, result
from dae.experiments.configs import (Common, ConfigError, Number, check_split, fraction,
                                     non_negative_int, option, output_option, positive_float,
                                     positive_int, seed_option, split_option)

HELP = "stacked denoising autoencoder on MNIST: pretraining, then fine-tuning (the tutorial's experiment)"

# The tutorial evaluated in the training minibatch size; the errors do not depend
# on it, and at minibatch 1 this is ~10x faster.
EVAL_BATCH_SIZE = 1000
BEST = "best_model.npz"


@dataclasses.dataclass
class Config(Common):
    MAY_CHANGE: typing.ClassVar[tuple] = ("pretraining_epochs", "training_epochs", "pretrain_lr",
                                          "finetune_lr", "mode")
    hidden_layers: typing.List[int] = option([1000, 1000, 1000], "sizes of the hidden layers",
                                             check=positive_int, metavar="N")
    corruption_levels: typing.List[float] = option(
        [0.1, 0.2, 0.3], "one corruption level per layer, in [0, 1]; the contraction level for "
                         "--layer-type cA, unused by sA", check=fraction, metavar="C")
    layer_type: str = option("dA", "autoencoder each layer is pretrained as", choices=("dA", "cA", "sA"))
    pretrain_lr: float = option(0.001, "pretraining learning rate", check=positive_float)
    pretraining_epochs: int = option(15, "pretraining epochs per layer; 0 fine-tunes from the "
                                         "random initial weights", check=non_negative_int)
    finetune_lr: float = option(0.1, "fine-tuning learning rate", check=positive_float)
    training_epochs: int = option(1000, "most fine-tuning epochs; early stopping usually ends sooner",
                                  check=positive_int)
    batch_size: int = option(1, "minibatch size of fine-tuning, and of pretraining unless "
                                "--pretrain-batch-size is given", check=positive_int)
    pretrain_batch_size: typing.Optional[int] = option(
        None, "minibatch size of pretraining (default: --batch-size)", check=positive_int)
    momentum: float = option(0.0, "fine-tune with momentum SGD (dae.updates.momentum) at this "
                                  "momentum (0: plain SGD, the tutorial's)", check=fraction)
    # Below 2 the tutorial would validate more often than once an epoch
    # (validation_frequency = min(n_train_batches, patience // 2)).
    patience_factor: int = option(10, "early stopping trains at least this many epochs (the "
                                      "tutorial's patience = 10 * n_train_batches; at least 2)",
                                  check=Number(int, 2))
    max_examples: typing.Optional[int] = option(
        None, "use only the first N examples of each split (quick checks)", check=positive_int)
    data: typing.Optional[Path] = option(
        None, "train on these labelled images instead of MNIST: an .npz with arrays x (images "
              "(n, h, w) or (n, h*w), uint8 0..255 or float 0..1) and y (integer labels 0..K-1), "
              "or a folder with one subfolder of same-size grayscale PNGs per class (the sorted "
              "subfolder names are the classes); split by --split", metavar="PATH",
        exclusive="source")
    split: typing.List[float] = split_option()
    seed: int = seed_option(89677)
    output_dir: Path = output_option("SdA_plots")

    def check(self):
        if len(self.corruption_levels) != len(self.hidden_layers):
            raise ConfigError(f"--corruption-levels has {len(self.corruption_levels)} values for "
                              f"{len(self.hidden_layers)} --hidden-layers; give one per layer")
        check_split(self)


def run(config=None, report=None, resume=False, command=None, typed=None):
    """Pretrain, fine-tune with early stopping; the result's numbers are the best epoch's
    ``best_epoch``, ``valid_error`` and ``test_error``."""
    report = report or Report()
    with open_session("SdA", config or Config(), report, resume, command, typed) as session:
        c = session.config
        from dae.customdata import three_sets
        from dae.data import shared_dataset
        from dae.experiments.dA import write_filters
        from dae.SdA import SdA

        *splits, how = three_sets(c.data, c.data_dir, c.split, labels=True)
        if how:
            report.line(how)
        if c.max_examples:
            splits = [images.take(slice(0, c.max_examples), "first examples") for images in splits]
        session.bind_data(splits[0].x, splits[0].y)
        datasets = [shared_dataset((images.x, images.y)) for images in splits]
        session.info["image_shape"] = splits[0].image_shape
        if c.data is not None:
            session.info["classes"] = splits[0].classes
        sda = SdA(numpy_rng=np.random.RandomState(c.seed), n_ins=splits[0].x.shape[1],
                  hidden_layers_sizes=c.hidden_layers, n_outs=len(splits[0].classes),
                  corruption_levels=c.corruption_levels, layer_type=c.layer_type)
        session.restore(sda)  # a resumed run starts each stage from the checkpoint's weights
        pretrain(session, sda, datasets[0][0], c, report)
        best = finetune(session, sda, datasets, c, report)
        best.apply(sda)
        write_filters(sda, splits[0], (10, 10), c.output_dir / "filters_layer0.png", session)
        session.wrote(session.save_model(sda, BEST, stage="finetune", best=best.summary()))
        session.wrote(session.finish())
    return result(session, best_epoch=best.epoch, valid_error=best.valid, test_error=best.test)


class LayerStep:
    """Layer i's pretraining function as a step of the minibatch index alone."""

    def __init__(self, function, corruption, learning_rate):
        self.function, self.n_steps = function.function, function.n_steps
        self._call, self._args = function, (corruption, learning_rate)

    def __call__(self, index):
        return self._call(index, *self._args)

    def state_variables(self):
        from dae.train import updated_variables
        return updated_variables(self.function)


def pretrain(session, sda, train_x, c, report):
    stages = [f"pretrain_{i}" for i in range(sda.n_layers)]
    todo = [i for i, stage in enumerate(stages) if not session.done(stage)]
    if not todo or c.pretraining_epochs == 0:
        return
    functions = sda.pretraining_functions(train_x, c.pretrain_batch_size or c.batch_size,
                                          c.mode)
    for i in todo:
        step = LayerStep(functions[i], c.corruption_levels[i], c.pretrain_lr)
        session.fit(stages[i], sda, step, c.pretraining_epochs, rate="pretrain_lr")
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


def finetune(session, sda, datasets, c, report):
    """SGD on the supervised cost with the tutorial's early stopping; returns the :class:`Best`."""
    from dae.stopping import EarlyStopping

    rule = {"update_rule": "momentum", "momentum": c.momentum} if c.momentum else {}
    train_fn, valid_score, test_score = sda.build_finetune_functions(
        datasets, c.batch_size, c.finetune_lr, c.mode,
        eval_batch_size=EVAL_BATCH_SIZE, **rule)
    n = train_fn.n_steps
    stopper = EarlyStopping(patience=c.patience_factor * n)
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

    session.fit("finetune", sda, train_fn, c.training_epochs, on_epoch=on_epoch,
                keep=[stopper, best], rate="finetune_lr")
    seconds = sum(r["seconds"] for r in session.history if r["stage"] == "finetune")
    report.line(f"fine-tuning took {seconds / 60:.2f} min")
    if best.valid is None:
        raise UserError("fine-tuning ended before any validation: nothing to keep; train more epochs")
    report.line(f"best validation {best.valid:.2%} at epoch {best.epoch}, test {best.test:.2%}")
    return best

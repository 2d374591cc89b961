"""The ``dae`` command and the scripts' shared front end.

This is the layer that talks to the user: it parses flags, prints one line per
epoch, draws progress bars and turns every user error into one message and a
non-zero exit, never a traceback (set ``DAE_DEBUG=1`` to see one). The library
modules it calls do not print.

::

    dae train MODEL [flags]          train a model (dA, cA, sA, SdA, vae); --resume continues one
    dae filters FILE --out PNG       the first layer's filters, tiled
    dae reconstruct FILE --out PNG   examples (top) and their reconstructions (bottom)
    dae sample FILE --out PNG        samples from a VAE
    dae eval FILE                    reconstruction cost, test error, or ELBO and NLL bound
    dae info FILE                    what a model file holds
    dae theano SCRIPT [ARGS...]      run an original Theano tutorial file on dae.theano
    dae mnist-pkl FOLDER             write the tutorials' mnist.pkl.gz from the IDX files
    dae reproduce [--quick]          the literature's tables and figures, reproduced (dae.report)

Exit status: 0 done, 1 a user error (bad input, a diverging run), 2 bad flags,
130 Ctrl-C (the run's checkpoint is saved; the message says how to resume).
"""
import argparse
import contextlib
import math
import os
import sys
from pathlib import Path

import numpy as np

from dae.experiments.common import Report, UserError
from dae.experiments.configs import fraction, non_negative_int, positive_int
from dae.utils import check_file

USER_ERRORS = (ValueError, OSError, FloatingPointError, UserError)


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def say(*parts):
    print(*parts, flush=True)


def console_report(args):
    """Lines to stdout; progress bars on stderr when it is a terminal and not --quiet."""
    return Report(line=say, bars=not getattr(args, "quiet", False) and sys.stderr.isatty())


# -- experiments -------------------------------------------------------------------
# One module per experiment in dae/experiments/, each with HELP, a Config (its flags)
# and run(config, report, resume, command, typed); the `dae train` subcommands and
# scripts/train_*.py share them.
EXPERIMENTS = ("dA", "cA", "sA", "vae", "SdA")


def experiment(name):
    import importlib
    return importlib.import_module(f"dae.experiments.{name}")


def add_experiment_flags(p, module):
    """The Config's flags, then the two that say how to run, not what."""
    from dae.experiments.configs import add_flags

    add_flags(p, module.Config)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in OUTPUT_DIR/checkpoint.npz with its flags "
                        f"({', '.join('--' + f.replace('_', '-') for f in module.Config.MAY_CHANGE)} "
                        "may change)")
    p.set_defaults(run=_experiment_runner(module))


def _experiment_runner(module):
    def run(args):
        from dae.experiments.configs import from_flags

        typed = getattr(args, "typed", None)
        config = from_flags(module.Config, args)
        module.run(config, console_report(args), resume=args.resume, command=args.invocation,
                   typed=None if typed is None else typed & set(vars(config)))
        return 0
    return run


def build_parser(prog="dae"):
    parser = Parser(prog=prog, description="Autoencoders of the deeplearning.net tutorials, on PyTensor.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train = sub.add_parser("train", help="train a model (on MNIST, or your --data)",
                           description="Train a model; its files go to --output-dir.")
    models = train.add_subparsers(dest="model", required=True, parser_class=Parser)
    for name in EXPERIMENTS:
        module = experiment(name)
        p = models.add_parser(name, help=module.HELP, description=module.HELP)
        add_experiment_flags(p, module)
    for name, (run, help_text, flags) in MODEL_COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("model", type=Path, metavar="MODEL", help="a model file (.npz) written by "
                       "dae train, model.save or dae.io.save; a run's checkpoint.npz too")
        flags(p)
        p.set_defaults(run=run)
    p = sub.add_parser("theano", help="run an original Theano tutorial script on dae.theano",
                       description="Run SCRIPT as `python SCRIPT ARGS...` would, with `import "
                                   "theano` giving dae.theano (Theano's names on PyTensor) in this "
                                   "process only.")
    p.add_argument("script", type=Path, metavar="SCRIPT", help="a Theano script, e.g. dA.py")
    p.add_argument("script_args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="its own arguments")
    p.set_defaults(run=cmd_theano)
    p = sub.add_parser("mnist-pkl", help="write the tutorials' mnist.pkl.gz from the IDX files",
                       description="Write FOLDER/mnist.pkl.gz, the tutorials' pickle of the three "
                                   "splits, from MNIST's md5-checked IDX files. Put it in <x>/data "
                                   "with the tutorial code in <x>/code: their load_data finds it.")
    p.add_argument("folder", type=Path, metavar="FOLDER", help="where to write mnist.pkl.gz")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder with MNIST's four IDX .gz files (default: $DAE_DATA_DIR, then "
                        "data/, downloading if absent)")
    p.set_defaults(run=cmd_mnist_pkl)
    _reproduce_flags(sub.add_parser(
        "reproduce", help="the literature's tables and figures on MNIST, reproduced (report.md)",
        description="Train and evaluate every model of the report (dae.report) into --output-dir: "
                    "its tables in report.md, each row with the command that reproduces it. "
                    "Finished runs and sections are reused; an interrupted run resumes."))
    return parser


def _reproduce_flags(p):
    p.add_argument("--quick", action="store_true",
                   help="the same pipeline in miniature: 500/200/200 examples, one or two epochs, "
                        "one seed, small models, the py compile mode (minutes)")
    p.add_argument("--only", nargs="+", metavar="SECTION", default=None,
                   help="(re)run these sections, by name or number: probe, deep, cae, pca, vae, "
                        "sparse, readme (1-7)")
    p.add_argument("--units", nargs="*", metavar="UNIT", default=None,
                   help="run these units (none named: every unit not done yet, cheapest first) "
                        "and render units.md from units/*.json")
    p.add_argument("--redo", nargs="+", metavar="UNIT", default=[],
                   help="with --units: rerun these units although done")
    p.add_argument("--output-dir", type=Path, default=None,
                   help="the report's folder (default: report, or report-quick with --quick)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="MNIST's folder (default: $DAE_DATA_DIR, then data/)")
    p.add_argument("--mode", default=None, help="compile mode (default: numba, or py with --quick)")
    p.set_defaults(run=cmd_reproduce)


def cmd_reproduce(args):
    from dae.report import reproduce

    if args.redo and args.units is None:
        raise UserError("--redo names units: give --units too (e.g. --units --redo vae-s1)")
    reproduce(args.output_dir, quick=args.quick, only=args.only, units=args.units, redo=args.redo,
              mode=args.mode, data_dir=args.data_dir, log=say)
    return 0


# -- the tutorials' own files ----------------------------------------------------------------
def cmd_theano(args):
    import traceback
    import warnings

    from dae.theano import describe, run_script

    check_file(args.script, "a Theano script (a .py file such as the tutorials' dA.py)")
    with warnings.catch_warnings(record=True) as caught:  # a shadowed real Theano: say so
        warnings.simplefilter("always")
        from dae.theano import install
        install()
    for warning in caught:
        print(f"dae theano: {warning.message}", file=sys.stderr)
    print(f"dae theano: {describe()}", file=sys.stderr, flush=True)
    try:
        return run_script(args.script, args.script_args)
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:  # sys.exit("message")
        print(exc.code, file=sys.stderr)
        return 1
    except Exception:  # the script's own error: its traceback is what its author needs
        traceback.print_exc()
        return 1


def cmd_mnist_pkl(args):
    from dae.data import write_mnist_pkl

    path = write_mnist_pkl(args.folder, args.data_dir)
    say(f"wrote {path}: MNIST's 50,000 training, 10,000 validation and 10,000 test images "
        "(float32 in [0, 1], int64 labels). The tutorials' load_data('mnist.pkl.gz') finds it "
        "when their code is in a sibling folder of this one (<x>/code beside <x>/data)")
    return 0


# -- model commands ----------------------------------------------------------------------
def _inputs(args):
    """The files a command reads, never to be written over by its --out."""
    return [p for p in (getattr(args, "model", None), getattr(args, "data", None)) if p is not None]


def _check_inputs(args):
    """--data checked before the model is read, by the check its loader makes where it
    opens it (dae.customdata.check_data_path); a model file and a Theano script are
    checked where they are read (dae.io.read, cmd_theano)."""
    data = getattr(args, "data", None)
    if isinstance(data, Path):
        from dae.customdata import check_data_path
        check_data_path(data)


def _load(path):
    from dae import io
    record = io.read(path)
    return io.build(record), record


def _image_shape(given, n_visible, *known):
    """``--image-shape`` if given, else the first known shape (data's, model file's), else a square."""
    if given:
        if given[0] * given[1] != n_visible:
            raise UserError(f"--image-shape {given[0]} {given[1]} has {given[0] * given[1]} pixels, "
                            f"but the model's inputs have {n_visible}; pass H W with H * W = {n_visible}")
        return tuple(given)
    for shape in known:
        if shape:
            return tuple(shape)
    side = math.isqrt(n_visible)
    if side * side == n_visible:
        return side, side
    raise UserError(f"the model's {n_visible} inputs are not a square image and its file holds no "
                    f"image shape; pass --image-shape H W (H * W = {n_visible})")


def _kind(model):
    from dae.base import Autoencoder
    if isinstance(model, Autoencoder):
        return "autoencoder"
    return type(model).__name__  # "SdA" or "VAE"


def cmd_filters(args):
    from dae.plots import filters_image, first_layer_weights
    from dae.utils import save_png

    model, record = _load(args.model)
    weights = first_layer_weights(model)
    count = min(args.count, len(weights))
    shape = _image_shape(args.image_shape, weights.shape[1], record.info.get("image_shape"))
    path = save_png(filters_image(weights, shape, count=count), args.out, _inputs(args))
    say(f"wrote {path}: {count} of the {len(weights)} first-layer filters of the "
        f"{record.class_name}, {shape[0]}x{shape[1]} each")
    return 0


def _model_data(args, model, images=None):
    """``images`` (default: all of --data, or MNIST's test set), checked to fit ``model``."""
    from dae.customdata import check_fits, dataset
    if images is None:
        images = dataset(args.data, args.data_dir, split="test")
    return check_fits(images, model.n_visible, getattr(model, "loss", None))


def cmd_reconstruct(args):
    from dae.plots import reconstructions_image
    from dae.utils import save_png

    model, record = _load(args.model)
    if _kind(model) == "SdA":
        raise UserError(f"{args.model} holds an SdA, a classifier; reconstruct takes an "
                        "autoencoder (dA, cA, sA) or a VAE. Try: dae eval " + str(args.model))
    images = _model_data(args, model)
    shape = _image_shape(args.image_shape, images.x.shape[1], images.image_shape,
                         record.info.get("image_shape"))
    x = images.x[:args.count]
    corruption = args.corruption if _kind(model) == "autoencoder" else 0.0
    image = reconstructions_image(model, x, shape, corruption=corruption,
                                  columns=min(len(x), 10), mode=args.mode)
    say(f"wrote {save_png(image, args.out, _inputs(args))}: {len(x)} examples of {images.source}, each row "
        + ("above its corrupted input and " if corruption else "above ")
        + f"its reconstructions by the {record.class_name}")
    return 0


def cmd_sample(args):
    from dae.plots import samples_image
    from dae.utils import save_png

    model, record = _load(args.model)
    if _kind(model) != "VAE":
        raise UserError(f"{args.model} holds a {record.class_name}, which does not model p(x): "
                        "dae sample draws from a VAE. Try: dae reconstruct " + str(args.model))
    shape = _image_shape(args.image_shape, model.n_visible, record.info.get("image_shape"))
    image = samples_image(model, args.count, seed=args.seed, image_shape=shape, mode=args.mode)
    say(f"wrote {save_png(image, args.out, _inputs(args))}: the means of p(x|z) for {args.count} draws "
        f"z ~ N(0, I) (seed {args.seed})")
    return 0


def cmd_eval(args):
    from dae import evaluate
    from dae.customdata import eval_set

    model, record = _load(args.model)
    kind = _kind(model)
    images, part = eval_set(args.data, args.data_dir, record.info.get("training"), args.whole_file)
    images = _model_data(args, model, images)
    n, scored = len(images), "" if part is None else f"; scored {part}"
    if kind == "SdA":
        if images.y is None:
            raise UserError(f"{images.source} has no labels; the SdA's test error needs them: pass "
                            "an .npz with arrays x (images) and y (labels), or use MNIST")
        error = evaluate.classification_error(model, images.x, images.y, args.batch_size, args.mode)
        say(f"test error: {error:.2%} ({round(error * n)} of {n} examples of {images.source} "
            f"misclassified){scored}")
    elif kind == "VAE":
        x = evaluate.binarize(images.x, args.seed) if model.output == "bernoulli" else images.x
        evaluator = evaluate.Evaluator(model, seed=args.seed, mode=args.mode)
        elbo = evaluator.elbo(x).mean()
        bound = evaluator.iwae(x, args.samples).mean()
        say(f"ELBO {elbo:.2f} nats, NLL <= {-bound:.2f} nats (importance-weighted bound, "
            f"k={args.samples}) per example, {n} examples of {images.source}"
            + (f", binarized once with seed {args.seed}" if model.output == "bernoulli" else "")
            + scored)
    else:
        cost = evaluate.reconstruction_cost(model, images.x, args.batch_size, args.mode)
        say(f"reconstruction {model.loss.replace('_', ' ')}: {cost:.4f} per example "
            f"(clean input, mean over {n} examples of {images.source}){scored}")
    return 0


def cmd_info(args):
    from dae import io
    record = io.read(args.model)
    meta, size = record.meta, os.path.getsize(args.model)
    say(f"{args.model}: {record.class_name} model, dae {meta['dae_version']}, file format "
        f"{meta['format_version']}, {_size(size)}")
    say("hyperparameters: " + ", ".join(f"{k}={v!r}" for k, v in record.hyperparameters.items()))
    total = sum(int(np.prod(p.shape)) for p in record.params)
    say(f"parameters ({total:,} values):")
    for entry, array in zip(meta["params"], record.params):
        say(f"  {entry['name']:<12} {array.dtype}  {tuple(array.shape)}")
    shape = record.info.get("image_shape")
    if shape:
        say(f"image shape: {shape[0]}x{shape[1]}")
    training = record.info.get("training")
    if not training:
        say("training: not recorded (saved outside dae train)")
        return 0
    state = "finished" if training.get("finished") else "unfinished"
    if training.get("position"):
        state += f", {training['position']} steps into the next epoch"
    epochs = training["epochs"]
    say(f"training: {epochs} epoch{'s' * (epochs != 1)} of {training['stage']} (dae train "
        f"{training['experiment']}, {state})")
    from dae.train import format_metrics
    last = [r for r in training.get("history", []) if r.get("stage") == training["stage"]][-1:]
    for r in last:
        say(f"last epoch ({r['epoch']}): {format_metrics(r, ', ')}")
    best = training.get("best")
    if best:
        say(f"parameters of the best epoch by validation: epoch {best['epoch']}, "
            f"{format_metrics(best, ', ')}")
    return 0


def _size(n):
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def _out_flag(p, default_count, what):
    p.add_argument("--out", type=Path, required=True, metavar="PNG",
                   help="the picture to write; a regular file there is replaced (through a "
                        "symlink, its target); the files being read, folders, devices, FIFOs "
                        "and sockets are refused")
    p.add_argument("--count", type=positive_int.parse, default=default_count,
                   help=f"how many {what} (default {default_count})")
    p.add_argument("--image-shape", type=positive_int.parse, nargs=2, metavar=("H", "W"),
                   help="image height and width, when the model file holds none and the "
                        "inputs are not square")
    p.add_argument("--mode", default=None, help="PyTensor compile mode (numba, c, jax, py)")


def _data_flags(p, batch=False):
    source = p.add_mutually_exclusive_group()
    source.add_argument("--data-dir", type=Path, default=None,
                        help="folder with MNIST (default: $DAE_DATA_DIR, then data/); its test set is used")
    source.add_argument("--data", type=Path, default=None, metavar="PATH",
                        help="use these images instead of MNIST's test set: an .npy/.npz array (n, "
                             "h, w) or (n, h*w), uint8 0..255 or float 0..1, or a folder of "
                             "same-size grayscale PNGs")
    if batch:
        p.add_argument("--batch-size", type=positive_int.parse, default=1000,
                       help="examples per computation (default 1000)")
        p.add_argument("--mode", default=None, help="PyTensor compile mode (numba, c, jax, py)")


def _filters_flags(p):
    _out_flag(p, 100, "filters, the first ones (default 100, as in the tutorial)")


def _reconstruct_flags(p):
    _out_flag(p, 10, "examples, the first of the data")
    _data_flags(p)
    p.add_argument("--corruption", type=fraction.parse, default=0.0,
                   help="corrupt the input first with the model's corruption at this level and "
                        "show it in a middle band (autoencoders; default 0)")


def _sample_flags(p):
    _out_flag(p, 100, "samples")
    p.add_argument("--seed", type=non_negative_int.parse, default=0, help="seed of the draws (default 0)")


def _eval_flags(p):
    _data_flags(p, batch=True)
    p.add_argument("--samples", type=positive_int.parse, default=100,
                   help="VAE: importance samples k of the NLL bound (default 100; 1000 is the "
                        "usual protocol, ten times slower)")
    p.add_argument("--seed", type=non_negative_int.parse, default=0,
                   help="VAE: seed of the test set's binarization and of the samples (default 0)")
    p.add_argument("--whole-file", action="store_true",
                   help="score all of --data; by default a model that dae train SdA or vae "
                        "trained on that file is scored on the test set the run held out")


MODEL_COMMANDS = {
    "filters": (cmd_filters, "tile a model's first-layer filters into a PNG", _filters_flags),
    "reconstruct": (cmd_reconstruct, "examples (top) and their reconstructions (bottom) in a PNG",
                    _reconstruct_flags),
    "sample": (cmd_sample, "draw samples from a VAE into a PNG", _sample_flags),
    "eval": (cmd_eval, "reconstruction cost (autoencoders), test error (SdA) or ELBO and NLL "
                       "bound (VAE) on MNIST's test set or --data", _eval_flags),
    "info": (cmd_info, "what a model file holds: class, hyperparameters, shapes, training",
             lambda p: None),
}


# -- running -------------------------------------------------------------------------------
def run(args, prog):
    """Run a parsed command; user errors become one message and exit status 1, Ctrl-C 130."""
    from dae import interrupt

    interrupt.install(replace=True)  # from here to the last line, Ctrl-C is dae.interrupt's
    try:
        _check_inputs(args)
        status = args.run(args)
        late = interrupt.requested()
    except BaseException as exc:  # noqa: B036 -- Ctrl-C and SystemExit sorted out below
        if isinstance(exc, SystemExit) or os.environ.get("DAE_DEBUG"):
            raise
        if interrupt.by_user(exc):
            message = str(exc) if isinstance(exc, KeyboardInterrupt) and str(exc) else \
                "interrupted; every file written so far is whole (each is written atomically)"
            print(f"\n{prog}: {message}", file=sys.stderr)
            return 130
        if isinstance(exc, USER_ERRORS):
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 1
        raise
    finally:
        interrupt.uninstall()
    if late:  # pressed as the command ended: its files are complete
        print(f"\n{prog}: interrupted after the command finished; what it wrote is complete",
              file=sys.stderr)
        return 130
    return status


def typed_flags(make_parser, argv):
    """The destinations of the flags actually typed in ``argv`` (a resumed run keeps
    its saved value for the others)."""
    parser = make_parser()
    _suppress_defaults(parser)
    return set(vars(parser.parse_args(argv)))


def _suppress_defaults(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _suppress_defaults(sub)
        elif action.dest != "help":
            action.default = argparse.SUPPRESS


def main(argv=None):
    """The ``dae`` console script."""
    from dae import interrupt

    interrupt.install(replace=True)  # before the flags are parsed: Ctrl-C is one line from here
    argv = sys.argv[1:] if argv is None else list(argv)
    with _starting("dae"):
        args = build_parser().parse_args(argv)
        args.typed = typed_flags(build_parser, argv)
    args.invocation = ["dae", args.command] + ([args.model] if args.command == "train" else [])
    return run(args, "dae")


@contextlib.contextmanager
def _starting(prog):
    """Parsing the flags: a Ctrl-C here is one line and exit 130 (nothing was started)."""
    try:
        yield
    except KeyboardInterrupt:
        from dae import interrupt
        interrupt.uninstall()
        print(f"\n{prog}: interrupted while starting; nothing was written", file=sys.stderr)
        raise SystemExit(130) from None


def script_main(model, argv=None):
    """Entry point of ``scripts/train_<model>.py``: ``dae train <model>`` under the script's name."""
    from dae import interrupt

    interrupt.install(replace=True)
    module = experiment(model)
    prog = os.path.basename(sys.argv[0])
    argv = sys.argv[1:] if argv is None else list(argv)

    def make_parser():
        parser = Parser(prog=prog, description=module.HELP)
        add_experiment_flags(parser, module)
        return parser
    with _starting(prog):
        args = make_parser().parse_args(argv)
        args.typed = typed_flags(make_parser, argv)
    args.invocation = ["python", sys.argv[0]]
    return run(args, prog)


if __name__ == "__main__":
    sys.exit(main())

"""Typed experiment configs: each experiment declares its options once.

An experiment's ``Config`` is a dataclass whose defaults are the published
experiment. Each field is an :func:`option` (default, help, check), and that one
declaration serves three callers:

* Python: ``dA.Config(epochs=5, corruption=[0.3])`` is checked in
  ``__post_init__`` (types, ranges, choices, then the class's ``check()`` across
  fields); a bad value raises :class:`ConfigError`, one line;
* the command line: :func:`add_flags` turns every field into a flag (``n_hidden``
  is ``--n-hidden``) that parses its text with the same checks, and
  :func:`from_flags` builds the Config from what was typed;
* resume: :func:`merge` (pure) joins the config a run was saved with and the one
  given now; the fields a resumed run may change are the class's ``MAY_CHANGE``.

Nothing here knows of sessions or of the CLI's other commands.
"""
import dataclasses
import typing
from pathlib import Path

import numpy as np

from dae.errors import UserError


class ConfigError(UserError):
    """A config value the experiment cannot run with; ``str()`` is one line."""


# -- checks: each parses a flag's text and checks a Python value, with one message -------------
class Number:
    """An int or float in a range: ``Number(int, 1)`` is an integer >= 1.

    ``low_open`` excludes ``low``; ``exclude`` lists values refused inside the range
    (a KL target of 0 or 1 has no finite penalty).
    """

    def __init__(self, kind, low=None, high=None, low_open=False, high_open=False, exclude=()):
        self.kind, self.low, self.high = kind, low, high
        self.low_open, self.high_open, self.exclude = low_open, high_open, tuple(exclude)

    def _range(self):
        if self.low is not None and self.high is not None:
            left = "(" if self.low_open or self.low in self.exclude else "["
            right = ")" if self.high_open or self.high in self.exclude else "]"
            return f" in {left}{self.low}, {self.high}{right}"
        if self.low is not None:
            return f" {'>' if self.low_open else '>='} {self.low}"
        return ""

    def parse(self, text):
        """A flag's text as a checked value (argparse's ``type``)."""
        import argparse
        try:
            return self(self.kind(text))
        except ValueError as exc:
            message = str(exc) if "got" in str(exc) else \
                f"expected {'an integer' if self.kind is int else 'a number'}, got {text!r}"
            raise argparse.ArgumentTypeError(message) from None

    def __call__(self, value):
        numbers = (int, np.integer) if self.kind is int else (int, float, np.integer, np.floating)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers):
            raise ValueError(f"expected {'an integer' if self.kind is int else 'a number'}"
                             f"{self._range()}, got {value!r}")
        value = self.kind(value)
        inside = np.isfinite(value) and value not in self.exclude and (
            self.low is None or (value > self.low if self.low_open else value >= self.low)) and (
            self.high is None or (value < self.high if self.high_open else value <= self.high))
        if not inside:
            raise ValueError(f"expected a value{self._range()}, got {value}")
        return value


positive_int = Number(int, 1)
non_negative_int = Number(int, 0)
positive_float = Number(float, 0, low_open=True)
non_negative_float = Number(float, 0)
fraction = Number(float, 0, 1)
open_fraction = Number(float, 0, 1, exclude=(0.0, 1.0))


def option(default, help, check=None, choices=None, metavar=None, saved=True, exclusive=None):
    """A Config field: its ``default``, ``help`` (the flag's; "(default X)" is added),
    a ``check`` (a :class:`Number` or a callable value -> value raising ValueError),
    ``choices``; ``saved=False`` keeps it out of a checkpoint's config (where files go:
    a run may move); fields with the same ``exclusive`` name exclude each other."""
    meta = {"help": help, "check": check, "choices": choices, "metavar": metavar,
            "saved": saved, "exclusive": exclusive}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# -- the common fields --------------------------------------------------------------------------
def _mode(value):
    from dae.config import get_mode
    try:
        get_mode(value)  # a bad mode (or $DAE_MODE, for None) is one line now, not after the data loaded
    except ValueError as exc:
        raise ConfigError(str(exc)) from None  # its message names --mode and DAE_MODE itself
    return value


@dataclasses.dataclass
class Common:
    """What every experiment takes. Subclasses redeclare ``seed`` and ``output_dir``
    with their published defaults, and may add ``data``."""

    MAY_CHANGE: typing.ClassVar[tuple] = ("epochs", "learning_rate", "mode")
    data_dir: typing.Optional[Path] = option(
        None, "folder with MNIST (the four IDX .gz files or mnist.pkl.gz); default: $DAE_DATA_DIR, "
              "then data/, downloading if absent", exclusive="source")
    output_dir: Path = option(Path("run"), "where the run's files go (created if missing)", saved=False)
    seed: int = option(123, "random seed", check=non_negative_int)
    mode: typing.Optional[str] = option(None, "PyTensor compile mode: numba, c, jax, py, or set DAE_MODE "
                                              "(default: the experiment's fastest, jax where JAX is "
                                              "installed, numba for the SdA at minibatches under 10 and "
                                              "without JAX)")

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            setattr(self, f.name, _checked(type(self).__name__, f, hints[f.name], getattr(self, f.name)))
        groups = {}
        for f in dataclasses.fields(self):
            if f.metadata.get("exclusive") and getattr(self, f.name) is not None:
                groups.setdefault(f.metadata["exclusive"], []).append(f.name)
        for names in groups.values():
            if len(names) > 1:
                raise ConfigError(f"{' and '.join(names)} are both given; give one of them")
        _mode(self.mode)  # None too: then $DAE_MODE is checked
        self.check()

    def check(self):
        """Checks across fields (a subclass's); raise :class:`ConfigError`."""

    def saved(self):
        """The fields a checkpoint keeps, as JSON values (paths absolute: a resumed run may
        start in another folder)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.metadata.get("saved", True)}


def _checked(owner, f, hint, value):
    kind, optional = _kind(hint)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{f.name} ({flag(f.name)}) cannot be None; give {_describe(kind)}")
    try:
        if typing.get_origin(kind) is list:
            (item,) = typing.get_args(kind)
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise ValueError(f"expected a list of {_describe(item)}, got {value!r}")
            value = [_one(item, f, v) for v in value]
            if not value:
                raise ValueError("expected at least one value, got none")
            return value
        return _one(kind, f, value)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"{f.name} ({flag(f.name)}): {exc}") from None


def _one(kind, f, value):
    if kind is Path:
        if not isinstance(value, (str, Path)):
            raise ValueError(f"expected a path, got {value!r}")
        return Path(value)
    if kind is str and not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    check = f.metadata.get("check")
    if check is None and kind in (int, float):
        check = Number(kind)
    if check is not None:
        value = check(value)
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        raise ValueError(f"expected one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def _kind(hint):
    """(type, optional) of a field's annotation: ``Optional[int]`` is (int, True)."""
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


def _describe(kind):
    return {int: "an integer", float: "a number", str: "a string", Path: "a path"}.get(kind, str(kind))


def _jsonable(value):
    if isinstance(value, Path):
        return str(value.expanduser().resolve())
    if isinstance(value, tuple):
        return list(value)
    return value


def flag(name):
    """The command-line spelling of field ``name``: ``n_hidden`` is ``--n-hidden``."""
    return "--" + name.replace("_", "-")


def show(value):
    """A value as the command line writes it."""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


# -- resume ---------------------------------------------------------------------------------------
def merge(cls, saved, given, typed=None):
    """The config a resumed run continues with: pure, no files.

    Parameters
    ----------
    cls : the experiment's Config class.
    saved : dict, the config the run was saved with (:meth:`Common.saved`).
    given : a ``cls`` instance, the config given now.
    typed : names of the fields the caller set (the flags typed); None: all of them.

    The saved value of every field is kept, except that a field the caller set
    replaces it when ``cls.MAY_CHANGE`` lists it; a set field that differs and may
    not change raises :class:`ConfigError`. Fields not saved (``output_dir``) and
    fields the saved config lacks come from ``given``.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    typed = names if typed is None else set(typed)
    values = dataclasses.asdict(given)
    for name, value in saved.items():
        if name not in names:
            continue  # a field this version no longer has
        mine = _jsonable(getattr(given, name))
        if name in typed and mine != value:
            if name in cls.MAY_CHANGE:
                continue
            raise ConfigError(
                f"{flag(name)} {show(mine)} differs from the run being resumed ({flag(name)} "
                f"{show(value)}); drop it to resume that run as it was, or start a new run with "
                "another --output-dir")
        values[name] = value
    return cls(**values)


# -- the command line ------------------------------------------------------------------------------
def add_flags(parser, cls):
    """One flag per field of ``cls``: the experiment's own first, then the common ones."""
    hints = typing.get_type_hints(cls)
    common = {f.name for f in dataclasses.fields(Common)}
    fields = sorted(dataclasses.fields(cls), key=lambda f: f.name in common)
    groups = {}
    for f in fields:
        kind, _ = _kind(hints[f.name])
        item = typing.get_args(kind)[0] if typing.get_origin(kind) is list else kind
        check = f.metadata.get("check")
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        help_text = f.metadata["help"] + ("" if default is None else f" (default {show(default)})")
        options = {"default": default, "help": help_text, "dest": f.name}  # a fresh list, if one
        if item in (int, float):
            options["type"] = (check if isinstance(check, Number) else Number(item)).parse
        elif item is Path:
            options["type"] = Path
        if f.metadata.get("choices"):
            options["choices"] = f.metadata["choices"]
        if f.metadata.get("metavar"):
            options["metavar"] = f.metadata["metavar"]
        if item is not kind:
            options["nargs"] = "+"
        where = parser
        if f.metadata.get("exclusive"):
            name = f.metadata["exclusive"]
            where = groups.get(name) or groups.setdefault(name, parser.add_mutually_exclusive_group())
        where.add_argument(flag(f.name), **options)
    return parser


def command_line(config, model, skip=("output_dir",)):
    """The ``dae train <model>`` command that builds ``config``: its non-default fields as
    flags (those in ``skip`` left out), so a command shown in a report is the config's own."""
    import shlex

    words = ["dae", "train", model]
    for f in dataclasses.fields(config):
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        value = getattr(config, f.name)
        if f.name in skip or _jsonable(value) == _jsonable(default):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        words += [flag(f.name), *(shlex.quote(str(v)) for v in values)]
    return " ".join(words)


def from_flags(cls, namespace):
    """The ``cls`` of the flags parsed into ``namespace`` (other attributes ignored)."""
    return cls(**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls)
                  if hasattr(namespace, f.name)})


# -- fields several experiments declare ---------------------------------------------------------
def seed_option(default):
    return option(default, "random seed", check=non_negative_int)


def output_option(default):
    return option(Path(default), "where the run's files go (created if missing)", saved=False)


def data_option(what):
    """``data``: the user's own images, instead of MNIST (excludes ``data_dir``)."""
    return option(None, f"{what}: an .npy/.npz array (n, h, w) or (n, h*w), uint8 0..255 or "
                        "float 0..1, or a folder of same-size grayscale PNGs", metavar="PATH",
                  exclusive="source")


def split_option():
    """``split``: the fractions of ``data`` for training, validation and test."""
    from dae.customdata import SPLIT
    return option(list(SPLIT), "fractions of --data for training, validation and test (the "
                               "examples shuffled with a fixed seed, not --seed; stratified by "
                               "class when there are labels); MNIST comes split",
                  check=Number(float, 0, 1, low_open=True, high_open=True), metavar="F")


def check_split(config):
    """``split`` is three fractions summing to 1, and given only with ``data``."""
    from dae.customdata import SPLIT
    if len(config.split) != 3 or abs(sum(config.split) - 1) > 1e-6:
        raise ConfigError(f"--split {show(config.split)}: expected three fractions (training, "
                          "validation, test) summing to 1, e.g. --split 0.8 0.1 0.1")
    if config.data is None and tuple(config.split) != SPLIT:
        raise ConfigError(f"--split {show(config.split)} cuts --data; MNIST comes split into "
                          "50,000 training, 10,000 validation and 10,000 test digits: pass --data "
                          "or drop --split")

"""Saving and loading models: one ``.npz`` file that runs no code when read.

A model file is a NumPy ``.npz`` archive read with ``allow_pickle=False``. It holds

========================  =====================================================
key                       content
========================  =====================================================
``meta``                  uint8 array: UTF-8 JSON, the table below
``param_000``, ...        the model's variables, in ``model.variables()`` order
``state_000``, ...        extra arrays (a checkpoint's optimizer state)
========================  =====================================================

and ``meta`` is::

    {"format": "dae-model", "format_version": 1, "dae_version": "0.1.0",
     "class": "dA", "hyperparameters": {...},          # rebuild the model
     "params": [{"name": "W", "shape": [784, 500], "dtype": "float32"}, ...],
     "state":  [{"name": ..., "shape": ..., "dtype": ...}, ...],
     "rng": {...},                                      # theano_rng's generator state
     "info": {...}}                                     # free JSON: image shape, training

Loading looks the class name up in :data:`REGISTRY` (dae's own model classes)
and nowhere else, builds it from its hyperparameters (``model.get_params()``,
see :class:`dae.base.Model`), and copies the arrays in:
the round trip is bit-identical. Every problem with a file (missing, truncated,
not a zip, bad JSON, a missing key, an array of the wrong shape or dtype, a
format newer than this dae reads) raises one :class:`ModelFileError`.

Files are written atomically (a temporary file, then a rename), so a crash or a
Ctrl-C while saving leaves the previous file whole.
"""
import json
import zipfile

import numpy as np

from dae import memory

FORMAT = "dae-model"
FORMAT_VERSION = 1

#: The classes a model file may name, and the module defining each. Nothing
#: else is ever imported or called on load.
REGISTRY = {"dA": "dae.dA", "cA": "dae.cA", "sA": "dae.sA", "SdA": "dae.SdA", "VAE": "dae.VAE",
            "LinearAutoencoder": "dae.linear"}

META_KEY = "meta"


class ModelFileError(ValueError):
    """A model file is missing, damaged, tampered with or from an unknown format version."""


class ModelFile:
    """What a model file holds, checked but not yet built into a model.

    Attributes
    ----------
    path : str
    meta : dict, the JSON header (see the module docstring)
    params : list of numpy arrays, in ``model.variables()`` order
    state : list of (name, numpy array), extra arrays (checkpoints)
    """

    def __init__(self, path, meta, params, state):
        self.path, self.meta, self.params, self.state = path, meta, params, state

    @property
    def class_name(self):
        return self.meta["class"]

    @property
    def hyperparameters(self):
        return self.meta["hyperparameters"]

    @property
    def info(self):
        return self.meta["info"]

    @property
    def param_names(self):
        return [p["name"] for p in self.meta["params"]]


# -- the model classes ---------------------------------------------------------------
def model_class(name):
    """The class registered as ``name`` (imported lazily from :data:`REGISTRY`)."""
    import importlib

    if name not in REGISTRY:
        raise ModelFileError(f"unknown model class {name!r}: expected one of {', '.join(REGISTRY)}")
    try:
        module = importlib.import_module(REGISTRY[name])
    except ImportError as exc:
        raise ModelFileError(f"model class {name} is not available in this dae ({exc}); "
                             "upgrade dae to load this file") from None
    return getattr(module, name)


def model_variables(model):
    """The shared variables a model file holds: ``model.variables()`` (see :class:`dae.base.Model`)."""
    return model.variables()


# -- saving -----------------------------------------------------------------------------
def save(model, path, info=None, state=()):
    """Write ``model`` to ``path`` atomically; return ``path``.

    Parameters
    ----------
    model : a dae model (a class in :data:`REGISTRY`; see :class:`dae.base.Model`)
    path : str or path-like; written as given (no suffix added)
    info : dict of JSON values, optional: stored as ``meta["info"]`` (the CLI
        keeps the image shape and the training progress there)
    state : sequence of (name, array), optional: extra arrays (a checkpoint's
        optimizer state), read back as :attr:`ModelFile.state`
    """
    from dae import __version__
    from dae.utils import atomic_write

    name = type(model).__name__
    if name not in REGISTRY or model_class(name) is not type(model):
        raise TypeError(f"cannot save a {type(model).__module__}.{name}: model files hold dae's "
                        f"own classes ({', '.join(REGISTRY)})")
    variables = model.variables()
    params = [np.asarray(v.get_value(borrow=True)) for v in variables]
    state = [(str(n), np.asarray(a)) for n, a in state]
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "dae_version": __version__,
        "class": name, "hyperparameters": model.get_params(),
        "params": [_describe(v.name or f"param{i}", a) for i, (v, a) in enumerate(zip(variables, params))],
        "state": [_describe(n, a) for n, a in state],
        "rng": model.theano_rng.get_state(),
        "info": dict(info or {}),
    }
    try:
        text = json.dumps(meta, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot save {name}: its hyperparameters or info are not plain JSON "
                        f"values ({exc})") from None
    arrays = {META_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    arrays.update({f"param_{i:03d}": a for i, a in enumerate(params)})
    arrays.update({f"state_{i:03d}": a for i, (_, a) in enumerate(state)})
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _describe(name, array):
    return {"name": name, "shape": list(array.shape), "dtype": array.dtype.str}


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON")


# -- loading ----------------------------------------------------------------------------
def load(path):
    """The model saved in ``path`` (see :func:`save`), parameters bit-identical.

    The file's ``info`` is kept on the model as ``model.saved_info``.
    """
    return build(read(path))


#: The first bytes of files often passed by mistake, to say what a file is instead.
_MAGIC = {b"\x89PNG": "a PNG image", b"\x1f\x8b": "a gzip file", b"\xff\xd8\xff": "a JPEG image",
          b"%PDF": "a PDF", b"\x80": "a Python pickle"}
#: A zip archive with entries, an empty one, a bare .npy (read, then refused as one)
_READ_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")


def file_kind(head):
    """What a file whose first bytes are ``head`` (8 or so) looks like, for a message saying
    what it is instead: ``"a PNG image"``, ``"empty"``, ``"all zero bytes at its start"``..."""
    found = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
    if found is None:
        found = ("empty" if not head else "all zero bytes at its start" if not head.strip(b"\0")
                 else f"its first bytes are {head[:4].hex()}")
    return found


def _not_a_zip(where, path):
    """None when ``path`` starts as a zip archive (or .npy) does, else the error saying what it is."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(_READ_MAGIC):
        return None
    return ModelFileError(f"{where} is not a dae model file (not a zip archive: {file_kind(head)}); "
                          "it is damaged or another kind of file. Pass an .npz written by dae "
                          "train or model.save")


def error_text(exc):
    """An exception's text for a damaged file, without NumPy's advice to unpickle."""
    text = f"{type(exc).__name__}: {exc}"
    if "pickle" in text or "Python objects" in text:
        return "it holds pickled Python objects, which dae never loads"
    return text


def read(path):
    """Read and check a model file without building the model; returns a :class:`ModelFile`."""
    from dae.utils import PathError, check_file

    where = str(path)
    try:
        check_file(path, "a dae model file (.npz)")
    except PathError as exc:
        raise ModelFileError(str(exc)) from None
    try:
        if (error := _not_a_zip(where, path)) is not None:
            raise error
        # mmap_mode: a bare .npy is mapped, not read, before it is refused
        archive = np.load(path, allow_pickle=False, mmap_mode="r")
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ModelFileError(f"{where} holds a bare array, not a dae model file (an .npz "
                                 "written by model.save or the dae command)")
        with archive:
            _check_sizes(where, archive)
            doubled = sorted({k for k in archive.files if archive.files.count(k) > 1})
            if doubled:
                raise ModelFileError(f"{where}: the entries {doubled} appear more than once; the "
                                     "file was modified after dae wrote it")
            keys = set(archive.files)
            if META_KEY not in keys:
                raise ModelFileError(f"{where}: no {META_KEY!r} entry; this is not a dae model file "
                                     "(dae writes them with model.save or the dae command)")
            meta = _parse_meta(where, archive[META_KEY])
            params = _arrays(where, archive, keys, "param", meta["params"])
            state = _arrays(where, archive, keys, "state", meta["state"])
    except ModelFileError:
        raise
    except FileNotFoundError:
        raise ModelFileError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise ModelFileError(f"{where} is a folder; expected a model file (.npz)") from None
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{where} is damaged or not a dae model file (truncated or "
                             f"modified?): {error_text(exc)}. Use another copy or "
                             "train the model again") from None
    expected = {f"param_{i:03d}" for i in range(len(params))} | \
               {f"state_{i:03d}" for i in range(len(state))} | {META_KEY}
    if keys != expected:
        raise ModelFileError(f"{where}: unexpected entries {sorted(keys - expected)}; the file was "
                             "modified after dae wrote it")
    return ModelFile(where, meta, params, [(d["name"], a) for d, a in zip(meta["state"], state)])


def _check_sizes(where, archive):
    """The arrays' headers, read without their data, must claim no more than memory holds."""
    total = sum(memory.nbytes(shape, dtype) for shape, dtype in memory.npz_headers(archive).values())
    try:
        memory.check(total, f"{where}: its arrays", "the file is damaged, or was written on a "
                     "machine with more memory: load it there")
    except memory.MemoryNeeded as exc:
        raise ModelFileError(str(exc)) from None


def _parse_meta(where, raw):
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{where}: {META_KEY!r} is {raw.dtype} {raw.shape}, expected a uint8 "
                             "vector of JSON")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{where}: its metadata is not valid JSON ({exc}); the file is damaged") from None
    except RecursionError:
        raise ModelFileError(f"{where}: its metadata is nested too deeply to be dae's; the file "
                             "was modified after dae wrote it") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{where}: not a dae model file (format {_get(meta, 'format')!r}, "
                             f"expected {FORMAT!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{where}: bad format version {version!r}; the file is damaged")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{where} has format version {version}, written by dae "
                             f"{meta.get('dae_version', '?')}; this dae reads version "
                             f"{FORMAT_VERSION} or older: upgrade dae to load it")
    kinds = {"dae_version": str, "class": str, "hyperparameters": dict, "params": list, "state": list, "info": dict}
    for key, kind in kinds.items():
        if not isinstance(meta.get(key), kind):
            raise ModelFileError(f"{where}: metadata field {key!r} is {_get(meta, key)!r}, expected "
                                 f"a {kind.__name__}; the file is damaged")
    if meta["class"] not in REGISTRY:
        raise ModelFileError(f"{where}: unknown model class {meta['class']!r}; expected one of "
                             f"{', '.join(REGISTRY)}")
    for entry in meta["params"] + meta["state"]:
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)
                and isinstance(entry.get("shape"), list) and isinstance(entry.get("dtype"), str)):
            raise ModelFileError(f"{where}: bad array description {entry!r}; the file is damaged")
    _check_fields(where, "info", meta["info"], _INFO)
    return meta


# -- the info dae itself reads back (dae info, dae filters, --resume) -----------------------
def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _list_of(test):
    return lambda value: isinstance(value, list) and all(test(v) for v in value)


def _record(value):
    return isinstance(value, dict) and isinstance(value.get("stage"), str) and _whole(value.get("epoch"))


#: field: (required, test, what it must be, fields within). Other fields are free JSON.
_TRAINING = {
    "experiment": (True, lambda v: isinstance(v, str), "a string", None),
    "stage": (True, lambda v: isinstance(v, str), "a string", None),
    "epochs": (True, _whole, "a whole number >= 0", None),
    "finished": (False, lambda v: isinstance(v, bool), "true or false", None),
    "complete": (False, lambda v: isinstance(v, bool), "true or false", None),
    "position": (False, _whole, "a whole number >= 0", None),
    "history": (False, _list_of(_record), "a list of epoch records with a stage and an epoch", None),
    "best": (False, lambda v: v is None or (isinstance(v, dict) and _whole(v.get("epoch"))),
             "null or a record with an epoch", None),
    "args": (False, lambda v: isinstance(v, dict), "an object", None),
    "paths": (False, _list_of(lambda v: isinstance(v, str)), "a list of strings", None),
    "stages_done": (False, _list_of(lambda v: isinstance(v, str)), "a list of strings", None),
    "partial_shapes": (False, _list_of(_list_of(_whole)), "a list of shapes", None),
    "generators": (False, lambda v: isinstance(v, list), "a list", None),
    "results": (False, lambda v: isinstance(v, dict), "an object", None),
}
_INFO = {
    "image_shape": (False, lambda v: v is None or (_list_of(_whole)(v) and len(v) == 2 and 0 not in v),
                    "null or [height, width], two whole numbers >= 1", None),
    "training": (False, lambda v: v is None or isinstance(v, dict), "null or an object", _TRAINING),
}


def _check_fields(where, name, value, fields):
    """``value``'s fields against ``fields`` (see :data:`_INFO`); one error naming the first
    bad one as ``info.training.epochs``."""
    for key, (required, test, what, inner) in fields.items():
        if key not in value:
            if required:
                raise ModelFileError(f"{where}: metadata field {name}.{key} is missing, expected "
                                     f"{what}; the file was modified after dae wrote it")
            continue
        if not test(value[key]):
            raise ModelFileError(f"{where}: metadata field {name}.{key} is {_short(value[key])}, "
                                 f"expected {what}; the file was modified after dae wrote it")
        if inner is not None and value[key] is not None:
            _check_fields(where, f"{name}.{key}", value[key], inner)


def _short(value):
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _get(meta, key):
    return meta.get(key) if isinstance(meta, dict) else meta


def _arrays(where, archive, keys, prefix, described):
    arrays = []
    for i, entry in enumerate(described):
        key = f"{prefix}_{i:03d}"
        if key not in keys:
            raise ModelFileError(f"{where}: array {key} ({entry['name']}) is missing; the file is "
                                 "damaged or was modified")
        array = archive[key]
        if list(array.shape) != entry["shape"] or array.dtype.str != entry["dtype"]:
            raise ModelFileError(
                f"{where}: {key} ({entry['name']}) is {array.dtype.str} {list(array.shape)}, but the "
                f"file says {entry['dtype']} {entry['shape']}; the file was modified")
        arrays.append(array)
    return arrays


# -- building -----------------------------------------------------------------------------
def build(record):
    """The model a :class:`ModelFile` describes, its parameters and random state set."""
    cls = model_class(record.class_name)
    held = sum(a.nbytes for a in record.params)
    try:
        # the constructor may allocate what the file holds (twice, for slack), not what
        # hyperparameters edited to 10**9 units would claim
        with memory.allowance(2 * held + 2**20, f"the {memory.format_bytes(held)} of parameters "
                              "the file holds: its hyperparameters do not match its arrays"):
            model = cls(numpy_rng=np.random.RandomState(0), **record.hyperparameters)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{record.path}: cannot rebuild {record.class_name} from its "
                             f"hyperparameters {record.hyperparameters}: {exc}") from None
    assign(model, record)
    model.saved_info = record.info
    return model


def assign(model, record):
    """Copy a model file's parameters and random state into ``model``.

    ``model`` must be of the file's class with the same hyperparameters (a
    checkpoint restored into the model a resumed run rebuilt).
    """
    name = type(model).__name__
    if name != record.class_name:
        raise ModelFileError(f"{record.path} holds a {record.class_name}, not a {name}")
    wanted = json.loads(json.dumps(model.get_params(), default=_json_default))
    if wanted != record.hyperparameters:
        raise ModelFileError(f"{record.path} holds {name}({_kwargs(record.hyperparameters)}), "
                             f"but the model here is {name}({_kwargs(wanted)})")
    variables = model.variables()
    if len(variables) != len(record.params):
        raise ModelFileError(f"{record.path} holds {len(record.params)} parameters, "
                             f"{name} has {len(variables)}; the file was modified")
    for var, array, entry in zip(variables, record.params, record.meta["params"]):
        current = var.get_value(borrow=True)
        if array.shape != current.shape or array.dtype != current.dtype:
            raise ModelFileError(
                f"{record.path}: parameter {entry['name']} is {array.dtype} {array.shape}; "
                f"{name}({_kwargs(wanted)}) needs {current.dtype} {current.shape}")
    for var, array in zip(variables, record.params):
        var.set_value(np.array(array, copy=True), borrow=True)
    if record.meta.get("rng") is not None:
        try:
            model.theano_rng.set_state(record.meta["rng"])
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{record.path}: bad random-generator state ({exc}); "
                                 "the file is damaged") from None
    return model


def _kwargs(params):
    return ", ".join(f"{k}={v!r}" for k, v in params.items())

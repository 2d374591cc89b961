"""A run's checkpoint: a pure save/restore pair over named state.

``checkpoint.npz`` is a model file (:mod:`dae.io`) that also holds what a
resumed run needs to end bit-identical to an uninterrupted one:

* the shared variables the step updates besides the model's parameters
  (an optimizer's moments, a decayed learning rate), by name;
* the random generators' bit-generator states;
* the state of the objects a stage keeps (early stopping, the best parameters
  so far): ``state_dict()`` JSON values and arrays;
* the outputs of the steps already run in the epoch being stopped in, replayed
  on resume instead of run again;
* ``training``: the stage and epoch reached and whatever the session records
  (the config, the history, finished evaluations).

:func:`save` writes all of it atomically; :func:`restore` puts it back and
returns where to continue. Neither knows what a session or an experiment is.
"""
import numpy as np

from dae import io
from dae.folder import SessionError

PARTIAL = "partial epoch outputs"
KEEP = "keep"


def state_variables(model, step, state=()):
    """What a checkpoint holds besides the model file's variables: ``step.state_variables()``
    (see :class:`dae.train.StepProtocol`), then ``state``, each once."""
    found = getattr(step, "state_variables", None)
    if found is None:
        raise TypeError(f"cannot tell which shared variables {type(step).__name__} updates: give it a "
                        "state_variables() method (dae.train.StepProtocol)")
    seen = {id(v) for v in model.variables()}
    variables = []
    for var in list(found()) + list(state or ()):
        if id(var) not in seen:
            seen.add(id(var))
            variables.append(var)
    return variables


def save(path, model, info, training, variables, keep=(), partial=()):
    """Write the checkpoint of ``model`` and ``variables`` (shared), ``keep`` (objects
    with ``state_dict``) and ``partial`` (the stopped epoch's step outputs) to ``path``;
    ``training`` (a dict of JSON values: at least ``experiment``, ``stage``, ``epochs``)
    goes into the file's info with what is needed to read the rest back."""
    arrays = [v for v in variables if not _is_generator(v)]
    generators = [v.get_value(borrow=True).bit_generator.state for v in variables if _is_generator(v)]
    state = [(v.name or "state", v.get_value(borrow=True)) for v in arrays]
    kept = []
    for i, obj in enumerate(keep):
        values = obj.state_dict()
        kept.append({k: v for k, v in values.items() if not isinstance(v, np.ndarray)})
        state += [(f"{KEEP}:{i}:{k}", v) for k, v in values.items() if isinstance(v, np.ndarray)]
    values = [np.asarray(v, dtype=np.float64) for v in partial]
    if values:
        state.append((PARTIAL, np.concatenate([v.reshape(-1) for v in values])))
    training = {**training, "position": len(values), "partial_shapes": [list(v.shape) for v in values],
                "generators": generators, "keep": kept}
    return io.save(model, path, info={**info, "training": training}, state=state)


def assign(model, record, path):
    """Copy a checkpoint's parameters into ``model``, or say it does not fit."""
    try:
        io.assign(model, record)
    except io.ModelFileError as exc:
        raise SessionError(f"the checkpoint does not fit the model this run builds (was the "
                           f"config or the data changed?): {exc}") from None


def restore(record, model, variables, keep=(), path="checkpoint.npz"):
    """Put a checkpoint (``io.read``'s record) back into ``model``, ``variables`` and ``keep``.

    Returns ``(epochs, replay, complete)``: the epochs of the stage done, the outputs
    of the steps run in the next one (to replay), and whether the stage had ended
    early (not to be trained again).
    """
    training = record.info["training"]
    assign(model, record, path)
    arrays = [v for v in variables if not _is_generator(v)]
    generators = [v for v in variables if _is_generator(v)]
    saved = [(n, a) for n, a in record.state if n != PARTIAL and not n.startswith(KEEP + ":")]
    shapes = [(v.name or "state", v.get_value(borrow=True).shape, v.get_value(borrow=True).dtype)
              for v in arrays]
    kept = training.get("keep", [])
    if [(n, a.shape, a.dtype) for n, a in saved] != shapes or \
            len(training["generators"]) != len(generators) or len(kept) != len(keep):
        raise SessionError(f"{path} holds training state {[n for n, _ in saved]} but this run's "
                           f"step updates {[s[0] for s in shapes]}; it was written by a different "
                           "version of the experiment: start a new run")
    for var, (_, value) in zip(arrays, saved):
        var.set_value(np.array(value, copy=True), borrow=True)
    for var, state in zip(generators, training["generators"]):
        generator = np.random.default_rng()
        generator.bit_generator.state = state
        var.set_value(generator, borrow=True)
    for i, obj in enumerate(keep):
        prefix = f"{KEEP}:{i}:"
        values = dict(kept[i])
        values.update({n[len(prefix):]: np.array(a, copy=True) for n, a in record.state
                       if n.startswith(prefix)})
        obj.load_state_dict(values)
    flat = dict(record.state).get(PARTIAL)
    replay, offset = [], 0
    for shape in training["partial_shapes"]:
        size = int(np.prod(shape))
        replay.append(flat[offset:offset + size].reshape(shape))
        offset += size
    return training["epochs"], replay, bool(training.get("complete"))


def _is_generator(var):
    return isinstance(var.get_value(borrow=True), np.random.Generator)

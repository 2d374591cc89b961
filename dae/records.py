"""A run's records: ``metrics.jsonl`` (one JSON object per epoch), ``learning_curve.png``,
and the line an epoch prints."""
import json

from dae.train import format_metrics

METRICS = "metrics.jsonl"
CURVE = "learning_curve.png"


def write_metrics(folder, history):
    """Rewrite ``metrics.jsonl`` from the run's history, atomically.

    Appending would be cheaper, but a Ctrl-C in the middle of an append leaves
    half a line; the whole file (one short line an epoch) is rewritten instead,
    so it always matches the checkpoint.
    """
    from dae.utils import atomic_write

    with atomic_write(folder / METRICS, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in history)
    return folder / METRICS


def draw(folder, history):
    """Each metric against the epoch, one line per stage (:func:`dae.plots.learning_curve`)."""
    if not history:
        return None
    from dae.plots import learning_curve
    return learning_curve(history, folder / CURVE)


def draw_quietly(folder, history):
    """:func:`draw`, when the run is ending on an error: the picture is a convenience, the
    run and its error matter more (and a Ctrl-C while drawing is the caller's)."""
    try:
        draw(folder, history)
    except (OSError, ValueError, RuntimeError, ImportError):
        pass


def line(record):
    """``corruption_30 epoch  14  cost 64.7812  3.1 s``"""
    return f"{record['stage']} epoch {record['epoch']:3d}  {format_metrics(record)}  {record['seconds']:.1f} s"

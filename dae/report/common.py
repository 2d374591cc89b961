"""What every section of the report shares: its sizes, the runs it trains, tables and charts.

A run is one model trained by a dae experiment (the same :class:`Config` ``dae train``
builds from the flags shown) or by the library through a session, checkpointed in
``<out>/runs/<name>/`` and reused by every section and unit once it finished.
"""
import gzip
import json
import pickle
import shlex
import subprocess
import time
from pathlib import Path

import numpy as np

from dae.plots import figure, save_figure
from dae.utils import atomic_write

#: The command the report's rows name (with ``--quick`` for the miniature).
COMMAND = "dae reproduce"

# What the full report and --quick run: the same pipeline, other sizes.
FULL = dict(
    examples=None, seeds=[1, 2, 3], hidden=500, ae_epochs=15, ca_epochs=20, sa_epochs=30,
    ae_batch=None, deep_hidden=[1000, 1000, 1000], pretraining_epochs=15, training_epochs=25,
    deep_batch=10, vae_hidden=[512, 512], vae_latent=50, vae_epochs=100, nll_k=5000, sweep_k=1000,
    iwae_k=[5, 50], iwae_epochs={"50": 30}, vae_flags=[],
    sparse_hidden=196, lbfgs_epochs=8, lbfgs_iterations=50, probe_iterations=300,
    probe_l2=[1e-2, 1e-3, 1e-4], pca_iterations=1000, cae_points=1000, spectrum_points=200,
)
# --quick runs in the py compile mode, no compiling to wait for; its sigmoid and softplus, though,
# run in Python element by element, so quick keeps examples, units and the VAE's k tiny.
QUICK = dict(
    examples=(500, 200, 200), seeds=[1], hidden=32, ae_epochs=1, ca_epochs=1, sa_epochs=1,
    ae_batch=100, deep_hidden=[32, 32, 32], pretraining_epochs=1, training_epochs=2,
    deep_batch=50, vae_hidden=[32], vae_latent=8, vae_epochs=1, nll_k=2, sweep_k=2, iwae_k=[2, 3],
    vae_flags=["--learning-rate", "0.01"],  # five steps: a larger one, so the pictures show digits
    sparse_hidden=49, lbfgs_epochs=2, lbfgs_iterations=5, probe_iterations=20, probe_l2=[1e-2, 1e-3],
    pca_iterations=100, cae_points=100, spectrum_points=20,
)


class Runs:
    """Trains through dae's experiments and sessions into ``out/runs/<name>/``, reusing what
    finished; ``log(text)`` is told what runs and how it goes."""

    def __init__(self, out, config, mode, data_dir, log):
        self.out, self.config, self.mode, self.data_dir, self.log = out, config, mode, data_dir, log

    def folder(self, name):
        return self.out / "runs" / name

    def _done(self, name):
        record = self.folder(name) / "run.json"
        return json.loads(record.read_text()) if record.exists() else None

    def _finish(self, name, command, started, **extra):
        record = {"command": command, "seconds": time.time() - started, **extra}
        write_text(self.folder(name) / "run.json", json.dumps(record, indent=1))
        return record

    def experiment(self, name, model, flags):
        """``dae train <model> <flags>`` into runs/<name> (the flags parsed into the
        experiment's Config as the command parses them); returns its run record."""
        done = self._done(name)
        if done:
            return done
        import argparse
        import importlib

        from dae.experiments.common import Report
        from dae.experiments.configs import add_flags, from_flags

        module = importlib.import_module(f"dae.experiments.{model}")
        folder = self.folder(name)
        parser = add_flags(argparse.ArgumentParser(prog=f"dae train {model}"), module.Config)
        config = from_flags(module.Config, parser.parse_args(
            [*flags, "--output-dir", str(folder), "--mode", self.mode,
             *(["--data-dir", str(self.data_dir)] if self.data_dir else [])]))
        resume = (folder / "checkpoint.npz").exists()
        command = " ".join(["dae", "train", model, *map(shlex.quote, flags)])
        self.log(f"[{name}] {'resuming' if resume else 'running'}: {command}")
        started = time.time()
        module.run(config, Report(line=lambda text: self.log(f"[{name}] {text}")), resume=resume,
                   command=["dae", "train", model])
        return self._finish(name, command, started)

    def library(self, name, train, command):
        """``train(folder, resume)`` (a run of the library through a session), cached."""
        done = self._done(name)
        if done:
            return done
        folder = self.folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        resume = (folder / "checkpoint.npz").exists()
        self.log(f"[{name}] {'resuming' if resume else 'running'} in the library: {command}")
        started = time.time()
        return self._finish(name, command, started, **(train(folder, resume) or {}))


# -- data --------------------------------------------------------------------------------------
def load(data_dir):
    from dae.data import load_mnist
    return load_mnist(data_dir)


def write_subset(data_dir, folder, sizes):
    """The first ``sizes`` examples of each split as a ``mnist.pkl.gz`` every experiment reads."""
    path = folder / "mnist.pkl.gz"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        splits = tuple((x[:n], y[:n].astype(np.int64)) for (x, y), n in zip(load(data_dir), sizes))
        with atomic_write(path, "wb") as raw, gzip.open(raw, "wb", compresslevel=1) as f:
            pickle.dump(splits, f, protocol=4)
    return path


# -- records ------------------------------------------------------------------------------------
def write_text(path, text):
    """``text`` at ``path``, whole or not at all."""
    with atomic_write(path, "w") as f:
        f.write(text)


def last_metrics(folder):
    """Each stage's last line of a run's metrics.jsonl: {stage: record}."""
    path = folder / "metrics.jsonl"
    last = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        record = json.loads(line)
        last[record.get("stage", "train")] = record
    return last


def keep_figures(runs, run_name, unit, out):
    """The run's PNGs copied to figures/<unit>/ (the first seed's only: a few MB in all)."""
    if not run_name.endswith("-s1"):
        return []
    kept = []
    for png in sorted(runs.folder(run_name).glob("*.png")):
        target = out / "figures" / unit / png.name
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(target, "wb") as f:
            f.write(png.read_bytes())
        kept.append(str(target.relative_to(out)))
    return kept


def dae_commit():
    """The dae checkout's commit (``+uncommitted`` when dae/ has changes), or its version
    where dae is not run from a git checkout."""
    import dae

    root = Path(dae.__file__).resolve().parents[1]

    def git(*words):
        try:
            done = subprocess.run(["git", *words], cwd=root, capture_output=True, text=True)
        except OSError:
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") if (root / ".git").exists() else ""
    if not commit:
        return f"dae {getattr(dae, '__version__', '?')}"
    return commit + ("+uncommitted" if git("status", "--porcelain", "dae") else "")


# -- tables and charts ---------------------------------------------------------------------------
def mean_sd(values, scale=1.0, digits=2, unit=""):
    """``"1.30 ± 0.05%"`` over seeds (the sample standard deviation), or ``"1.30% (1 seed)"``."""
    values = np.asarray(values, dtype=np.float64) * scale
    if len(values) < 2:
        return f"{values.mean():.{digits}f}{unit} (1 seed)"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}{unit}"


def minutes(seconds):
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def seeds_flag(seeds):
    return str(seeds[0]) if len(seeds) == 1 else "{" + ",".join(map(str, seeds)) + "}"


def over_seeds(command, seed, seeds):
    """A seed's command written for all of them (``--seed {1,2,3}``)."""
    return command.replace(f"--seed {seed}", f"--seed {seeds_flag(seeds)}")


def merge_seeds(measured):
    """A section's rows over seeds, from ``[(seed, {row: {key: value}})]`` (one seed's runs, or
    one unit's record): each number listed in seed order, the wall times (``seconds``) summed,
    the ``command`` written over the row's seeds."""
    rows, first = {}, {}
    for seed, by_row in measured:
        for row, values in by_row.items():
            entry = rows.setdefault(row, {"seeds": [], "seconds": 0.0})
            entry["seeds"].append(seed)
            for key, value in values.items():
                if key == "seconds":
                    entry["seconds"] += value
                elif key == "command":
                    first.setdefault(row, (value, seed))
                else:
                    entry.setdefault(key, []).append(value)
    for row, (command, seed) in first.items():
        rows[row]["command"] = over_seeds(command, seed, rows[row]["seeds"])
    return rows


def bar_chart(path, labels, values, title, label, horizontal=False, lines=()):
    """Mean ± sd bars (one per label, ``values`` a list per label, in %), with ``lines``
    ``(value, label)`` drawn across as references."""
    means = [np.mean(v) for v in values]
    sds = [np.std(v, ddof=1) if len(v) > 1 else 0 for v in values]
    chart = figure((8, 0.5 + 0.35 * len(labels)) if horizontal else (7, 3.5))
    ax = chart.subplots()
    # an error bar only where there is a spread: one seed's bar has none (not a zero-height one)
    spread = [i for i, v in enumerate(values) if len(v) > 1]
    bars = dict(fmt="none", ecolor="black", elinewidth=1.5)
    if horizontal:
        ax.barh(range(len(labels)), means, color="C0")
        ax.errorbar([means[i] for i in spread], spread, xerr=[sds[i] for i in spread], capsize=3, **bars)
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(label)
    else:
        ax.bar(range(len(labels)), means, color="C0")
        ax.errorbar(spread, [means[i] for i in spread], yerr=[sds[i] for i in spread], capsize=4, **bars)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylabel(label)
        # headroom above the bars and reference lines, where the legend goes
        ax.set_ylim(0, 1.3 * max([m + d for m, d in zip(means, sds)] + [v for v, _ in lines]))
    for i, (value, text) in enumerate(lines):
        (ax.axvline if horizontal else ax.axhline)(value, color=f"C{i + 1}", linestyle="--", label=text)
    if lines:
        ax.legend(fontsize="small", loc="upper right")
    ax.set_title(title)
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)
    save_figure(chart, path)


def line_plot(path, lines, xlabel, ylabel, title, xlog=False, ylog=False, marker=None):
    """One line per entry ``{label: (x, y)}``, written to ``path``."""
    chart = figure((6, 4))
    ax = chart.subplots()
    for i, (label, (x, y)) in enumerate(lines.items()):
        ax.plot(x, y, marker=marker, color=f"C{i}", label=label)
    ax.set_xscale("log" if xlog else "linear")
    ax.set_yscale("log" if ylog else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, which="both")
    save_figure(chart, path)

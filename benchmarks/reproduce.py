"""Reproduce the literature's tables and figures on MNIST in one command (issue 14).

    python benchmarks/reproduce.py                  # the full report into benchmarks/report/
    python benchmarks/reproduce.py --quick          # the same pipeline in miniature (minutes)
    python benchmarks/reproduce.py --only probe     # rerun one section (by name or number)

Sections: 1 probe (a linear probe of every model's features), 2 deep (784-1000-1000-1000-10
pretrained as stacked dA, cA, sA, or not at all), 3 cae (Rifai et al.'s Jacobian analysis),
4 pca (a linear autoencoder is PCA), 5 vae (beta-VAE and IWAE), 6 sparse (the sA by SGD and
by UFLDL's full-batch L-BFGS), 7 readme (the README's results table, regenerated).

Every model is trained by dae's own experiments (``dae train ...``, run in this process) or,
where no experiment has the option, by dae's library through a session, so every run is
checkpointed in ``<out>/runs/<name>/``. A run that finished is reused (by any section); one
that was interrupted resumes. A section that finished saves its numbers in
``<out>/sections/<name>.json`` and is reused until ``--only`` names it again. ``report.md`` is
rewritten from those files after every section, so an interrupted report resumes where it
stopped and always shows what is done. This script is thin: flags, sections, the report.
"""
import argparse
import gzip
import json
import pickle
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from dae import interrupt
from dae.config import get_mode

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ["probe", "deep", "cae", "pca", "vae", "sparse", "readme"]
TITLES = {
    "probe": "1. Linear probe of every model's features",
    "deep": "2. Deep networks fine-tuned",
    "cae": "3. The contractive autoencoder's analysis (Rifai et al. 2011)",
    "pca": "4. A linear autoencoder is PCA",
    "vae": "5. beta-VAE and IWAE",
    "sparse": "6. The sparse autoencoder as UFLDL trains it",
    "readme": "7. The README's results table",
}

# What the full report and --quick run: the same pipeline, other sizes.
FULL = dict(
    examples=None, seeds=[1, 2, 3], hidden=500, ae_epochs=15, ca_epochs=20, sa_epochs=30,
    ae_batch=None, deep_hidden=[1000, 1000, 1000], pretraining_epochs=15, training_epochs=25,
    deep_batch=10, vae_hidden=[512, 512], vae_latent=50, vae_epochs=100, nll_k=5000, sweep_k=1000, iwae_k=[5, 50], vae_flags=[],
    sparse_hidden=196, lbfgs_epochs=8, lbfgs_iterations=50, probe_iterations=300, probe_l2=[1e-2, 1e-3, 1e-4],
    pca_iterations=1000, cae_points=1000, spectrum_points=200,
)
QUICK = dict(
    examples=(500, 200, 200), seeds=[1], hidden=32, ae_epochs=1, ca_epochs=1, sa_epochs=1,
    ae_batch=100, deep_hidden=[32, 32, 32], pretraining_epochs=1, training_epochs=2,
    deep_batch=50, vae_hidden=[32], vae_latent=8, vae_epochs=1, nll_k=2, sweep_k=2, iwae_k=[2, 3],
    vae_flags=["--learning-rate", "0.01"],  # five steps: a larger one, so the pictures show digits
    sparse_hidden=49, lbfgs_epochs=2, lbfgs_iterations=5, probe_iterations=20, probe_l2=[1e-2, 1e-3],
    pca_iterations=100, cae_points=100, spectrum_points=20,
)
# --quick runs in the py compile mode, no compiling to wait for; its sigmoid and softplus, though,
# run in Python element by element, so quick keeps examples, units and the VAE's k tiny.
# Denoising with other noise, in the ranges Vincent et al. (2010) searched.
GAUSSIAN_SD, SALT_PEPPER = 0.3, 0.25
# The SdA configuration of benchmarks/sda_full_run.md (run 4, 1.30%), for every pretraining.
DEEP_FLAGS = ["--pretrain-batch-size", "50", "--pretrain-lr", "0.25", "--finetune-lr", "0.1",
              "--momentum", "0.9"]
ANCHORS_DEEP = "the SdA tutorial 1.30%; Vincent et al. 2010: SdA-3 1.28%, SAE-3 1.40%, DBN-3 1.24%; " \
               "Rifai et al. 2011: CAE 1.14%; the tutorials' open target 1.10%; aim < 1.20%"
ANCHORS_VAE = "pythae: VAE 89.78, IWAE 86.82 nats; Burda et al. 2016 (one stochastic layer): " \
              "VAE 86.76, IWAE k = 50 84.78 (3,280 epochs); aim VAE <= 87.5, IWAE k = 50 <= 86"


# -- runs --------------------------------------------------------------------------------------
class Runs:
    """Trains through dae's experiments and sessions into ``out/runs/<name>/``, reusing what finished."""

    def __init__(self, out, config, mode, data_dir, log):
        self.out, self.config, self.mode, self.data_dir, self.log = out, config, mode, data_dir, log

    def folder(self, name):
        return self.out / "runs" / name

    def _done(self, name):
        record = self.folder(name) / "run.json"
        return json.loads(record.read_text()) if record.exists() else None

    def _finish(self, name, command, started, **extra):
        record = {"command": command, "seconds": time.time() - started, **extra}
        (self.folder(name) / "run.json").write_text(json.dumps(record, indent=1))
        return record

    def experiment(self, name, model, flags, override=None):
        """``dae train <model> <flags>`` into runs/<name>; returns its run record.

        ``override`` sets flags after parsing, for a value the CLI does not take yet
        (the command shown then says so).
        """
        done = self._done(name)
        if done:
            return done
        import importlib

        from dae.experiments.common import Report

        module = importlib.import_module(f"dae.experiments.{model}")
        from dae.experiments.configs import add_flags, from_flags

        folder = self.folder(name)
        own = [*flags, "--output-dir", str(folder), *self._common()]
        resume = (folder / "checkpoint.npz").exists()
        namespace = vars(add_flags(argparse.ArgumentParser(prog=f"dae train {model}"),
                                   module.Config).parse_args(own))
        config = from_flags(module.Config, argparse.Namespace(**{**namespace, **(override or {})}))
        command = " ".join(["dae", "train", model, *map(shlex.quote, flags)])
        if override:
            command += "  # with " + ", ".join(f"{k}={v}" for k, v in override.items())
        self.log(f"[{name}] {'resuming' if resume else 'running'}: {command}")
        started = time.time()
        # typed=None: every field counts as given, so a resumed run must match them all
        module.run(config, Report(line=lambda text: self.log(f"[{name}] {text}")), resume=resume,
                   command=["dae", "train", model])
        return self._finish(name, command, started)

    def library(self, name, train, command):
        """``train(folder, resume) -> dict`` (a run of the library through a session); cached."""
        done = self._done(name)
        if done:
            return done
        folder = self.folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        resume = (folder / "checkpoint.npz").exists()
        self.log(f"[{name}] {'resuming' if resume else 'running'} in the library: {command}")
        started = time.time()
        return self._finish(name, command, started, **(train(folder, resume) or {}))

    def _common(self):
        return ["--mode", self.mode] + (["--data-dir", str(self.data_dir)] if self.data_dir else [])

    def session(self, folder, experiment, resume, **flags):
        """A :class:`dae.session.Session` for a library run (its config saved and checked on resume)."""
        from dae.session import Session

        return Session(experiment, {"mode": self.mode, **flags}, output_dir=folder,
                       command=["python", "benchmarks/reproduce.py"], resume=resume,
                       report=lambda text: self.log(f"[{folder.name}] {text}"))


# -- data and small helpers -----------------------------------------------------------------------
def load(data_dir):
    from dae.data import load_mnist
    return load_mnist(data_dir)


def write_subset(data_dir, folder, sizes):
    """The first ``sizes`` examples of each split as a ``mnist.pkl.gz`` every experiment reads."""
    path = folder / "mnist.pkl.gz"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        splits = tuple((x[:n], y[:n].astype(np.int64)) for (x, y), n in zip(load(data_dir), sizes))
        with gzip.open(path, "wb", compresslevel=1) as f:
            pickle.dump(splits, f, protocol=4)
    return path


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


def figure(size=(7, 4)):
    """A matplotlib figure on the Agg canvas (no pyplot: no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def line_plot(path, lines, xlabel, ylabel, title, xlog=False, ylog=False, marker=None):
    """One line per entry ``{label: (x, y)}``, written to ``path``."""
    fig = figure((6, 4))
    ax = fig.subplots()
    for i, (label, (x, y)) in enumerate(lines.items()):
        ax.plot(x, y, marker=marker, color=f"C{i}", label=label)
    ax.set_xscale("log" if xlog else "linear")
    ax.set_yscale("log" if ylog else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, which="both")
    fig.savefig(path)


def seeds_flag(seeds):
    return str(seeds[0]) if len(seeds) == 1 else "{" + ",".join(map(str, seeds)) + "}"


# -- 1. linear probe ------------------------------------------------------------------------------------
def one_layer_runs(runs, c, seed):
    """The one-layer autoencoders of sections 1 and 3, trained for ``seed``: {row: (model path, run)}."""
    h, common = str(c["hidden"]), ["--n-hidden", str(c["hidden"]), "--seed", str(seed)]
    if c["ae_batch"]:
        common += ["--batch-size", str(c["ae_batch"])]
    da = runs.experiment(f"dA-s{seed}", "dA", ["--corruption", "0", "0.1", "0.25", "0.5",
                                               "--epochs", str(c["ae_epochs"]), *common])
    folder = runs.folder(f"dA-s{seed}")
    models = {"autoencoder (no noise)": (folder / "dA_corruption_0.npz", da),
              "dA, masking 10%": (folder / "dA_corruption_10.npz", da),
              "dA, masking 25%": (folder / "dA_corruption_25.npz", da),
              "dA, masking 50%": (folder / "dA_corruption_50.npz", da)}
    for corruption, level, row in (("gaussian", GAUSSIAN_SD, f"dA, Gaussian sd {GAUSSIAN_SD}"),
                                   ("salt_and_pepper", SALT_PEPPER, f"dA, salt-and-pepper {SALT_PEPPER:.0%}")):
        name = f"dA-{corruption}-s{seed}"
        run = runs.library(name, lambda folder, resume, corruption=corruption, level=level:
                           train_noisy_dA(runs, folder, resume, corruption, level, c, seed),
                           f"python benchmarks/reproduce.py --only probe  # dA, {corruption} {level}, "
                           f"{h} units, {c['ae_epochs']} epochs at 0.1, batch {c['ae_batch'] or 20}, seed {seed}")
        models[row] = (runs.folder(name) / "dA.npz", run)
    ca = runs.experiment(f"cA-s{seed}", "cA", ["--epochs", str(c["ca_epochs"]), *common])
    models["cA, contraction 0.1"] = (runs.folder(f"cA-s{seed}") / "cA.npz", ca)
    sa = runs.experiment(f"sA-s{seed}", "sA", ["--epochs", str(c["sa_epochs"]), *common])
    models["sA (UFLDL's penalties)"] = (runs.folder(f"sA-s{seed}") / "sA.npz", sa)
    return models


def train_noisy_dA(runs, folder, resume, corruption, level, c, seed):
    """The dA experiment's training (lr 0.1, batch 20) with Gaussian or salt-and-pepper noise,
    which ``dae train dA`` has no flag for yet."""
    import pytensor

    from dae.dA import dA
    from dae.random import RandomStreams
    from dae.train import compile_step

    train_x = load(runs.data_dir)[0][0]
    with runs.session(folder, "reproduce-dA", resume, corruption=corruption, level=level,
                      n_hidden=c["hidden"], epochs=c["ae_epochs"], seed=seed) as session:
        session.bind_data(train_x)
        session.info["image_shape"] = [28, 28]
        rng = np.random.RandomState(seed)
        model = dA(rng, theano_rng=RandomStreams(rng.randint(2**30)), n_hidden=c["hidden"],
                   corruption=corruption)
        cost, updates = model.get_cost_updates(level, 0.1)
        step = compile_step({model.x: pytensor.shared(train_x, borrow=True)}, c["ae_batch"] or 20, cost,
                            updates, runs.mode)
        session.fit("train", model, step, c["ae_epochs"])
        session.save_model(model, "dA.npz")
        session.finish()


def pretrained_sda(runs, c, seed):
    """The SdA pretrained only (no fine-tuning), through the SdA experiment's own pretraining."""
    name = f"SdA-pretrained-s{seed}"

    def train(folder, resume):
        from dae.data import shared_dataset
        from dae.experiments.SdA import Config, pretrain
        from dae.experiments.common import Report
        from dae.SdA import SdA
        from dae.session import Session

        train_x = load(runs.data_dir)[0][0]
        config = Config(hidden_layers=c["deep_hidden"], corruption_levels=[0.1, 0.2, 0.3],
                        pretrain_batch_size=50, batch_size=10, pretrain_lr=0.25,
                        pretraining_epochs=c["pretraining_epochs"], seed=seed, mode=runs.mode,
                        output_dir=folder)
        with Session("reproduce-SdA-pretraining", config, command=["python", "benchmarks/reproduce.py"],
                     resume=resume, report=lambda text: runs.log(f"[{folder.name}] {text}")) as session:
            session.bind_data(train_x)
            sda = SdA(np.random.RandomState(seed), n_ins=784, hidden_layers_sizes=c["deep_hidden"],
                      corruption_levels=[0.1, 0.2, 0.3])
            session.restore(sda)
            pretrain(session, sda, shared_dataset((train_x, np.zeros(len(train_x), "int32")))[0],
                     session.config, Report(line=runs.log))
            session.save_model(sda, "SdA.npz")
            session.finish()

    sizes = "-".join(map(str, [784] + c["deep_hidden"]))
    run = runs.library(name, train, f"python benchmarks/reproduce.py --only probe  # SdA {sizes}, "
                       f"dA pretraining only ({c['pretraining_epochs']} epochs a layer, batch 50 at "
                       f"0.25, corruption 0.1/0.2/0.3), seed {seed}")
    return runs.folder(name) / "SdA.npz", run


def vae_run(runs, c, seed, beta=1.0, iwae=None):
    # The protocol: NLL with k = nll_k for beta 1 and the IWAEs, the cheaper sweep_k for the beta sweep.
    k = c["nll_k"] if beta == 1 or iwae is not None else c["sweep_k"]
    flags = ["--hidden", *map(str, c["vae_hidden"]), "--latent", str(c["vae_latent"]),
             "--epochs", str(c["vae_epochs"]), "--k", str(k), *c["vae_flags"], "--seed", str(seed)]
    name = f"vae-s{seed}"
    if iwae is not None:
        flags += ["--iwae", str(iwae)]
        name = f"vae-iwae{iwae}-s{seed}"
    elif beta != 1:
        flags += ["--beta", f"{beta:g}"]
        name = f"vae-beta{beta:g}-s{seed}"
    return runs.folder(name), runs.experiment(name, "vae", flags)


def section_probe(runs, c, out):
    from dae import io
    from dae.evaluate import encode

    splits = load(runs.data_dir)
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = splits
    results = {}

    def probe(row, features, command, train_seconds, seed):
        result = probe_row(runs, c, "probe", f"{row}, seed {seed}", features, (train_y, valid_y, test_y),
                           time.time())
        entry = results.setdefault(row, {"command": command, "seeds": [], "test_error": [],
                                         "valid_error": [], "l2": [], "seconds": 0.0,
                                         "features": result["features"]})
        entry["seeds"].append(seed)
        for key in ("test_error", "valid_error", "l2"):
            entry[key].append(result[key])
        entry["seconds"] += train_seconds + result["probe_seconds"]

    probe("raw pixels", (train_x, valid_x, test_x), "python benchmarks/reproduce.py --only probe", 0, 0)
    mean = train_x.mean(axis=0)
    basis = np.linalg.svd(train_x - mean, full_matrices=False)[2]
    for k in sorted({c["hidden"], c["vae_latent"]}, reverse=True):
        pca = [((x - mean) @ basis[:k].T).astype(np.float32) for x in (train_x, valid_x, test_x)]
        probe(f"PCA, {k} components", pca, "python benchmarks/reproduce.py --only probe", 0, 0)
    for seed in c["seeds"]:
        models = one_layer_runs(runs, c, seed)
        models["SdA top layer, pretrained only"] = pretrained_sda(runs, c, seed)
        folder, run = vae_run(runs, c, seed)
        models["VAE posterior mean"] = (folder / "vae.npz", run)
        for row, (path, run) in models.items():
            model = io.load(path)
            features = [encode(model, x, mode=runs.mode) for x in (train_x, valid_x, test_x)]
            probe(row, features, run["command"].replace(f"--seed {seed}", f"--seed {seeds_flag(c['seeds'])}"),
                  run["seconds"], seed)

    fig = figure((8, 0.5 + 0.35 * len(results)))
    ax = fig.subplots()
    rows = list(results)
    means = [100 * np.mean(results[r]["test_error"]) for r in rows]
    sds = [100 * np.std(results[r]["test_error"], ddof=1) if len(results[r]["test_error"]) > 1 else 0
           for r in rows]
    ax.barh(range(len(rows)), means, xerr=sds, color="C0", capsize=3)
    ax.set_yticks(range(len(rows)), rows)
    ax.invert_yaxis()
    ax.set_xlabel("test error of a linear probe (%)")
    ax.set_title("Linear probe on frozen features" + (f", mean ± sd over seeds {seeds_flag(c['seeds'])}"
                                                      if len(c["seeds"]) > 1 else f", seed {c['seeds'][0]}"))
    ax.grid(axis="x", alpha=0.3)
    fig.savefig(out / "probe_errors.png")
    return {"rows": results, "figures": ["probe_errors.png"],
            "config": (f"Multinomial logistic regression on standardized frozen features, full-batch "
                       f"L-BFGS ({c['probe_iterations']} iterations), L2 weight from {c['probe_l2']} "
                       f"chosen on the validation split, test error reported. One-layer models: "
                       f"{c['hidden']} units; dA/AE {c['ae_epochs']} epochs (SGD 0.1, batch {c['ae_batch'] or 20}), cA "
                       f"{c['ca_epochs']} (0.01, batch {c['ae_batch'] or 10}), sA {c['sa_epochs']} (0.5, batch 100, squared "
                       f"error, rho 0.1, beta 3, lambda 3e-3). Raw pixels and PCA are deterministic "
                       f"(one run).")}


def render_probe(s):
    rows = [[row, r["features"], mean_sd(r["test_error"], 100), mean_sd(r["valid_error"], 100),
             ", ".join(f"{v:g}" for v in r["l2"]), f"`{r['command']}`", minutes(r["seconds"])]
            for row, r in s["rows"].items()]
    return table(["features", "dim", "test error %", "valid error %", "L2 chosen", "command", "wall time"], rows)


# -- 2. deep networks -----------------------------------------------------------------------------------
def section_deep(runs, c, out):
    from dae import io

    base = ["--hidden-layers", *map(str, c["deep_hidden"]), *DEEP_FLAGS, "--batch-size", str(c["deep_batch"]),
            "--pretraining-epochs", str(c["pretraining_epochs"]), "--training-epochs", str(c["training_epochs"])]
    variants = {"stacked dA (SdA)": (["--layer-type", "dA"], None),
                "stacked cA": (["--layer-type", "cA", "--corruption-levels", "0.1", "0.1", "0.1"], None),
                "stacked sA": (["--layer-type", "sA"], None),
                "no pretraining": (["--layer-type", "dA", "--pretraining-epochs", "0"], None)}
    results = {}
    for row, (flags, override) in variants.items():
        entry = results[row] = {"test_error": [], "valid_error": [], "epoch": [], "seconds": 0.0}
        for seed in c["seeds"]:
            name = f"deep-{row.split()[-1].strip('()').lower()}-s{seed}"
            if row == "no pretraining":
                name = f"deep-none-s{seed}"
            run = runs.experiment(name, "SdA", [*base, *flags, "--seed", str(seed)], override)
            best = io.read(runs.folder(name) / "best_model.npz").info["training"]["best"]
            entry["test_error"].append(best["test_error"])
            entry["valid_error"].append(best["valid_error"])
            entry["epoch"].append(best["epoch"])
            entry["seconds"] += run["seconds"]
            entry["command"] = run["command"].replace(f"--seed {seed}", f"--seed {seeds_flag(c['seeds'])}")
            runs.log(f"[deep] {row}, seed {seed}: test {best['test_error']:.2%} at its best validation")

    fig = figure((7, 3.5))
    ax = fig.subplots()
    rows = list(results)
    means = [100 * np.mean(results[r]["test_error"]) for r in rows]
    sds = [100 * np.std(results[r]["test_error"], ddof=1) if len(c["seeds"]) > 1 else 0 for r in rows]
    ax.bar(range(len(rows)), means, yerr=sds, capsize=4, color="C0")
    for value, label, color in ((1.30, "SdA tutorial 1.30%", "C1"), (1.14, "CAE (Rifai 2011) 1.14%", "C2")):
        ax.axhline(value, color=color, linestyle="--", label=label)
    ax.set_xticks(range(len(rows)), rows)
    ax.set_ylabel("test error (%) at the best validation epoch")
    ax.set_title(f"{'-'.join(map(str, [784] + c['deep_hidden'] + [10]))}, seeds {seeds_flag(c['seeds'])}")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(out / "deep_errors.png")
    return {"rows": results, "figures": ["deep_errors.png"], "anchors": ANCHORS_DEEP,
            "config": (f"{'-'.join(map(str, [784] + c['deep_hidden'] + [10]))}; pretraining "
                       f"{c['pretraining_epochs']} epochs a layer, batch 50 at 0.25 (dA corruption "
                       f"0.1/0.2/0.3; cA contraction 0.1 each layer; sA rho 0.1, beta 3, lambda 3e-3, squared "
                       f"error); fine-tuning batch {c['deep_batch']} at 0.1 with momentum 0.9, at most "
                       f"{c['training_epochs']} epochs, the tutorial's early stopping; the model of the "
                       f"best validation error is kept and its test error reported. 'No pretraining' runs "
                       f"with --pretraining-epochs 0.")}


def render_deep(s):
    rows = [[row, mean_sd(r["test_error"], 100), mean_sd(r["valid_error"], 100),
             ", ".join(map(str, r["epoch"])), f"`{r['command']}`", minutes(r["seconds"])]
            for row, r in s["rows"].items()]
    return table(["pretraining", "test error %", "valid error %", "best epoch(s)", "command", "wall time"],
                 rows) + f"\n\nAnchors: {s['anchors']}."


# -- 3. the contractive autoencoder's analysis ------------------------------------------------------------
def section_cae(runs, c, out):
    from dae import io
    from dae.evaluate import contraction_curve, jacobian_norms, jacobian_spectrum

    test_x = load(runs.data_dir)[2][0]
    points, few = test_x[:c["cae_points"]], test_x[:c["spectrum_points"]]
    radii = np.geomspace(0.1, 20, 10)
    wanted = ["autoencoder (no noise)", "dA, masking 25%", "cA, contraction 0.1"]
    results = {row: {"norm": [], "spectrum": [], "curve": [], "seconds": 0.0} for row in wanted}
    for seed in c["seeds"]:
        models = one_layer_runs(runs, c, seed)
        for row in wanted:
            path, run = models[row]
            model, started = io.load(path), time.time()
            entry = results[row]
            entry["norm"].append(float(jacobian_norms(model, points, mode=runs.mode).mean()))
            entry["spectrum"].append(jacobian_spectrum(model, few, mode=runs.mode).tolist())
            entry["curve"].append(contraction_curve(model, points, radii, seed=0, mode=runs.mode).tolist())
            entry["seconds"] += run["seconds"] + time.time() - started
            entry["command"] = run["command"].replace(f"--seed {seed}", f"--seed {seeds_flag(c['seeds'])}")
    spectra = {row: np.mean(r["spectrum"], axis=0) for row, r in results.items()}
    line_plot(out / "cae_spectrum.png", {row: (np.arange(1, len(v) + 1), v) for row, v in spectra.items()},
              "singular value index", "mean singular value of J_f(x)",
              f"Jacobian spectrum, mean over {len(few)} test points", ylog=True)
    line_plot(out / "cae_contraction.png",
              {row: (radii, np.mean(r["curve"], axis=0)) for row, r in results.items()},
              "distance ||x - x'|| (isotropic, from test points)", "mean ||f(x) - f(x')|| / ||x - x'||",
              f"Contraction ratio, {len(points)} test points", xlog=True, marker="o")
    return {"rows": results, "radii": radii.tolist(), "figures": ["cae_spectrum.png", "cae_contraction.png"],
            "config": (f"The section-1 models (same runs). Mean ||J_f(x)||_F over {len(points)} test "
                       f"points; spectrum over {len(few)}; contraction ratio at x' = x + r u, u uniform "
                       f"on the unit sphere, one direction per point and radius.")}


def render_cae(s):
    rows = []
    for row, r in s["rows"].items():
        spectrum = np.mean(r["spectrum"], axis=0)
        above = int(np.sum(spectrum > 0.01 * spectrum[0]))
        rows.append([row, mean_sd(r["norm"]), f"{spectrum[0]:.3g}", above,
                     f"{np.mean(r['curve'], axis=0)[0]:.3g}", f"`{r['command']}`", minutes(r["seconds"])])
    return table(["model", "mean ‖J_f(x)‖_F", "largest singular value", "singular values > 1% of it",
                  f"ratio at r = {s['radii'][0]:g}", "command", "wall time"], rows)


# -- 4. PCA -------------------------------------------------------------------------------------------
def section_pca(runs, c, out):
    import scipy.linalg

    from dae.linear import LinearAutoencoder
    from dae.optimize import lbfgs

    (train_x, _), _, (test_x, _) = load(runs.data_dir)
    mean = train_x.mean(axis=0, dtype=np.float64)
    basis = np.linalg.svd(train_x - mean, full_matrices=False)[2]
    results, angles = {}, {}
    for k in (10, 50):
        started = time.time()
        # float64: near the optimum the line search compares costs that differ in the 8th digit
        model = LinearAutoencoder(np.random.RandomState(c["seeds"][0]), n_hidden=k, dtype="float64")
        result = lbfgs(model, model.get_cost()[0], train_x, max_iter=c["pca_iterations"], mode=runs.mode)
        if result.interrupted:  # an under-trained fit is never recorded as the section's result
            raise KeyboardInterrupt
        W, b, c_prime = (p.get_value().astype(np.float64) for p in model.params)
        theta = np.degrees(scipy.linalg.subspace_angles(W, basis[:k].T))
        angles[k] = np.sort(theta)[::-1].tolist()
        centred = test_x - mean
        pca_error = np.mean(np.sum((centred - centred @ basis[:k].T @ basis[:k]) ** 2, axis=1)) / 2
        ae_error = np.mean(np.sum((test_x - ((test_x @ W + b) @ W.T + c_prime)) ** 2, axis=1)) / 2
        results[k] = {"largest_angle": float(theta.max()), "ae_error": float(ae_error),
                      "pca_error": float(pca_error), "iterations": result.iterations,
                      "message": result.message, "seconds": time.time() - started}
        runs.log(f"[pca] k={k}: largest principal angle {theta.max():.3f} degrees")
    line_plot(out / "pca_angles.png",
              {f"k = {k}": (np.arange(1, k + 1), np.maximum(theta, 1e-6)) for k, theta in angles.items()},
              "principal angle index (largest first)", "angle (degrees)",
              "Linear autoencoder vs PCA: principal angles", ylog=True, marker=".")
    return {"rows": {str(k): v for k, v in results.items()}, "figures": ["pca_angles.png"],
            "config": (f"Tied linear autoencoder, squared error, trained by full-batch L-BFGS "
                       f"(dae.optimize.lbfgs, at most {c['pca_iterations']} iterations, float64 "
                       f"parameters) on the training split; PCA from the training split's SVD. "
                       f"Errors: mean over the test split of ||x - x^||^2 / 2.")}


def render_pca(s):
    rows = [[k, f"{r['largest_angle']:.3f}°", f"{r['ae_error']:.4f}", f"{r['pca_error']:.4f}",
             f"{r['iterations']} ({r['message'][:40]})", "`python benchmarks/reproduce.py --only pca`",
             minutes(r["seconds"])] for k, r in s["rows"].items()]
    return table(["k", "largest principal angle", "test error, linear AE", "test error, PCA",
                  "L-BFGS iterations", "command", "wall time"], rows)


# -- 5. beta-VAE and IWAE --------------------------------------------------------------------------------
def section_vae(runs, c, out):
    from dae import io

    variants = {f"VAE, beta {beta:g}": {"beta": beta} for beta in (0.5, 1.0, 2.0, 4.0)}
    variants.update({f"IWAE, k = {k}": {"iwae": k} for k in c["iwae_k"]})
    results = {}
    for row, options in variants.items():
        entry = results[row] = {"test_elbo": [], "test_nll": [], "seconds": 0.0}
        for seed in c["seeds"]:
            folder, run = vae_run(runs, c, seed, **options)
            numbers = json.loads((folder / "results.json").read_text())
            entry["test_elbo"].append(numbers["test_elbo"])
            entry["test_nll"].append(numbers["test_nll"])
            entry["seconds"] += run["seconds"]
            entry["command"] = run["command"].replace(f"--seed {seed}", f"--seed {seeds_flag(c['seeds'])}")
    figures = []
    for beta in (1.0, 4.0):
        folder, _ = vae_run(runs, c, c["seeds"][0], beta=beta)
        name = f"vae_traversal_beta{beta:g}.png"
        latent_traversal(io.load(folder / "vae.npz"), load(runs.data_dir)[2][0][:1], out / name,
                         f"beta = {beta:g}", runs.mode)
        figures.append(name)
    return {"rows": results, "figures": figures, "anchors": ANCHORS_VAE,
            "config": (f"{'-'.join(map(str, [784] + c['vae_hidden'] + [c['vae_latent']]))} VAE, ReLU, "
                       f"Adam {c['vae_flags'][1] if c['vae_flags'] else '1e-3'} x 0.98 per epoch, batch 100, {c['vae_epochs']} epochs, dynamic "
                       f"binarization; test set binarized once (seed 0); ELBO with one z per image; NLL "
                       f"= -L_k with k = {c['nll_k']}. beta != 1 makes the training cost no bound; the "
                       f"ELBO and NLL are reported with beta = 1.")}


def latent_traversal(model, x, path, title, mode, dims=10, steps=9):
    """Each of the ``dims`` most used latent dimensions (largest KL at x) swept over
    -3..3 with the others at the posterior mean of x: one row per dimension."""
    import pytensor
    import pytensor.tensor as pt

    from dae.evaluate import encode

    xs = pt.matrix("x", dtype=model.dtype)
    mu_v, log_var_v = model.get_encoder(xs)
    mu, log_var = pytensor.function([xs], [mu_v, log_var_v], mode=get_mode(mode))(x)
    kl = (mu ** 2 + np.exp(log_var) - log_var - 1)[0] / 2
    order = np.argsort(kl)[::-1][:min(dims, model.n_latent)]
    values = np.linspace(-3, 3, steps)
    z = np.repeat(encode(model, x, mode=mode), len(order) * steps, axis=0).reshape(len(order), steps, -1)
    for row, j in enumerate(order):
        z[row, :, j] = values
    zs = pt.matrix("z", dtype=model.dtype)
    decode = pytensor.function([zs], model.get_reconstructed_input(zs), mode=get_mode(mode))
    images = decode(z.reshape(-1, model.n_latent).astype(model.dtype)).reshape(len(order), steps, 28, 28)
    fig = figure((steps * 0.8 + 1, len(order) * 0.8 + 0.6))
    grid = fig.subplots(len(order), steps, squeeze=False)
    for row, j in enumerate(order):
        for col in range(steps):
            ax = grid[row, col]
            ax.imshow(images[row, col], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(f"z{j}\nKL {kl[j]:.1f}", fontsize=7)
            if row == len(order) - 1:
                ax.set_xlabel(f"{values[col]:+.1f}", fontsize=7)
    fig.suptitle(f"Latent traversal, {title}: the {len(order)} dimensions of largest KL")
    fig.savefig(path)


def render_vae(s):
    rows = [[row, mean_sd(r["test_elbo"]), mean_sd(r["test_nll"]), f"`{r['command']}`",
             minutes(r["seconds"])] for row, r in s["rows"].items()]
    return table(["model", "test ELBO (nats)", "test NLL (nats)", "command", "wall time"], rows) \
        + f"\n\nAnchors: {s['anchors']}."


# -- 6. the sparse autoencoder, SGD and L-BFGS -----------------------------------------------------------
def section_sparse(runs, c, out):
    import pytensor
    import pytensor.tensor as pt

    from dae import io
    from dae.plots import filters_image

    train_x = load(runs.data_dir)[0][0]
    units = [] if c["sparse_hidden"] == 196 else ["--n-hidden", str(c["sparse_hidden"])]
    variants = {"SGD (dae's default)": ["--epochs", str(c["sa_epochs"]), *units],
                "L-BFGS, full batch (UFLDL)": ["--optimizer", "lbfgs", "--epochs", str(c["lbfgs_epochs"]),
                                               "--lbfgs-iterations", str(c["lbfgs_iterations"]), *units]}
    results, images = {}, {}
    for row, flags in variants.items():
        entry = results[row] = {"cost": [], "mean_activation": [], "kl": [], "seconds": 0.0}
        for seed in c["seeds"]:
            name = f"sA-{flags[1] if flags[0] == '--optimizer' else 'sgd'}-s{seed}"
            run = runs.experiment(name, "sA", [*flags, "--seed", str(seed)])
            model = io.load(runs.folder(name) / "sA.npz")
            cost, hidden = model.get_cost()
            f = pytensor.function([model.x], [cost, pt.mean(hidden), model.kl_divergence(hidden)],
                                  mode=get_mode(runs.mode))
            values = [float(v) for v in f(train_x)]
            for key, value in zip(("cost", "mean_activation", "kl"), values):
                entry[key].append(value)
            entry["seconds"] += run["seconds"]
            entry["command"] = run["command"].replace(f"--seed {seed}", f"--seed {seeds_flag(c['seeds'])}")
            if seed == c["seeds"][0]:
                side = int(np.ceil(np.sqrt(c["sparse_hidden"])))
                images[row] = filters_image(model, image_shape=(28, 28), tile_shape=(side, side))
    fig = figure((10, 5.4))
    for ax, (row, image) in zip(fig.subplots(1, 2), images.items()):
        ax.imshow(image, cmap="gray")
        ax.set_title(f"{row}: cost {results[row]['cost'][0]:.2f}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.savefig(out / "sparse_filters.png")
    return {"rows": results, "figures": ["sparse_filters.png"],
            "config": (f"784-{c['sparse_hidden']} sA, rho 0.1, beta 3, lambda 3e-3, squared error, tied weights; costs, "
                       "mean activations and KL evaluated on the whole training split (the KL on its "
                       "mean activation), the cost L-BFGS minimizes. SGD: rate 0.5, batch 100.")}


def render_sparse(s):
    rows = [[row, mean_sd(r["cost"], digits=3), mean_sd(r["mean_activation"], digits=4),
             mean_sd(r["kl"], digits=3), f"`{r['command']}`", minutes(r["seconds"])]
            for row, r in s["rows"].items()]
    return table(["optimizer", "full-batch cost", "mean activation (target 0.1)", "KL term", "command",
                  "wall time"], rows)


# -- 7. the README's table -----------------------------------------------------------------------------
def section_readme(runs, c, out):
    done = {name: json.loads(p.read_text()) for name in SECTIONS[:-1]
            if (p := out / "sections" / f"{name}.json").exists()}
    rows = []
    if "probe" in done:
        r = done["probe"]["rows"]
        best = min(r, key=lambda row: np.mean(r[row]["test_error"]))
        rows.append(["linear probe, best features", f"`{r[best]['command']}`",
                     f"{best}: {mean_sd(r[best]['test_error'], 100, unit='%')} test error"])
    if "deep" in done:
        for row, v in done["deep"]["rows"].items():
            rows.append([f"784-...-10, {row}", f"`{v['command']}`", f"test {mean_sd(v['test_error'], 100, unit='%')}"])
    if "cae" in done:
        for row, v in done["cae"]["rows"].items():
            rows.append([f"mean ‖J_f‖_F, {row}", f"`{v['command']}`", mean_sd(v["norm"])])
    if "pca" in done:
        for k, v in done["pca"]["rows"].items():
            rows.append([f"linear AE vs PCA, k = {k}", "`python benchmarks/reproduce.py --only pca`",
                         f"largest principal angle {v['largest_angle']:.3f}°"])
    if "vae" in done:
        for row, v in done["vae"]["rows"].items():
            rows.append([row, f"`{v['command']}`", f"test NLL {mean_sd(v['test_nll'], unit=' nats')}"])
    if "sparse" in done:
        for row, v in done["sparse"]["rows"].items():
            rows.append([f"sA, {row}", f"`{v['command']}`", f"cost {mean_sd(v['cost'], digits=3)}"])
    text = table(["experiment", "command", "result"], rows) + "\n"
    (out / "readme_results.md").write_text(text)
    return {"rows": rows, "figures": [], "config": "Regenerated from the other sections' JSON; written "
            "to readme_results.md for the README."}


def render_readme(s):
    if not s["rows"]:
        return "No section had finished."
    return "Written to `readme_results.md`:\n\n" + table(["experiment", "command", "result"], s["rows"])


RUN = {"probe": section_probe, "deep": section_deep, "cae": section_cae, "pca": section_pca,
       "vae": section_vae, "sparse": section_sparse, "readme": section_readme}
RENDER = {"probe": render_probe, "deep": render_deep, "cae": render_cae, "pca": render_pca,
          "vae": render_vae, "sparse": render_sparse, "readme": render_readme}


# -- units (issue 20): one trained model and all its evaluations, committed as it finishes ----------
# A unit writes units/<name>.json (its numbers, commands, wall times, config, mode and dae commit)
# and its figures under figures/<name>/; report.md's unit tables are rendered from those files
# alone, so the committed report needs no weights. runs/ (checkpoints, models) stays uncommitted.
def dae_commit():
    import subprocess

    def git(*words):
        return subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + ("+uncommitted" if git("status", "--porcelain", "dae") else "")


def write_text(path, text):
    """``text`` at ``path``, whole or not at all (dae's atomic_write)."""
    from dae.utils import atomic_write

    with atomic_write(path, "w") as f:
        f.write(text)


def last_metrics(folder):
    """Each stage's last line of a run's metrics.jsonl: {stage: record}."""
    lines = (folder / "metrics.jsonl").read_text().splitlines() if (folder / "metrics.jsonl").exists() else []
    last = {}
    for line in lines:
        record = json.loads(line)
        last[record.get("stage", "train")] = record
    return last


def keep_figures(runs, run_name, unit, out):
    """The run's PNGs copied to figures/<unit>/ (the first seed's only: a few MB in all)."""
    import shutil

    if not run_name.endswith("-s1"):
        return []
    kept = []
    for png in sorted(runs.folder(run_name).glob("*.png")):
        target = out / "figures" / unit / png.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, target)
        kept.append(str(target.relative_to(out)))
    return kept


def probe_models(runs, c, run_name, seed):
    """{row: (model path, run record)} of the section-1 models one run trains."""
    if run_name.startswith("SdA-pretrained"):
        return {"SdA top layer, pretrained only": pretrained_sda(runs, c, seed)}
    if run_name.startswith("vae"):
        folder, run = vae_run(runs, c, seed)
        return {"VAE posterior mean": (folder / "vae.npz", run)}
    models = one_layer_runs(runs, c, seed)
    return {row: m for row, m in models.items() if m[0].parent.name == run_name}


def probe_row(runs, c, unit, row, features, labels, started):
    """One row of a probe unit: the linear probe of ``features`` (train, valid, test)."""
    from dae.evaluate import linear_probe

    result = linear_probe(*zip(features, labels), l2=c["probe_l2"], max_iter=c["probe_iterations"],
                          mode=runs.mode)
    runs.log(f"[{unit}] {row}: test error {result['test_error']:.2%}")
    return {"test_error": result["test_error"], "valid_error": result["valid_error"], "l2": result["l2"],
            "features": int(features[0].shape[1]), "probe_seconds": time.time() - started}


def probe_unit(runs, c, out, run_name, seed):
    """Unit probe-<run>: train the run (or reuse it), then a linear probe of each of its models."""
    from dae import io
    from dae.evaluate import encode

    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = load(runs.data_dir)
    rows, models = {}, probe_models(runs, c, run_name, seed)
    for row, (path, run) in models.items():
        started = time.time()
        model = io.load(path)
        features = [encode(model, x, mode=runs.mode) for x in (train_x, valid_x, test_x)]
        rows[row] = probe_row(runs, c, f"probe-{run_name}", row, features, (train_y, valid_y, test_y), started)
    run = next(iter(models.values()))[1]
    return {"section": "probe", "seed": seed, "rows": rows, "train_command": run["command"],
            "train_seconds": run["seconds"], "metrics": last_metrics(runs.folder(run_name)),
            "figures": keep_figures(runs, run_name, f"probe-{run_name}", out)}


def probe_baselines(runs, c, out):
    """Unit probe-baselines: raw pixels and PCA (deterministic: one run each)."""
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = load(runs.data_dir)
    mean = train_x.mean(axis=0)
    basis = np.linalg.svd(train_x - mean, full_matrices=False)[2]
    inputs = {"raw pixels": (train_x, valid_x, test_x)}
    for k in sorted({c["hidden"], c["vae_latent"]}, reverse=True):
        inputs[f"PCA, {k} components"] = [((x - mean) @ basis[:k].T).astype(np.float32)
                                          for x in (train_x, valid_x, test_x)]
    rows = {}
    for row, features in inputs.items():
        rows[row] = probe_row(runs, c, "probe-baselines", row, features, (train_y, valid_y, test_y), time.time())
    return {"section": "probe", "seed": None, "rows": rows, "train_command": None, "train_seconds": 0.0,
            "metrics": {}, "figures": []}


def vae_unit(runs, c, out, seed, beta=1.0, iwae=None):
    """Unit vae[-betaB|-iwaeK]-s<seed>: train (or reuse) one VAE; its test ELBO and NLL (the
    experiment's own results.json, its per-epoch history kept for section 5's same-epoch
    comparisons) and, for beta 1 and 4, a latent traversal."""
    from dae import io

    folder, run = vae_run(runs, c, seed, beta=beta, iwae=iwae)
    numbers = json.loads((folder / "results.json").read_text())
    name = folder.name
    figures = keep_figures(runs, name, name, out)
    if iwae is None and beta in (1.0, 4.0) and seed == c["seeds"][0]:
        path = out / "figures" / name / "latent_traversal.png"
        latent_traversal(io.load(folder / "vae.npz"), load(runs.data_dir)[2][0][:1], path,
                         f"beta = {beta:g}", runs.mode)
        figures.append(str(path.relative_to(out)))
    row = f"IWAE, k = {iwae}" if iwae else f"VAE, beta {beta:g}"
    return {"section": "vae", "seed": seed, "rows": {row: numbers}, "train_command": run["command"],
            "train_seconds": run["seconds"], "metrics": last_metrics(folder), "figures": figures}


ONE_LAYER = ["dA", "dA-gaussian", "dA-salt_and_pepper", "cA", "sA"]


def unit_list(c):
    """Every unit, cheapest first: {name: function(runs, c, out) -> record}."""
    units = {"probe-baselines": probe_baselines}
    for seed in c["seeds"]:
        for run in ONE_LAYER:
            units[f"probe-{run}-s{seed}"] = (lambda runs, c, out, run=f"{run}-s{seed}", seed=seed:
                                             probe_unit(runs, c, out, run, seed))
    for run in ["vae", "SdA-pretrained"]:
        for seed in c["seeds"]:
            units[f"probe-{run}-s{seed}"] = (lambda runs, c, out, run=f"{run}-s{seed}", seed=seed:
                                             probe_unit(runs, c, out, run, seed))
    for seed in c["seeds"]:
        units[f"vae-s{seed}"] = lambda runs, c, out, seed=seed: vae_unit(runs, c, out, seed)
    for beta in (0.5, 2.0, 4.0):
        units[f"vae-beta{beta:g}-s1"] = lambda runs, c, out, beta=beta: vae_unit(runs, c, out, 1, beta=beta)
    for k in c["iwae_k"]:
        units[f"vae-iwae{k}-s1"] = lambda runs, c, out, k=k: vae_unit(runs, c, out, 1, iwae=k)
    return units


def run_units(runs, c, out, names, redo, command):
    """Runs each named unit whose results file is missing (or is in ``redo``); 130 if interrupted."""
    units = unit_list(c)
    for name in names:
        path = out / "units" / f"{name}.json"
        if path.exists() and name not in redo:
            runs.log(f"[{name}] done already: {path}")
            continue
        started = time.time()
        runs.log(f"[{name}] unit started")
        try:
            record = units[name](runs, c, out)
            interrupt.check()  # a Ctrl-C the unit's code swallowed: its record is not kept
        except KeyboardInterrupt:
            runs.log(f"[{name}] interrupted: no results written; run the same command again to resume")
            return 130
        record.update(unit=name, command=f"{command} --units {name}", seconds=time.time() - started,
                      mode=runs.mode, commit=dae_commit(),
                      config={k: v for k, v in c.items() if k != "vae_flags"})
        write_text(path, json.dumps(record, indent=1, default=float))
        write_unit_report(out)
        runs.log(f"[{name}] unit done in {minutes(record['seconds'])}: {path}")
    write_unit_report(out)
    return 0


def write_unit_report(out):
    """units.md: the unit tables, from the committed units/*.json alone."""
    records = [json.loads(p.read_text()) for p in sorted((out / "units").glob("*.json"))]
    if not records:
        return
    c, probe, vae = records[0]["config"], {}, {}
    for r in records:
        if r["section"] == "vae":
            for row, v in r["rows"].items():
                e = vae.setdefault(row, {"elbo": [], "nll": [], "seconds": 0.0, "seeds": [], "commands": set(),
                                         "method": v.get("test_nll_method", "")})
                e["elbo"].append(v["test_elbo"])
                e["nll"].append(v["test_nll"])
                e["seeds"].append(r["seed"])
                e["seconds"] += r["train_seconds"] + r["seconds"]  # the run (training, NLL) and the unit
                e["commands"].add(r["train_command"].rsplit("--seed", 1)[0] + "--seed {seed}")
            continue
        for row, v in r["rows"].items():
            e = probe.setdefault(row, {"test": [], "valid": [], "l2": [], "seconds": 0.0, "features": v["features"],
                                       "commands": set(), "seeds": []})
            e["test"].append(v["test_error"])
            e["valid"].append(v["valid_error"])
            e["l2"].append(v["l2"])
            e["seeds"].append(r["seed"])
            e["seconds"] += v["probe_seconds"] + r["train_seconds"] / len(r["rows"])
            e["commands"].add(r["command"].rsplit("-s", 1)[0] + ("-s{seed}" if r["seed"] else ""))
    rows = [[row, e["features"], mean_sd(e["test"], 100), mean_sd(e["valid"], 100),
             ", ".join(f"{v:g}" for v in e["l2"]), ", ".join(str(s) for s in e["seeds"] if s) or "-",
             "; ".join(f"`{cmd}`" for cmd in sorted(e["commands"])), minutes(e["seconds"])]
            for row, e in probe.items()]
    text = ["# The report's units (issue 20)\n",
            "Rendered from `units/*.json` alone by `python benchmarks/reproduce.py --units`; each unit "
            "is one trained model with all its evaluations. Wall time: the row's share of its run's "
            "training plus its probe, summed over seeds.\n",
            f"## {TITLES['probe']}\n",
            f"Multinomial logistic regression on standardized frozen features, full-batch L-BFGS "
            f"({c['probe_iterations']} iterations), the L2 weight from {c['probe_l2']} chosen on the "
            f"validation split, test error reported. One-layer models: {c['hidden']} units; dA/AE "
            f"{c['ae_epochs']} epochs (SGD 0.1, batch {c['ae_batch'] or 20}), cA {c['ca_epochs']} (0.01, "
            f"batch {c['ae_batch'] or 10}, contraction 0.1), sA {c['sa_epochs']} (0.5, batch 100, squared "
            f"error, rho 0.1, beta 3, lambda 3e-3); mean ± sample sd over the seeds listed.\n",
            table(["features", "dim", "test error %", "valid error %", "L2 chosen", "seeds", "command",
                   "wall time"], rows), ""]
    text += [f"![{f}]({f})" for r in records for f in r["figures"] if "filters" in f]
    if vae:
        text += ["", f"## {TITLES['vae']}\n",
                 "784-512-512-50 VAE, ReLU, Adam 1e-3 x 0.98 per epoch, batch 100, dynamic binarization; "
                 "test set binarized once (seed 0); ELBO with one z per image; NLL = -L_k (the IWAE bound) "
                 "with the k given. beta != 1 makes the training cost no bound: ELBO and NLL are reported "
                 "with beta = 1. Wall time: training and evaluation, summed over seeds.\n",
                 table(["model", "test ELBO (nats)", "test NLL (nats)", "NLL method", "seeds", "command",
                        "wall time"],
                       [[row, mean_sd(e["elbo"]), mean_sd(e["nll"]), e["method"], ", ".join(map(str, e["seeds"])),
                         "; ".join(f"`{cmd}`" for cmd in sorted(e["commands"])), minutes(e["seconds"])]
                        for row, e in vae.items()]),
                 "", f"Anchors: {ANCHORS_VAE}.", ""]
        text += [f"![{f}]({f})" for r in records if r["section"] == "vae" for f in r["figures"]]
    write_text(out / "units.md", "\n".join(text) + "\n")


# -- the report ---------------------------------------------------------------------------------------
def write_report(out, header):
    parts = [f"# dae: the literature's tables, reproduced\n\n{header}\n"]
    for name in SECTIONS:
        path = out / "sections" / f"{name}.json"
        parts.append(f"## {TITLES[name]}\n")
        if not path.exists():
            parts.append("Not run yet.\n")
            continue
        s = json.loads(path.read_text())
        parts.append(f"{s['config']}\n\n{RENDER[name](s)}\n\nSection wall time: {minutes(s['seconds'])}.\n")
        parts += [f"![{f}]({f})\n" for f in s["figures"]]
    (out / "report.md").write_text("\n".join(parts))


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="the same pipeline in miniature: 500/200/200 examples, one or two epochs, "
                        "one seed, small models, the py compile mode (minutes)")
    p.add_argument("--only", nargs="+", metavar="SECTION", default=None,
                   help=f"(re)run these sections, by name or number: {', '.join(SECTIONS)} (1-7)")
    p.add_argument("--output-dir", "--out", dest="out", type=Path, default=None,
                   help="report folder (default benchmarks/report, or benchmarks/report-quick with --quick)")
    p.add_argument("--data-dir", type=Path, default=None, help="MNIST's folder (default: $DAE_DATA_DIR, then data/)")
    p.add_argument("--mode", default=None, help="compile mode (default: numba, or py with --quick)")
    p.add_argument("--units", nargs="*", metavar="UNIT", default=None,
                   help="run these units (default: every unit not done yet, cheapest first) and render "
                        "units.md from units/*.json")
    p.add_argument("--redo", nargs="+", metavar="UNIT", default=[], help="rerun these units although done")
    args = p.parse_args(argv)
    if args.only:
        chosen = []
        for word in args.only:
            name = SECTIONS[int(word) - 1] if word.isdigit() and 1 <= int(word) <= 7 else word
            if name not in SECTIONS:
                p.error(f"unknown section {word!r}: expected one of {', '.join(SECTIONS)} or 1-7")
            chosen.append(name)
        args.only = chosen
    return args


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    config = QUICK if args.quick else FULL
    out = (args.out or ROOT / "benchmarks" / ("report-quick" if args.quick else "report")).resolve()
    mode = args.mode or ("py" if args.quick else "numba")
    (out / "sections").mkdir(parents=True, exist_ok=True)
    log_file = open(out / "reproduce.log", "a")

    def log(text):
        line = f"{time.strftime('%H:%M:%S')} {text}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    interrupt.install(replace=True)  # Ctrl-C stops a run at its next step; its units resume
    data_dir = args.data_dir
    if config["examples"]:
        data_dir = write_subset(args.data_dir, out / "data", config["examples"])
    runs = Runs(out, config, mode, data_dir, log)
    header = (f"Generated by `python benchmarks/reproduce.py{' --quick' if args.quick else ''}` "
              f"({'miniature: ' + '/'.join(map(str, config['examples'])) + ' train/valid/test examples, ' if args.quick else ''}"
              f"seeds {config['seeds']}, compile mode {mode}). Each table row gives the command that "
              f"reproduces it and its wall time (training and evaluation). Runs: `runs/`; log: "
              f"`reproduce.log`.")
    log(f"report in {out} ({'quick' if args.quick else 'full'}, mode {mode})")
    if args.units is not None:
        unknown = [u for u in args.units + args.redo if u not in unit_list(config)]
        if unknown:
            log(f"unknown unit {unknown[0]!r}: expected one of {', '.join(unit_list(config))}")
            return 2
        command = "python benchmarks/reproduce.py" + (" --quick" if args.quick else "")
        return run_units(runs, config, out, args.units or list(unit_list(config)), set(args.redo), command)
    for name in SECTIONS:
        path = out / "sections" / f"{name}.json"
        if args.only is not None and name not in args.only:
            continue
        if path.exists() and args.only is None:
            log(f"[{name}] done already: {path}")
            continue
        started = time.time()
        log(f"[{name}] {TITLES[name]}")
        try:
            result = RUN[name](runs, config, out)
            interrupt.check()  # a Ctrl-C the section's code swallowed: its result is not kept
        except KeyboardInterrupt as exc:
            log(f"[{name}] interrupted ({exc}); run the same command again to resume")
            write_report(out, header)
            return 130
        result["seconds"] = time.time() - started
        path.write_text(json.dumps(result, indent=1, default=float))
        write_report(out, header)
        log(f"[{name}] done in {minutes(result['seconds'])}")
    write_report(out, header)
    log(f"wrote {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Section 1: a linear probe of every model's features.

Each model's code for the train, validation and test images (the hidden layer, the SdA's top
layer, the VAE's posterior mean) feeds a multinomial logistic regression
(:func:`dae.evaluate.linear_probe`, full-batch L-BFGS, its L2 weight chosen on the validation
split); the test error at that weight is reported. Raw pixels and PCA are the baselines.
"""
import time

import numpy as np

from dae.report.common import COMMAND, bar_chart, keep_figures, last_metrics, load, mean_sd, \
    minutes, over_seeds, seeds_flag, table

TITLE = "1. Linear probe of every model's features"
# Denoising with other noise, in the ranges Vincent et al. (2010) searched.
GAUSSIAN_SD, SALT_PEPPER = 0.3, 0.25
#: The runs of one-layer models (each a unit per seed).
ONE_LAYER = ["dA", "dA-gaussian", "dA-salt_and_pepper", "cA", "sA"]


def one_layer_runs(runs, c, seed):
    """The one-layer autoencoders of sections 1 and 3, trained for ``seed``: {row: (model path, run)}."""
    common = ["--n-hidden", str(c["hidden"]), "--seed", str(seed)]
    if c["ae_batch"]:
        common += ["--batch-size", str(c["ae_batch"])]
    epochs = ["--epochs", str(c["ae_epochs"])]
    da = runs.experiment(f"dA-s{seed}", "dA", ["--corruption", "0", "0.1", "0.25", "0.5", *epochs, *common])
    folder = runs.folder(f"dA-s{seed}")
    models = {"autoencoder (no noise)": (folder / "dA_corruption_0.npz", da),
              "dA, masking 10%": (folder / "dA_corruption_10.npz", da),
              "dA, masking 25%": (folder / "dA_corruption_25.npz", da),
              "dA, masking 50%": (folder / "dA_corruption_50.npz", da)}
    for kind, level, row in (("gaussian", GAUSSIAN_SD, f"dA, Gaussian sd {GAUSSIAN_SD}"),
                             ("salt_and_pepper", SALT_PEPPER, f"dA, salt-and-pepper {SALT_PEPPER:.0%}")):
        name = f"dA-{kind}-s{seed}"
        run = runs.experiment(name, "dA", ["--corruption", f"{level:g}", "--corruption-type", kind,
                                           *epochs, *common])
        models[row] = (runs.folder(name) / f"dA_corruption_{round(level * 100)}.npz", run)
    ca = runs.experiment(f"cA-s{seed}", "cA", ["--epochs", str(c["ca_epochs"]), *common])
    models["cA, contraction 0.1"] = (runs.folder(f"cA-s{seed}") / "cA.npz", ca)
    sa = runs.experiment(f"sA-s{seed}", "sA", ["--epochs", str(c["sa_epochs"]), *common])
    models["sA (UFLDL's penalties)"] = (runs.folder(f"sA-s{seed}") / "sA.npz", sa)
    return models


def pretrained_sda(runs, c, seed):
    """The SdA pretrained only (no fine-tuning), through the SdA experiment's own pretraining."""
    name = f"SdA-pretrained-s{seed}"

    def train(folder, resume):
        from dae.data import shared_dataset
        from dae.experiments.common import Report
        from dae.experiments.SdA import Config, pretrain
        from dae.SdA import SdA
        from dae.session import Session

        train_x = load(runs.data_dir)[0][0]
        config = Config(hidden_layers=c["deep_hidden"], corruption_levels=[0.1, 0.2, 0.3],
                        pretrain_batch_size=50, batch_size=10, pretrain_lr=0.25,
                        pretraining_epochs=c["pretraining_epochs"], seed=seed, mode=runs.mode,
                        output_dir=folder)
        with Session("reproduce-SdA-pretraining", config, command=COMMAND.split(), resume=resume,
                     report=lambda text: runs.log(f"[{folder.name}] {text}")) as session:
            session.bind_data(train_x)
            sda = SdA(np.random.RandomState(seed), n_ins=784, hidden_layers_sizes=c["deep_hidden"],
                      corruption_levels=[0.1, 0.2, 0.3])
            session.restore(sda)
            pretrain(session, sda, shared_dataset((train_x, np.zeros(len(train_x), "int32")))[0],
                     session.config, Report(line=runs.log))
            session.save_model(sda, "SdA.npz")
            session.finish()

    sizes = "-".join(map(str, [784] + c["deep_hidden"]))
    run = runs.library(name, train, f"{COMMAND} --only probe  # SdA {sizes}, dA pretraining only "
                       f"({c['pretraining_epochs']} epochs a layer, batch 50 at 0.25, corruption "
                       f"0.1/0.2/0.3), seed {seed}")
    return runs.folder(name) / "SdA.npz", run


def models_of(runs, c, seed):
    """Every model the section probes for ``seed``: {row: (model path, run record)}."""
    from dae.report.vae import vae_run

    models = one_layer_runs(runs, c, seed)
    models["SdA top layer, pretrained only"] = pretrained_sda(runs, c, seed)
    folder, run = vae_run(runs, c, seed)
    models["VAE posterior mean"] = (folder / "vae.npz", run)
    return models


def baselines(c, splits):
    """Raw pixels and PCA features (deterministic): {row: (train, valid, test)}."""
    (train_x, _), (valid_x, _), (test_x, _) = splits
    mean = train_x.mean(axis=0)
    basis = np.linalg.svd(train_x - mean, full_matrices=False)[2]
    inputs = {"raw pixels": (train_x, valid_x, test_x)}
    for k in sorted({c["hidden"], c["vae_latent"]}, reverse=True):
        inputs[f"PCA, {k} components"] = [((x - mean) @ basis[:k].T).astype(np.float32)
                                          for x in (train_x, valid_x, test_x)]
    return inputs


def probe(runs, c, unit, row, features, splits):
    """One row: the linear probe of ``features`` (train, valid, test)."""
    from dae.evaluate import linear_probe

    started = time.time()
    result = linear_probe(*zip(features, (y for _, y in splits)), l2=c["probe_l2"],
                          max_iter=c["probe_iterations"], mode=runs.mode)
    runs.log(f"[{unit}] {row}: test error {result['test_error']:.2%}")
    return {"test_error": result["test_error"], "valid_error": result["valid_error"], "l2": result["l2"],
            "features": int(features[0].shape[1]), "probe_seconds": time.time() - started}


def features_of(path, splits, mode):
    from dae import io
    from dae.evaluate import encode

    model = io.load(path)
    return [encode(model, x, mode=mode) for x, _ in splits]


def run(runs, c, out):
    splits = load(runs.data_dir)
    results = {}

    def add(row, features, command, train_seconds, seed):
        result = probe(runs, c, "probe", f"{row}, seed {seed}", features, splits)
        entry = results.setdefault(row, {"command": command, "seeds": [], "test_error": [],
                                         "valid_error": [], "l2": [], "seconds": 0.0,
                                         "features": result["features"]})
        entry["seeds"].append(seed)
        for key in ("test_error", "valid_error", "l2"):
            entry[key].append(result[key])
        entry["seconds"] += train_seconds + result["probe_seconds"]

    for row, features in baselines(c, splits).items():
        add(row, features, f"{COMMAND} --only probe", 0, 0)
    for seed in c["seeds"]:
        for row, (path, trained) in models_of(runs, c, seed).items():
            add(row, features_of(path, splits, runs.mode), over_seeds(trained["command"], seed, c["seeds"]),
                trained["seconds"], seed)
    rows = list(results)
    bar_chart(out / "probe_errors.png", rows, [100 * np.array(results[r]["test_error"]) for r in rows],
              "Linear probe on frozen features" + (f", mean ± sd over seeds {seeds_flag(c['seeds'])}"
                                                   if len(c["seeds"]) > 1 else f", seed {c['seeds'][0]}"),
              "test error of a linear probe (%)", horizontal=True)
    return {"rows": results, "figures": ["probe_errors.png"], "config": describe(c) + " Raw pixels "
            "and PCA are deterministic (one run)."}


def describe(c):
    return (f"Multinomial logistic regression on standardized frozen features, full-batch L-BFGS "
            f"({c['probe_iterations']} iterations), the L2 weight from {c['probe_l2']} chosen on the "
            f"validation split, test error reported. One-layer models: {c['hidden']} units; dA/AE "
            f"{c['ae_epochs']} epochs (SGD 0.1, batch {c['ae_batch'] or 20}), cA {c['ca_epochs']} (0.01, "
            f"batch {c['ae_batch'] or 10}, contraction 0.1), sA {c['sa_epochs']} (0.5, batch 100, squared "
            f"error, rho 0.1, beta 3, lambda 3e-3).")


def render(s):
    rows = [[row, r["features"], mean_sd(r["test_error"], 100), mean_sd(r["valid_error"], 100),
             ", ".join(f"{v:g}" for v in r["l2"]), f"`{r['command']}`", minutes(r["seconds"])]
            for row, r in s["rows"].items()]
    return table(["features", "dim", "test error %", "valid error %", "L2 chosen", "command", "wall time"], rows)


# -- units: one run (one seed's model or models) and its probes -----------------------------------
def run_models(runs, c, run_name, seed):
    """{row: (model path, run record)} of the models one run trains."""
    from dae.report.vae import vae_run

    if run_name.startswith("SdA-pretrained"):
        return {"SdA top layer, pretrained only": pretrained_sda(runs, c, seed)}
    if run_name.startswith("vae"):
        folder, trained = vae_run(runs, c, seed)
        return {"VAE posterior mean": (folder / "vae.npz", trained)}
    return {row: m for row, m in one_layer_runs(runs, c, seed).items() if m[0].parent.name == run_name}


def unit(runs, c, out, run_name, seed):
    """Unit probe-<run>: train the run (or reuse it), then a linear probe of each of its models."""
    splits = load(runs.data_dir)
    models = run_models(runs, c, run_name, seed)
    rows = {row: probe(runs, c, f"probe-{run_name}", row, features_of(path, splits, runs.mode), splits)
            for row, (path, _) in models.items()}
    trained = next(iter(models.values()))[1]
    return {"section": "probe", "seed": seed, "rows": rows, "train_command": trained["command"],
            "train_seconds": trained["seconds"], "metrics": last_metrics(runs.folder(run_name)),
            "figures": keep_figures(runs, run_name, f"probe-{run_name}", out)}


def baselines_unit(runs, c, out):
    """Unit probe-baselines: raw pixels and PCA (deterministic: one run each)."""
    splits = load(runs.data_dir)
    rows = {row: probe(runs, c, "probe-baselines", row, features, splits)
            for row, features in baselines(c, splits).items()}
    return {"section": "probe", "seed": None, "rows": rows, "train_command": None, "train_seconds": 0.0,
            "metrics": {}, "figures": []}


def units(c):
    """{unit name: function(runs, c, out) -> record}, cheapest first."""
    found = {"probe-baselines": baselines_unit}
    by_seed = [(seed, name) for seed in c["seeds"] for name in ONE_LAYER]
    by_run = [(seed, name) for name in ["vae", "SdA-pretrained"] for seed in c["seeds"]]
    for seed, name in by_seed + by_run:
        found[f"probe-{name}-s{seed}"] = (lambda runs, c, out, run=f"{name}-s{seed}", seed=seed:
                                          unit(runs, c, out, run, seed))
    return found

"""Section 5: the beta-VAE and the IWAE. Each trained by the vae experiment; its test ELBO (one
z per image) and NLL (-L_k, the IWAE bound with large k) from the experiment's results.json;
latent traversals for beta 1 and 4."""
import json

import numpy as np

from dae.config import get_mode
from dae.plots import figure, save_figure
from dae.report.common import keep_figures, last_metrics, load, mean_sd, minutes, over_seeds, table

TITLE = "5. beta-VAE and IWAE"
ANCHORS = "pythae: VAE 89.78, IWAE 86.82 nats; Burda et al. 2016 (one stochastic layer): " \
          "VAE 86.76, IWAE k = 50 84.78 (3,280 epochs); aim VAE <= 87.5, IWAE k = 50 <= 86"
BETAS = (0.5, 1.0, 2.0, 4.0)


def vae_run(runs, c, seed, beta=1.0, iwae=None):
    """Train (or reuse) one VAE: (its folder, its run record)."""
    # The protocol: NLL with k = nll_k for beta 1 and the IWAEs, the cheaper sweep_k for the beta sweep.
    k = c["nll_k"] if beta == 1 or iwae is not None else c["sweep_k"]
    # The IWAE k = 50 takes ~10x a VAE's epoch: the protocol gives it the epochs one unit holds.
    epochs = c.get("iwae_epochs", {}).get(str(iwae), c["vae_epochs"])
    flags = ["--hidden", *map(str, c["vae_hidden"]), "--latent", str(c["vae_latent"]),
             "--epochs", str(epochs), "--k", str(k), *c["vae_flags"], "--seed", str(seed)]
    name = f"vae-s{seed}"
    if iwae is not None:
        flags += ["--iwae", str(iwae)]
        name = f"vae-iwae{iwae}-s{seed}"
    elif beta != 1:
        flags += ["--beta", f"{beta:g}"]
        name = f"vae-beta{beta:g}-s{seed}"
    return runs.folder(name), runs.experiment(name, "vae", flags)


def run(runs, c, out):
    from dae import io

    variants = {f"VAE, beta {beta:g}": {"beta": beta} for beta in BETAS}
    variants.update({f"IWAE, k = {k}": {"iwae": k} for k in c["iwae_k"]})
    results = {}
    for row, options in variants.items():
        entry = results[row] = {"test_elbo": [], "test_nll": [], "seconds": 0.0}
        for seed in c["seeds"]:
            folder, trained = vae_run(runs, c, seed, **options)
            numbers = json.loads((folder / "results.json").read_text())
            entry["test_elbo"].append(numbers["test_elbo"])
            entry["test_nll"].append(numbers["test_nll"])
            entry["seconds"] += trained["seconds"]
            entry["command"] = over_seeds(trained["command"], seed, c["seeds"])
    figures = []
    for beta in (1.0, 4.0):
        folder, _ = vae_run(runs, c, c["seeds"][0], beta=beta)
        name = f"vae_traversal_beta{beta:g}.png"
        latent_traversal(io.load(folder / "vae.npz"), load(runs.data_dir)[2][0][:1], out / name,
                         f"beta = {beta:g}", runs.mode)
        figures.append(name)
    return {"rows": results, "figures": figures, "anchors": ANCHORS,
            "config": (f"{'-'.join(map(str, [784] + c['vae_hidden'] + [c['vae_latent']]))} VAE, ReLU, "
                       f"Adam {c['vae_flags'][1] if c['vae_flags'] else '1e-3'} x 0.98 per epoch, batch "
                       f"100, {c['vae_epochs']} epochs, dynamic binarization; test set binarized once "
                       f"(seed 0); ELBO with one z per image; NLL = -L_k with k = {c['nll_k']}. beta != 1 "
                       f"makes the training cost no bound; the ELBO and NLL are reported with beta = 1.")}


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
    chart = figure((steps * 0.8 + 1, len(order) * 0.8 + 0.6))
    grid = chart.subplots(len(order), steps, squeeze=False)
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
    chart.suptitle(f"Latent traversal, {title}: the {len(order)} dimensions of largest KL")
    save_figure(chart, path)


def render(s):
    rows = [[row, mean_sd(r["test_elbo"]), mean_sd(r["test_nll"]), f"`{r['command']}`",
             minutes(r["seconds"])] for row, r in s["rows"].items()]
    return table(["model", "test ELBO (nats)", "test NLL (nats)", "command", "wall time"], rows) \
        + f"\n\nAnchors: {s['anchors']}."


# -- units: one VAE each ------------------------------------------------------------------------
def unit(runs, c, out, seed, beta=1.0, iwae=None):
    """Unit vae[-betaB|-iwaeK]-s<seed>: train (or reuse) one VAE; its test ELBO and NLL (the
    experiment's own results.json) and, for beta 1 and 4, a latent traversal."""
    from dae import io

    folder, trained = vae_run(runs, c, seed, beta=beta, iwae=iwae)
    numbers = json.loads((folder / "results.json").read_text())
    figures = keep_figures(runs, folder.name, folder.name, out)
    if iwae is None and beta in (1.0, 4.0) and seed == c["seeds"][0]:
        path = out / "figures" / folder.name / "latent_traversal.png"
        latent_traversal(io.load(folder / "vae.npz"), load(runs.data_dir)[2][0][:1], path,
                         f"beta = {beta:g}", runs.mode)
        figures.append(str(path.relative_to(out)))
    row = f"IWAE, k = {iwae}" if iwae else f"VAE, beta {beta:g}"
    return {"section": "vae", "seed": seed, "rows": {row: numbers}, "train_command": trained["command"],
            "train_seconds": trained["seconds"], "metrics": last_metrics(folder), "figures": figures}


def units(c):
    """{unit name: function(runs, c, out) -> record}, cheapest first."""
    found = {f"vae-s{seed}": lambda runs, c, out, seed=seed: unit(runs, c, out, seed) for seed in c["seeds"]}
    for beta in BETAS:
        if beta != 1:
            found[f"vae-beta{beta:g}-s1"] = lambda runs, c, out, beta=beta: unit(runs, c, out, 1, beta=beta)
    for k in c["iwae_k"]:
        found[f"vae-iwae{k}-s1"] = lambda runs, c, out, k=k: unit(runs, c, out, 1, iwae=k)
    return found

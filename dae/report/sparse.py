"""Section 6: the sparse autoencoder as dae trains it (SGD) and as UFLDL did (full-batch
L-BFGS): the full-batch cost, the mean activation against its target and the KL term,
on the whole training split; the filters side by side."""
import numpy as np

from dae.config import get_mode
from dae.plots import figure, filters_image, save_figure
from dae.report.common import load, mean_sd, minutes, over_seeds, table

TITLE = "6. The sparse autoencoder as UFLDL trains it"


def run(runs, c, out):
    import pytensor
    import pytensor.tensor as pt

    from dae import io

    train_x = load(runs.data_dir)[0][0]
    units = [] if c["sparse_hidden"] == 196 else ["--n-hidden", str(c["sparse_hidden"])]
    variants = {"SGD (dae's default)": ("sgd", ["--epochs", str(c["sa_epochs"]), *units]),
                "L-BFGS, full batch (UFLDL)": ("lbfgs", ["--optimizer", "lbfgs", "--epochs", str(c["lbfgs_epochs"]),
                                                         "--lbfgs-iterations", str(c["lbfgs_iterations"]), *units])}
    results, images = {}, {}
    for row, (short, flags) in variants.items():
        entry = results[row] = {"cost": [], "mean_activation": [], "kl": [], "seconds": 0.0}
        for seed in c["seeds"]:
            name = f"sA-{short}-s{seed}"
            trained = runs.experiment(name, "sA", [*flags, "--seed", str(seed)])
            model = io.load(runs.folder(name) / "sA.npz")
            cost, hidden = model.get_cost()
            f = pytensor.function([model.x], [cost, pt.mean(hidden), model.kl_divergence(hidden)],
                                  mode=get_mode(runs.mode))
            for key, value in zip(("cost", "mean_activation", "kl"), f(train_x)):
                entry[key].append(float(value))
            entry["seconds"] += trained["seconds"]
            entry["command"] = over_seeds(trained["command"], seed, c["seeds"])
            if seed == c["seeds"][0]:
                side = int(np.ceil(np.sqrt(c["sparse_hidden"])))
                images[row] = filters_image(model, image_shape=(28, 28), tile_shape=(side, side))
    chart = figure((10, 5.4))
    for ax, (row, image) in zip(chart.subplots(1, 2), images.items()):
        ax.imshow(image, cmap="gray")
        ax.set_title(f"{row}: cost {results[row]['cost'][0]:.2f}")
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(chart, out / "sparse_filters.png")
    return {"rows": results, "figures": ["sparse_filters.png"],
            "config": (f"784-{c['sparse_hidden']} sA, rho 0.1, beta 3, lambda 3e-3, squared error, tied "
                       "weights; costs, mean activations and KL evaluated on the whole training split "
                       "(the KL on its mean activation), the cost L-BFGS minimizes. SGD: rate 0.5, batch 100.")}


def render(s):
    rows = [[row, mean_sd(r["cost"], digits=3), mean_sd(r["mean_activation"], digits=4),
             mean_sd(r["kl"], digits=3), f"`{r['command']}`", minutes(r["seconds"])]
            for row, r in s["rows"].items()]
    return table(["optimizer", "full-batch cost", "mean activation (target 0.1)", "KL term", "command",
                  "wall time"], rows)

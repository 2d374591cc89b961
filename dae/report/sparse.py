"""Section 6: the sparse autoencoder as dae trains it (SGD) and as UFLDL did (full-batch
L-BFGS): the full-batch cost, the mean activation against its target and the KL term,
on the whole training split; the filters side by side."""
import numpy as np

from dae.config import get_mode
from dae.plots import figure, filters_image, save_figure
from dae.report.common import load, mean_sd, merge_seeds, minutes, table

TITLE = "6. The sparse autoencoder as UFLDL trains it"


def measure(runs, c, seed):
    """Both optimizers' sA for ``seed`` (trained or reused): ({row: {cost, mean_activation, kl,
    seconds, command}}, {row: its filters as an image})."""
    import pytensor
    import pytensor.tensor as pt

    from dae import io

    train_x = load(runs.data_dir)[0][0]
    units = [] if c["sparse_hidden"] == 196 else ["--n-hidden", str(c["sparse_hidden"])]
    variants = {"SGD (dae's default)": ("sgd", ["--epochs", str(c["sa_epochs"]), *units]),
                "L-BFGS, full batch (UFLDL)": ("lbfgs", ["--optimizer", "lbfgs", "--epochs", str(c["lbfgs_epochs"]),
                                                         "--lbfgs-iterations", str(c["lbfgs_iterations"]), *units])}
    rows, images = {}, {}
    for row, (short, flags) in variants.items():
        name = f"sA-{short}-s{seed}"
        trained = runs.experiment(name, "sA", [*flags, "--seed", str(seed)])
        model = io.load(runs.folder(name) / "sA.npz")
        cost, hidden = model.get_cost()
        f = pytensor.function([model.x], [cost, pt.mean(hidden), model.kl_divergence(hidden)],
                              mode=get_mode(runs.mode))
        rows[row] = {key: float(value) for key, value in zip(("cost", "mean_activation", "kl"), f(train_x))}
        rows[row].update(seconds=trained["seconds"], command=trained["command"])
        side = int(np.ceil(np.sqrt(c["sparse_hidden"])))
        images[row] = filters_image(model, image_shape=(28, 28), tile_shape=(side, side))
    return rows, images


def draw_filters(rows, images, path):
    """The two optimizers' filters side by side, each titled with its full-batch cost."""
    chart = figure((10, 5.4))
    for ax, (row, image) in zip(chart.subplots(1, 2), images.items()):
        ax.imshow(image, cmap="gray")
        ax.set_title(f"{row}: cost {rows[row]['cost']:.2f}")
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(chart, path)


def run(runs, c, out):
    measured = [(seed, measure(runs, c, seed)) for seed in c["seeds"]]
    draw_filters(*measured[0][1], out / "sparse_filters.png")
    return result(merge_seeds([(seed, rows) for seed, (rows, _) in measured]), c, ["sparse_filters.png"])


def result(rows, c, figures):
    return {"rows": rows, "figures": figures,
            "config": (f"784-{c['sparse_hidden']} sA, rho 0.1, beta 3, lambda 3e-3, squared error, tied "
                       "weights; costs, mean activations and KL evaluated on the whole training split "
                       "(the KL on its mean activation), the cost L-BFGS minimizes. SGD: rate 0.5, batch 100.")}


def render(s):
    rows = [[row, mean_sd(r["cost"], digits=3), mean_sd(r["mean_activation"], digits=4),
             mean_sd(r["kl"], digits=3), f"`{r['command']}`", minutes(r["seconds"])]
            for row, r in s["rows"].items()]
    return table(["optimizer", "full-batch cost", "mean activation (target 0.1)", "KL term", "command",
                  "wall time"], rows)


# -- units: one seed's two models each ----------------------------------------------------------------
def unit(runs, c, out, seed):
    """Unit sparse-s<seed>: both optimizers' sA (the first seed's filters drawn)."""
    rows, images = measure(runs, c, seed)
    figures = []
    if seed == c["seeds"][0]:
        path = out / "figures" / f"sparse-s{seed}" / "sparse_filters.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_filters(rows, images, path)
        figures.append(str(path.relative_to(out)))
    return {"section": "sparse", "seed": seed, "rows": rows, "figures": figures}


def units(c):
    return {f"sparse-s{seed}": (lambda runs, c, out, seed=seed: unit(runs, c, out, seed)) for seed in c["seeds"]}


def from_units(records, c, out):
    return result(merge_seeds([(r["seed"], r["rows"]) for r in records]), c, [])

"""Section 3: the contractive autoencoder's analysis (Rifai et al. 2011) on the section-1
models: the mean Frobenius norm of the encoder's Jacobian, its singular value spectrum, and
the contraction ratio ||f(x) - f(x')|| / ||x - x'|| against the distance."""
import time

import numpy as np

from dae.report.common import line_plot, load, mean_sd, merge_seeds, minutes, table
from dae.report.probe import one_layer_runs

TITLE = "3. The contractive autoencoder's analysis (Rifai et al. 2011)"
MODELS = ["autoencoder (no noise)", "dA, masking 25%", "cA, contraction 0.1"]


RADII = np.geomspace(0.1, 20, 10)


def measure(runs, c, seed):
    """One seed's models (trained or reused): {row: {norm, spectrum, curve, seconds, command}}."""
    from dae import io
    from dae.evaluate import contraction_curve, jacobian_norms, jacobian_spectrum

    test_x = load(runs.data_dir)[2][0]
    points, few = test_x[:c["cae_points"]], test_x[:c["spectrum_points"]]
    models, rows = one_layer_runs(runs, c, seed), {}
    for row in MODELS:
        path, trained = models[row]
        model, started = io.load(path), time.time()
        rows[row] = {"norm": float(jacobian_norms(model, points, mode=runs.mode).mean()),
                     "spectrum": jacobian_spectrum(model, few, mode=runs.mode).tolist(),
                     "curve": contraction_curve(model, points, RADII, seed=0, mode=runs.mode).tolist(),
                     "seconds": trained["seconds"] + time.time() - started, "command": trained["command"]}
    return rows


def run(runs, c, out):
    return result(merge_seeds([(seed, measure(runs, c, seed)) for seed in c["seeds"]]), c, out, "")


def result(rows, c, out, folder):
    """The section's result from its rows, its two charts drawn in ``out / folder``."""
    spectra = {row: np.mean(r["spectrum"], axis=0) for row, r in rows.items()}
    figures = [f"{folder}cae_spectrum.png", f"{folder}cae_contraction.png"]
    line_plot(out / figures[0], {row: (np.arange(1, len(v) + 1), v) for row, v in spectra.items()},
              "singular value index", "mean singular value of J_f(x)",
              f"Jacobian spectrum, mean over {c['spectrum_points']} test points", ylog=True)
    line_plot(out / figures[1], {row: (RADII, np.mean(r["curve"], axis=0)) for row, r in rows.items()},
              "distance ||x - x'|| (isotropic, from test points)", "mean ||f(x) - f(x')|| / ||x - x'||",
              f"Contraction ratio, {c['cae_points']} test points", xlog=True, marker="o")
    return {"rows": rows, "radii": RADII.tolist(), "figures": figures,
            "config": (f"The section-1 models (same runs). Mean ||J_f(x)||_F over {c['cae_points']} test "
                       f"points; spectrum over {c['spectrum_points']}; contraction ratio at x' = x + r u, u "
                       f"uniform on the unit sphere, one direction per point and radius.")}


def render(s):
    rows = []
    for row, r in s["rows"].items():
        spectrum = np.mean(r["spectrum"], axis=0)
        above = int(np.sum(spectrum > 0.01 * spectrum[0]))
        rows.append([row, mean_sd(r["norm"]), f"{spectrum[0]:.3g}", above,
                     f"{np.mean(r['curve'], axis=0)[0]:.3g}", f"`{r['command']}`", minutes(r["seconds"])])
    return table(["model", "mean ‖J_f(x)‖_F", "largest singular value", "singular values > 1% of it",
                  f"ratio at r = {s['radii'][0]:g}", "command", "wall time"], rows)


# -- units: one seed's three models each ------------------------------------------------------------
def units(c):
    """{unit name: function(runs, c, out) -> record}: cae-s<seed>, the analysis of one seed's models."""
    return {f"cae-s{seed}": (lambda runs, c, out, seed=seed:
                             {"section": "cae", "seed": seed, "rows": measure(runs, c, seed), "figures": []})
            for seed in c["seeds"]}


def from_units(records, c, out):
    return result(merge_seeds([(r["seed"], r["rows"]) for r in records]), c, out, "figures/")

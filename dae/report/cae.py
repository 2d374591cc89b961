"""Section 3: the contractive autoencoder's analysis (Rifai et al. 2011) on the section-1
models: the mean Frobenius norm of the encoder's Jacobian, its singular value spectrum, and
the contraction ratio ||f(x) - f(x')|| / ||x - x'|| against the distance."""
import time

import numpy as np

from dae.report.common import line_plot, load, mean_sd, minutes, over_seeds, table
from dae.report.probe import one_layer_runs

TITLE = "3. The contractive autoencoder's analysis (Rifai et al. 2011)"
MODELS = ["autoencoder (no noise)", "dA, masking 25%", "cA, contraction 0.1"]


def run(runs, c, out):
    from dae import io
    from dae.evaluate import contraction_curve, jacobian_norms, jacobian_spectrum

    test_x = load(runs.data_dir)[2][0]
    points, few = test_x[:c["cae_points"]], test_x[:c["spectrum_points"]]
    radii = np.geomspace(0.1, 20, 10)
    results = {row: {"norm": [], "spectrum": [], "curve": [], "seconds": 0.0} for row in MODELS}
    for seed in c["seeds"]:
        models = one_layer_runs(runs, c, seed)
        for row in MODELS:
            path, trained = models[row]
            model, started = io.load(path), time.time()
            entry = results[row]
            entry["norm"].append(float(jacobian_norms(model, points, mode=runs.mode).mean()))
            entry["spectrum"].append(jacobian_spectrum(model, few, mode=runs.mode).tolist())
            entry["curve"].append(contraction_curve(model, points, radii, seed=0, mode=runs.mode).tolist())
            entry["seconds"] += trained["seconds"] + time.time() - started
            entry["command"] = over_seeds(trained["command"], seed, c["seeds"])
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


def render(s):
    rows = []
    for row, r in s["rows"].items():
        spectrum = np.mean(r["spectrum"], axis=0)
        above = int(np.sum(spectrum > 0.01 * spectrum[0]))
        rows.append([row, mean_sd(r["norm"]), f"{spectrum[0]:.3g}", above,
                     f"{np.mean(r['curve'], axis=0)[0]:.3g}", f"`{r['command']}`", minutes(r["seconds"])])
    return table(["model", "mean ‖J_f(x)‖_F", "largest singular value", "singular values > 1% of it",
                  f"ratio at r = {s['radii'][0]:g}", "command", "wall time"], rows)

"""Section 4: a linear autoencoder is PCA. A tied linear autoencoder trained by full-batch
L-BFGS to squared error spans the top-k principal subspace (Baldi & Hornik 1989): its
principal angles to PCA's basis go to zero, and its test error to PCA's."""
import time

import numpy as np

from dae.report.common import COMMAND, line_plot, load, minutes, table

TITLE = "4. A linear autoencoder is PCA"


def measure(runs, c):
    """Both fits: ({k: their numbers}, {k: the principal angles, largest first})."""
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
        fit = lbfgs(model, model.get_cost()[0], train_x, max_iter=c["pca_iterations"], mode=runs.mode)
        if fit.interrupted:  # an under-trained fit is never recorded as the section's result
            raise KeyboardInterrupt
        W, b, c_prime = (p.get_value().astype(np.float64) for p in model.params)
        theta = np.degrees(scipy.linalg.subspace_angles(W, basis[:k].T))
        angles[k] = np.sort(theta)[::-1].tolist()
        centred = test_x - mean
        pca_error = np.mean(np.sum((centred - centred @ basis[:k].T @ basis[:k]) ** 2, axis=1)) / 2
        ae_error = np.mean(np.sum((test_x - ((test_x @ W + b) @ W.T + c_prime)) ** 2, axis=1)) / 2
        results[k] = {"largest_angle": float(theta.max()), "ae_error": float(ae_error),
                      "pca_error": float(pca_error), "iterations": fit.iterations,
                      "message": fit.message, "seconds": time.time() - started}
        runs.log(f"[pca] k={k}: largest principal angle {theta.max():.3f} degrees")
    return {str(k): v for k, v in results.items()}, angles


def run(runs, c, out):
    return result(*measure(runs, c), c, out, "pca_angles.png")


def result(rows, angles, c, out, figure):
    """The section's result, its chart of ``angles`` drawn at ``out / figure``."""
    line_plot(out / figure, {f"k = {k}": (np.arange(1, len(theta) + 1), np.maximum(theta, 1e-6))
                             for k, theta in angles.items()},
              "principal angle index (largest first)", "angle (degrees)",
              "Linear autoencoder vs PCA: principal angles", ylog=True, marker=".")
    return {"rows": rows, "angles": angles, "figures": [figure],
            "config": (f"Tied linear autoencoder, squared error, trained by full-batch L-BFGS "
                       f"(dae.optimize.lbfgs, at most {c['pca_iterations']} iterations, float64 "
                       f"parameters) on the training split; PCA from the training split's SVD. "
                       f"Errors: mean over the test split of ||x - x^||^2 / 2.")}


def _angle(degrees):
    return f"{degrees:.3f}°" if degrees >= 1e-3 else f"{degrees:.1e}°"


def _stopped(message):
    """SciPy's L-BFGS-B message, in words a table cell holds."""
    if message.startswith("CONVERGENCE"):
        return "converged"
    return "iteration limit" if "ITERATIONS REACHED LIMIT" in message else message.lower()


def render(s):
    rows = [[k, _angle(r['largest_angle']), f"{r['ae_error']:.4f}", f"{r['pca_error']:.4f}",
             f"{r['iterations']} ({_stopped(r['message'])})", f"`{s.get('command', COMMAND + ' --only pca')}`",
             minutes(r["seconds"])] for k, r in s["rows"].items()]
    return table(["k", "largest principal angle", "test error, linear AE", "test error, PCA",
                  "L-BFGS iterations", "command", "wall time"], rows)


def units(c):
    """{unit name: function}: the one unit ``pca``, both fits."""
    def unit(runs, c, out):
        rows, angles = measure(runs, c)
        return {"section": "pca", "seed": None, "rows": rows, "angles": angles, "figures": []}
    return {"pca": unit}


def from_units(records, c, out):
    (r,) = records
    return {**result(r["rows"], r["angles"], c, out, "figures/pca_angles.png"), "command": r["command"]}

"""Section 4: a linear autoencoder is PCA. A tied linear autoencoder trained by full-batch
L-BFGS to squared error spans the top-k principal subspace (Baldi & Hornik 1989): its
principal angles to PCA's basis go to zero, and its test error to PCA's."""
import time

import numpy as np

from dae.report.common import COMMAND, line_plot, load, minutes, table

TITLE = "4. A linear autoencoder is PCA"


def run(runs, c, out):
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


def render(s):
    rows = [[k, f"{r['largest_angle']:.3f}°", f"{r['ae_error']:.4f}", f"{r['pca_error']:.4f}",
             f"{r['iterations']} ({r['message'][:40]})", f"`{COMMAND} --only pca`",
             minutes(r["seconds"])] for k, r in s["rows"].items()]
    return table(["k", "largest principal angle", "test error, linear AE", "test error, PCA",
                  "L-BFGS iterations", "command", "wall time"], rows)

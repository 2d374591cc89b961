"""Section 7: the README's results table, regenerated from the other sections' JSON and
written to readme_results.md."""
import json

import numpy as np

from dae.report.common import COMMAND, mean_sd, table, write_text

TITLE = "7. The README's results table"
HEADER = ["experiment", "command", "result"]


def run(runs, c, out):
    done = {p.stem: json.loads(p.read_text()) for p in (out / "sections").glob("*.json")}
    rows = rows_of(done)
    write_text(out / "readme_results.md", table(HEADER, rows) + "\n")
    return {"rows": rows, "figures": [], "config": "Regenerated from the other sections' JSON; written "
            "to readme_results.md for the README."}


def rows_of(done):
    """The table's rows from ``done``: {section: its summary (what its ``run`` or
    ``from_units`` returns)}, the sections present."""
    rows = []
    if "probe" in done:
        r = done["probe"]["rows"]
        best = min(r, key=lambda row: np.mean(r[row]["test_error"]))
        rows.append(["linear probe, best features", f"`{r[best]['command']}`",
                     f"{best}: {mean_sd(r[best]['test_error'], 100, unit='%')} test error"])
    for row, v in done.get("deep", {}).get("rows", {}).items():
        rows.append([f"784-...-10, {row}", f"`{v['command']}`", f"test {mean_sd(v['test_error'], 100, unit='%')}"])
    for row, v in done.get("cae", {}).get("rows", {}).items():
        rows.append([f"mean ‖J_f‖_F, {row}", f"`{v['command']}`", mean_sd(v["norm"])])
    for k, v in done.get("pca", {}).get("rows", {}).items():
        rows.append([f"linear AE vs PCA, k = {k}", f"`{done['pca'].get('command', COMMAND + ' --only pca')}`",
                     f"largest principal angle {v['largest_angle']:.2g}°"])
    for row, v in done.get("vae", {}).get("rows", {}).items():
        rows.append([row, f"`{v['command']}`", f"test NLL {mean_sd(v['test_nll'], unit=' nats')}"])
    for row, v in done.get("sparse", {}).get("rows", {}).items():
        rows.append([f"sA, {row}", f"`{v['command']}`", f"cost {mean_sd(v['cost'], digits=3)}"])
    return rows


def render(s):
    if not s["rows"]:
        return "No section had finished."
    return "Written to `readme_results.md`:\n\n" + table(HEADER, s["rows"])

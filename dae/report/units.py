"""The report's units: one trained model and all its evaluations each, committed as it finishes.

A unit writes units/<name>.json (its numbers, commands, wall times, config, mode and dae commit)
and its figures under figures/<name>/; units.md is rendered from those files alone, so the
committed report needs no weights (runs/, with checkpoints and models, stays uncommitted).
"""
import json
import re
import time

import numpy as np

from dae import interrupt
from dae.report import cae, deep, pca, probe, readme, sparse, vae
from dae.report.common import COMMAND, dae_commit, mean_sd, minutes, table, write_text

# Units recorded before the report moved into dae name the script it was then.
OLD_COMMAND = "python benchmarks/reproduce.py"


def unit_list(c):
    """Every unit, cheapest first (the IWAE k = 50 last): {name: function(runs, c, out) -> record}."""
    return {**probe.units(c), **pca.units(c), **sparse.units(c), **cae.units(c), **deep.units(c),
            **vae.units(c)}


def run_units(runs, c, out, names, redo, command, again=None):
    """Runs each named unit whose results file is missing (or is in ``redo``), then renders
    units.md. ``command`` is the one each record names; ``again`` (default the same) the one a
    Ctrl-C says to run to resume (a record is kept only of a unit that finished)."""
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
            message = (f"interrupted in unit {name}: no results written for it; run "
                       f"`{again or command} --units {name}` to resume it")
            runs.log(message)
            raise KeyboardInterrupt(message) from None
        record.update(unit=name, command=f"{command} --units {name}", seconds=time.time() - started,
                      mode=runs.mode, commit=dae_commit(),
                      config={k: v for k, v in c.items() if k != "vae_flags"})
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(record, indent=1, default=float))
        write_unit_report(out)
        runs.log(f"[{name}] unit done in {minutes(record['seconds'])}: {path}")
    write_unit_report(out)


def as_dae(command):
    return command.replace(OLD_COMMAND, COMMAND)


def write_unit_report(out):
    """units.md: the unit tables, from units/*.json alone."""
    records = [json.loads(p.read_text()) for p in sorted((out / "units").glob("*.json"))]
    if not records:
        return
    c, probes, vaes = records[0]["config"], {}, {}
    for r in (r for r in records if r["section"] in ("probe", "vae")):
        for row, v in r["rows"].items():
            if r["section"] == "vae":
                e = vaes.setdefault(row, {"elbo": [], "nll": [], "seconds": 0.0, "seeds": [], "commands": set(),
                                          "method": v.get("test_nll_method", "")})
                e["elbo"].append(v["test_elbo"])
                e["nll"].append(v["test_nll"])
                # the run (training, NLL), plus the unit's own work when it reused a finished run
                e["seconds"] += r["seconds"] if r["seconds"] >= r["train_seconds"] \
                    else r["train_seconds"] + r["seconds"]
                e["commands"].add(re.sub(r"--seed \d+", "--seed {seed}", r["train_command"]))
            else:
                e = probes.setdefault(row, {"test": [], "valid": [], "l2": [], "seconds": 0.0,
                                            "features": v["features"], "commands": set(), "seeds": []})
                e["test"].append(v["test_error"])
                e["valid"].append(v["valid_error"])
                e["l2"].append(v["l2"])
                e["seconds"] += v["probe_seconds"] + r["train_seconds"] / len(r["rows"])
                e["commands"].add(as_dae(r["command"]).rsplit("-s", 1)[0] + ("-s{seed}" if r["seed"] else ""))
            e["seeds"].append(r["seed"])
    rows = [[row, e["features"], mean_sd(e["test"], 100), mean_sd(e["valid"], 100),
             ", ".join(f"{v:g}" for v in e["l2"]), ", ".join(str(s) for s in e["seeds"] if s) or "-",
             "; ".join(f"`{cmd}`" for cmd in sorted(e["commands"])), minutes(e["seconds"])]
            for row, e in probes.items()]
    text = ["# The report's units (issue 20)\n",
            f"Rendered from `units/*.json` alone by `{COMMAND} --units`; each unit is one trained "
            "model with all its evaluations. Wall time: the row's share of its run's training plus "
            "its probe, summed over seeds.\n"]
    if probes:
        text += [f"## {probe.TITLE}\n", probe.describe(c) + " Mean ± sample sd over the seeds listed.\n",
                 table(["features", "dim", "test error %", "valid error %", "L2 chosen", "seeds", "command",
                        "wall time"], rows), ""]
        text += [f"![{f}]({f})" for r in records if r["section"] == "probe" for f in r["figures"] if "filters" in f]
    summaries = {}  # {section: its summary}, for the README's table
    if probes:
        summaries["probe"] = {"rows": {row: {"test_error": e["test"], "command": "; ".join(sorted(e["commands"]))}
                                       for row, e in probes.items()}}
    if vaes:
        summaries["vae"] = {"rows": {row: {"test_nll": e["nll"], "command": "; ".join(sorted(e["commands"]))}
                                     for row, e in vaes.items()}}
    text += section_text(out, c, records, (deep, cae, pca), summaries)
    if vaes:
        text += ["", f"## {vae.TITLE}\n",
                 "784-512-512-50 VAE, ReLU, Adam 1e-3 x 0.98 per epoch, batch 100, dynamic binarization; "
                 "test set binarized once (seed 0); ELBO with one z per image; NLL = -L_k (the IWAE bound) "
                 "with the k given. beta != 1 makes the training cost no bound: ELBO and NLL are reported "
                 "with beta = 1. Wall time: training and evaluation, summed over seeds.\n",
                 table(["model", "test ELBO (nats)", "test NLL (nats)", "NLL method", "seeds", "command",
                        "wall time"],
                       [[row, mean_sd(e["elbo"]), mean_sd(e["nll"]), e["method"], ", ".join(map(str, e["seeds"])),
                         "; ".join(f"`{cmd}`" for cmd in sorted(e["commands"])), minutes(e["seconds"])]
                        for row, e in vaes.items()]),
                 "", f"Anchors: {vae.ANCHORS}.", ""] + same_epoch(records)
        text += [f"![{f}]({f})" for r in records if r["section"] == "vae" for f in r["figures"]]
    text += section_text(out, c, records, (sparse,), summaries)
    write_text(out / "units.md", "\n".join(text) + "\n")
    # The README's results table, from the same units (its "Results of the report" section).
    write_text(out / "readme_results.md", table(readme.HEADER, readme.rows_of(summaries)) + "\n")


def same_epoch(records):
    """The bounds of the beta = 1 VAE and the IWAEs at the epoch the shortest of them reached (the
    IWAE k = 50 trains for the epochs one unit holds): each run's training cost, the bound it
    maximizes (-ELBO for the VAE, -L_k for the IWAE k) averaged over that epoch's batches, and its
    validation ELBO, from its history (the run's metrics.jsonl)."""
    histories = {}
    for r in records:
        for row, v in r["rows"].items() if r["section"] == "vae" else ():
            if row == "VAE, beta 1" or row.startswith("IWAE"):
                histories.setdefault(row, []).append(v["history"])
    if len(histories) < 2:
        return []
    epoch = min(len(h) for hs in histories.values() for h in hs)
    at = {row: [h[epoch - 1] for h in hs] for row, hs in histories.items()}
    rows = [[row, "-ELBO" if row.startswith("VAE") else f"-L_{row.rsplit(' ', 1)[1]}",
             mean_sd([e["cost"] for e in es]), mean_sd([e["valid_elbo"] for e in es]),
             f"{np.median([e['seconds'] for h in histories[row] for e in h]):.1f} s"]
            for row, es in sorted(at.items(), key=lambda item: item[0] != "VAE, beta 1")]
    return [f"At epoch {epoch}, the shortest run's length (each run's own history):\n",
            table(["model", "training cost", f"epoch {epoch} training cost (nats)",
                   f"epoch {epoch} valid ELBO (nats)", "median epoch"], rows), ""]


def section_text(out, c, records, sections, summaries):
    """The Markdown of each of ``sections`` that has units done: its module's table (and charts,
    drawn under figures/) from those units' records, then its units' own figures. Each section's
    summary goes into ``summaries``."""
    text = []
    for section in sections:
        name = section.__name__.rsplit(".", 1)[1]
        done = [r for r in records if r["section"] == name]
        if done:
            (out / "figures").mkdir(exist_ok=True)
            s = summaries[name] = section.from_units(done, {**c, **done[0]["config"]}, out)
            text += ["", f"## {section.TITLE}\n", s["config"] + "\n", section.render(s), ""]
            text += [f"![{f}]({f})" for f in s["figures"] + [f for r in done for f in r["figures"]]]
    return text

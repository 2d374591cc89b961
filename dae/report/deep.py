"""Section 2: 784-1000-1000-1000-10 networks fine-tuned, pretrained as stacked dA, cA, sA, or
not at all (the SdA experiment with ``--layer-type`` and ``--pretraining-epochs 0``); the test
error of the model of the best validation error."""
import numpy as np

from dae.report.common import bar_chart, keep_figures, last_metrics, mean_sd, merge_seeds, minutes, \
    seeds_flag, table

TITLE = "2. Deep networks fine-tuned"
# The SdA configuration of benchmarks/sda_full_run.md (run 4, 1.30%), for every pretraining.
DEEP_FLAGS = ["--pretrain-batch-size", "50", "--pretrain-lr", "0.25", "--finetune-lr", "0.1",
              "--momentum", "0.9"]
ANCHORS = "the SdA tutorial 1.30%; Vincent et al. 2010: SdA-3 1.28%, SAE-3 1.40%, DBN-3 1.24%; " \
          "Rifai et al. 2011: CAE 1.14%; the tutorials' open target 1.10%; aim < 1.20%"
VARIANTS = {"stacked dA (SdA)": ("sda", ["--layer-type", "dA"]),
            "stacked cA": ("ca", ["--layer-type", "cA", "--corruption-levels", "0.1", "0.1", "0.1"]),
            "stacked sA": ("sa", ["--layer-type", "sA"]),
            "no pretraining": ("none", ["--layer-type", "dA", "--pretraining-epochs", "0"])}


def train(runs, c, row, seed):
    """One network of ``row`` for ``seed``: (its run's name, {test_error, valid_error, epoch,
    seconds, command}) of the model of the best validation error."""
    from dae import io

    short, flags = VARIANTS[row]
    name = f"deep-{short}-s{seed}"
    base = ["--hidden-layers", *map(str, c["deep_hidden"]), *DEEP_FLAGS, "--batch-size", str(c["deep_batch"]),
            "--training-epochs", str(c["training_epochs"])]
    if "--pretraining-epochs" not in flags:
        base += ["--pretraining-epochs", str(c["pretraining_epochs"])]
    trained = runs.experiment(name, "SdA", [*base, *flags, "--seed", str(seed)])
    best = io.read(runs.folder(name) / "best_model.npz").info["training"]["best"]
    runs.log(f"[deep] {row}, seed {seed}: test {best['test_error']:.2%} at its best validation")
    return name, {"test_error": best["test_error"], "valid_error": best["valid_error"],
                  "epoch": best["epoch"], "seconds": trained["seconds"], "command": trained["command"]}


def run(runs, c, out):
    rows = merge_seeds([(seed, {row: train(runs, c, row, seed)[1]}) for row in VARIANTS for seed in c["seeds"]])
    return result(rows, c, out, "deep_errors.png")


def result(rows, c, out, figure):
    """The section's result from its rows, its bar chart drawn at ``out / figure``."""
    sizes = "-".join(map(str, [784] + c["deep_hidden"] + [10]))
    seeds = sorted({seed for r in rows.values() for seed in r["seeds"]})
    # a row with fewer seeds than the others says how many its bar is
    labels = [row if len(r["seeds"]) == len(seeds) else
              f"{row}\n({len(r['seeds'])} seed{'s' * (len(r['seeds']) > 1)})" for row, r in rows.items()]
    bar_chart(out / figure, labels, [100 * np.array(r["test_error"]) for r in rows.values()],
              f"{sizes}, seed{'s' if len(seeds) > 1 else ''} {seeds_flag(seeds)}",
              "test error (%) at the best validation epoch",
              lines=[(1.30, "SdA tutorial 1.30%"), (1.14, "CAE (Rifai 2011) 1.14%")])
    return {"rows": rows, "figures": [figure], "anchors": ANCHORS,
            "config": (f"{sizes}; pretraining {c['pretraining_epochs']} epochs a layer, batch 50 at "
                       f"0.25 (dA corruption 0.1/0.2/0.3; cA contraction 0.1 each layer; sA rho 0.1, "
                       f"beta 3, lambda 3e-3, squared error); fine-tuning batch {c['deep_batch']} at 0.1 "
                       f"with momentum 0.9, at most {c['training_epochs']} epochs, the tutorial's early "
                       f"stopping; the model of the best validation error is kept and its test error "
                       f"reported. 'No pretraining' runs with --pretraining-epochs 0.")}


def render(s):
    rows = [[row, mean_sd(r["test_error"], 100), mean_sd(r["valid_error"], 100),
             ", ".join(map(str, r["epoch"])), ", ".join(map(str, r["seeds"])), f"`{r['command']}`",
             minutes(r["seconds"])] for row, r in s["rows"].items()]
    return table(["pretraining", "test error %", "valid error %", "best epoch(s)", "seeds", "command",
                  "wall time"], rows) + f"\n\nAnchors: {s['anchors']}."


# -- units: one network each --------------------------------------------------------------------
def unit(runs, c, out, row, seed):
    """Unit deep-<variant>-s<seed>: train (or reuse) one network; its best model's errors."""
    name, values = train(runs, c, row, seed)
    return {"section": "deep", "seed": seed, "rows": {row: values}, "metrics": last_metrics(runs.folder(name)),
            "figures": keep_figures(runs, name, name, out)}


def from_units(records, c, out):
    """The section's result from its units' records (its chart under figures/)."""
    rows = merge_seeds([(r["seed"], r["rows"]) for r in records])
    return result({row: rows[row] for row in VARIANTS if row in rows}, c, out, "figures/deep_errors.png")


def units(c):
    """{unit name: function(runs, c, out) -> record}, cheapest first: the protocol's seeds for the
    SdA and no pretraining, the first seed for the stacked cA and sA."""
    order = ["no pretraining", "stacked dA (SdA)", "stacked sA", "stacked cA"]
    found = {}
    for row in order:
        for seed in c["seeds"] if row in ("no pretraining", "stacked dA (SdA)") else c["seeds"][:1]:
            found[f"deep-{VARIANTS[row][0]}-s{seed}"] = (lambda runs, c, out, row=row, seed=seed:
                                                         unit(runs, c, out, row, seed))
    return found

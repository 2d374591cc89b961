"""Section 2: 784-1000-1000-1000-10 networks fine-tuned, pretrained as stacked dA, cA, sA, or
not at all (the SdA experiment with ``--layer-type`` and ``--pretraining-epochs 0``); the test
error of the model of the best validation error."""
import numpy as np

from dae.report.common import bar_chart, mean_sd, minutes, over_seeds, seeds_flag, table

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


def run(runs, c, out):
    from dae import io

    sizes = "-".join(map(str, [784] + c["deep_hidden"] + [10]))
    base = ["--hidden-layers", *map(str, c["deep_hidden"]), *DEEP_FLAGS, "--batch-size", str(c["deep_batch"]),
            "--pretraining-epochs", str(c["pretraining_epochs"]), "--training-epochs", str(c["training_epochs"])]
    results = {}
    for row, (short, flags) in VARIANTS.items():
        entry = results[row] = {"test_error": [], "valid_error": [], "epoch": [], "seconds": 0.0}
        for seed in c["seeds"]:
            name = f"deep-{short}-s{seed}"
            trained = runs.experiment(name, "SdA", [*base, *flags, "--seed", str(seed)])
            best = io.read(runs.folder(name) / "best_model.npz").info["training"]["best"]
            entry["test_error"].append(best["test_error"])
            entry["valid_error"].append(best["valid_error"])
            entry["epoch"].append(best["epoch"])
            entry["seconds"] += trained["seconds"]
            entry["command"] = over_seeds(trained["command"], seed, c["seeds"])
            runs.log(f"[deep] {row}, seed {seed}: test {best['test_error']:.2%} at its best validation")
    rows = list(results)
    bar_chart(out / "deep_errors.png", rows, [100 * np.array(results[r]["test_error"]) for r in rows],
              f"{sizes}, seed{'s' if len(c['seeds']) > 1 else ''} {seeds_flag(c['seeds'])}", "test error (%) at the best validation epoch",
              lines=[(1.30, "SdA tutorial 1.30%"), (1.14, "CAE (Rifai 2011) 1.14%")])
    return {"rows": results, "figures": ["deep_errors.png"], "anchors": ANCHORS,
            "config": (f"{sizes}; pretraining {c['pretraining_epochs']} epochs a layer, batch 50 at "
                       f"0.25 (dA corruption 0.1/0.2/0.3; cA contraction 0.1 each layer; sA rho 0.1, "
                       f"beta 3, lambda 3e-3, squared error); fine-tuning batch {c['deep_batch']} at 0.1 "
                       f"with momentum 0.9, at most {c['training_epochs']} epochs, the tutorial's early "
                       f"stopping; the model of the best validation error is kept and its test error "
                       f"reported. 'No pretraining' runs with --pretraining-epochs 0.")}


def render(s):
    rows = [[row, mean_sd(r["test_error"], 100), mean_sd(r["valid_error"], 100),
             ", ".join(map(str, r["epoch"])), f"`{r['command']}`", minutes(r["seconds"])]
            for row, r in s["rows"].items()]
    return table(["pretraining", "test error %", "valid error %", "best epoch(s)", "command", "wall time"],
                 rows) + f"\n\nAnchors: {s['anchors']}."

"""Wall time of the test suite, cold and warm, against a fixed workload.

The suite's time is mostly compiling (PyTensor's rewrites, Numba's LLVM work), so it
is paid in full on a new machine, in CI and by every new contributor: *cold* runs the
suite on an empty PyTensor compiledir and Numba cache, *warm* runs it again on the
caches the cold run left. Each tree is measured in its own processes, and a fixed
single-threaded workload (a Python loop and a NumPy sort, like compiling: one core,
interpreter and memory bound) is timed before and after each run, so that a slower or
busier machine moves both: the figure to compare across machines is the suite's time
in workloads. With ``--ref`` an older commit is measured the same way, back to back,
from a git worktree of it. Run from the repository root, with MNIST present::

    DAE_DATA_DIR=/path/to/mnist python benchmarks/bench_suite.py --ref e2958ea
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_givens import cpu_name  # the one CPU-name helper of benchmarks/

ROOT = Path(__file__).resolve().parents[1]


def workload():
    """A fixed CPU task, about half a second here: seconds, the median of three."""
    import numpy as np
    times = []
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i % 7
        np.sort(np.random.RandomState(0).rand(2_000_000))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_suite(tree, cache, pytest_args):
    """``python -m pytest`` in ``tree`` on the caches under ``cache``: (seconds, summary)."""
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={cache / 'pytensor'}",
               NUMBA_CACHE_DIR=str(cache / "numba"), PYTHONPATH=str(tree))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *pytest_args, "tests"], cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = done.stdout.strip().splitlines()
    summary = next((l for l in reversed(lines) if re.search(r"\d+ (passed|failed)", l)), "no summary")
    if done.returncode != 0:
        summary += f" (exit {done.returncode})"
    return seconds, summary.strip("= ")


def measure(tree, label, pytest_args):
    rows = []
    with tempfile.TemporaryDirectory(prefix="dae-bench-suite-") as cache:
        for kind in ("cold", "warm"):
            before = workload()
            seconds, summary = run_suite(Path(tree), Path(cache), pytest_args)
            after = workload()
            unit = (before + after) / 2
            rows.append((label, kind, seconds, unit, summary))
            print(f"{label} {kind}: {seconds:.0f} s, workload {before:.3f}/{after:.3f} s, "
                  f"{seconds / unit:.0f} workloads; {summary}", file=sys.stderr, flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ref", help="also measure this commit (a git worktree of it), first")
    p.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = p.parse_args(argv)
    if not os.environ.get("DAE_DATA_DIR"):
        p.error("set DAE_DATA_DIR to MNIST's folder: the suite is measured with MNIST present")
    rows = []
    if args.ref:
        with tempfile.TemporaryDirectory(prefix="dae-bench-ref-") as where:
            tree = Path(where) / "tree"
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), args.ref],
                           cwd=ROOT, check=True)
            try:
                rows += measure(tree, args.ref, args.pytest_args)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    rows += measure(ROOT, "this tree", args.pytest_args)
    print(f"# {cpu_name()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}")
    print("| tree | caches | wall s | workload s | workloads | tests |")
    print("|---|---|---|---|---|---|")
    for label, kind, seconds, unit, summary in rows:
        print(f"| {label} | {kind} | {seconds:.0f} | {unit:.3f} | {seconds / unit:.0f} | {summary} |")
    if args.ref:
        for kind in ("cold", "warm"):
            old, new = (r for r in rows if r[1] == kind)
            print(f"{kind}: this tree / {args.ref} = {new[2] / old[2]:.2f} in seconds, "
                  f"{(new[2] / new[3]) / (old[2] / old[3]):.2f} in workloads")


if __name__ == "__main__":
    main()

"""Time to the first epoch: what a newcomer waits for, from empty caches and from warm ones.

Each target runs in a fresh process, *cold* on an empty PyTensor compiledir and Numba cache
of its own (``bench_compile.py``'s environment), then *warm* on the caches its cold run left:

* ``python scripts/train_dA.py`` (the tutorial's experiment, 50,000 images): seconds from the
  process's start to its first epoch line, that epoch's own time (printed on the line), and
  the seconds before it began (imports, MNIST, compiling); the data loading alone
  (``import dae.data`` and ``load_data``, its own fresh process) is shown beside it. The run is
  stopped after that line (Ctrl-C: exit 130, nothing of it is kept).
* each notebook in ``notebooks/`` run top to bottom in a kernel in quick mode
  (``DAE_QUICK=1``, as CI runs them; nbclient), wall seconds.

Each mode given (``--modes``, default each experiment's default, then ``jax``) is set by
``DAE_MODE``. Run from the repository root, MNIST from ``$DAE_DATA_DIR``::

    python benchmarks/bench_first_epoch.py [--modes default jax numba] [--no-notebooks]
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_compile import cache_env  # noqa: E402  (the cold environment, shared)

ROOT = Path(__file__).resolve().parents[1]
EPOCH_LINE = re.compile(r" epoch +0 .* ([0-9.]+) s$")


def first_epoch(env, out):
    """(seconds to the first epoch line, that epoch's seconds) of scripts/train_dA.py."""
    started = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-u", str(ROOT / "scripts" / "train_dA.py"), "--output-dir",
                          str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in p.stdout:
        lines.append(line)
        m = EPOCH_LINE.search(line.rstrip())
        if m:
            at = time.perf_counter() - started
            p.send_signal(signal.SIGINT)
            p.wait()
            return at, float(m.group(1))
    p.wait()
    raise SystemExit(f"train_dA.py printed no epoch line (exit {p.returncode}):\n{''.join(lines)}")


def loading(env):
    """Seconds of a fresh process that imports dae.data and loads MNIST, nothing else."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from dae.data import load_data; load_data()"], env=env,
                   check=True)
    return time.perf_counter() - started


def notebook(env, path):
    """Wall seconds of ``path`` run top to bottom in a kernel with ``env``'s caches, quick mode."""
    code = ("import nbclient, nbformat, sys; nb = nbformat.read(sys.argv[1], as_version=4); "
            "nbclient.NotebookClient(nb, kernel_name='python3', timeout=1800, "
            "resources={'metadata': {'path': sys.argv[2]}}).execute()")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(path), str(path.parent)],
                   env=dict(env, DAE_QUICK="1"), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modes", nargs="+", default=["default", "jax"],
                   help="DAE_MODE values ('default': unset, each experiment's default)")
    p.add_argument("--no-notebooks", action="store_true", help="time scripts/train_dA.py only")
    args = p.parse_args()
    notebooks = [] if args.no_notebooks else sorted((ROOT / "notebooks").glob("*.ipynb"))
    print(f"CPU: {os.cpu_count()} cores; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
    for mode in args.modes:
        for target in ["train_dA.py"] + notebooks:
            with tempfile.TemporaryDirectory() as tmp:  # empty caches for each: its own cold start
                env = cache_env(Path(tmp) / "cache")
                env.pop("DAE_MODE", None)
                if mode != "default":
                    env["DAE_MODE"] = mode
                for state in ("cold", "warm"):
                    if target == "train_dA.py":
                        at, epoch = first_epoch(env, Path(tmp) / f"run-{state}")
                        print(f"{mode:8} {state}  train_dA.py: first epoch line at {at:6.1f} s; the "
                              f"epoch {epoch:5.1f} s; before it {at - epoch:5.1f} s (loading MNIST "
                              f"alone, a fresh process: {loading(env):4.1f} s)", flush=True)
                    else:
                        print(f"{mode:8} {state}  {target.name:24} {notebook(env, target):6.1f} s",
                              flush=True)


if __name__ == "__main__":
    main()

"""Compile times of each model's training step: dae's Numba mode against PyTensor's own.

A graph's first compile is Numba's LLVM work, seconds a graph; PyTensor and Numba
then cache it on disk and a later process loads it in a fraction of a second.
The first compile is what a new user, a new machine, CI and the test suite pay.

Each measurement is its own Python process building the same steps in the same
order (a trivial graph first, which pays Numba's start-up, then the dA, cA, sA,
SdA and VAE steps): *cold* on an empty PyTensor compiledir and Numba cache,
*warm* again on the caches the cold process left. The two modes alternate,
repeat after repeat, so a busy spell on the shared machine hits both; medians
of wall seconds (compiling is single-threaded). Run from the repository root::

    python benchmarks/bench_compile.py --repeats 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_givens import cpu_name  # the one CPU-name helper of benchmarks/

MODES = {"dae": "numba", "pytensor": "plain_numba"}
STEPS = ("startup", "dA", "cA", "sA", "SdA", "VAE")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="cold/warm pairs per mode (default 3)")
    p.add_argument("--child", choices=sorted(MODES.values()), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1, got {args.repeats}")
    return args


def build_steps(mode):
    """Compile and call each step once, in STEPS order; yield (name, seconds)."""
    import numpy as np
    import pytensor
    import pytensor.tensor as pt

    from dae.cA import cA
    from dae.config import get_mode
    from dae.dA import dA
    from dae.data import shared_dataset
    from dae.random import RandomStreams
    from dae.sA import sA
    from dae.SdA import SdA
    from dae.train import compile_step
    from dae.VAE import VAE

    rng = np.random.RandomState(0)
    x = rng.rand(40, 784).astype("float32")
    y = rng.randint(10, size=40).astype("int32")

    def autoencoder(cls):
        model = cls(rng, theano_rng=RandomStreams(1), n_visible=784, n_hidden=100)
        return [compile_step({model.x: pytensor.shared(x)}, 20, *model.get_cost_updates(0.3, 0.1), mode)]

    def sda():
        model = SdA(rng, n_ins=784, hidden_layers_sizes=[100, 100], n_outs=10)
        data = shared_dataset((x, y))
        steps = model.pretraining_functions(data[0], 20, mode=mode)
        return steps + [model.build_finetune_functions([data] * 3, 20, 0.1, mode=mode)[0]]

    def vae():
        model = VAE(rng, theano_rng=RandomStreams(1), n_visible=784, hidden_layers_sizes=[64], n_latent=10)
        return [compile_step({model.x: pytensor.shared(x)}, 20, *model.get_cost_updates(1e-3), mode)]

    def startup():
        v = pt.fmatrix()
        f = pytensor.function([v], v + 1, mode=get_mode(mode))
        return [lambda i: f(x)]

    builders = {"startup": startup, "dA": lambda: autoencoder(dA), "cA": lambda: autoencoder(cA),
                "sA": lambda: autoencoder(sA), "SdA": sda, "VAE": vae}
    for name in STEPS:
        start = time.perf_counter()
        for step in builders[name]():
            step(0)
        yield name, time.perf_counter() - start


def cache_env(cache):
    """This environment with PyTensor's compiledir and Numba's cache under ``cache``, and
    JAX's persistent compilation cache off (its default, made explicit)."""
    return dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={cache / 'pytensor'}",
                NUMBA_CACHE_DIR=str(cache / "numba"), JAX_ENABLE_COMPILATION_CACHE="false")


def measure(mode, cache):
    """One child process on the caches under ``cache``: {step: seconds}."""
    env = cache_env(cache)
    out = subprocess.run([sys.executable, __file__, "--child", mode], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        print(json.dumps(dict(build_steps(args.child))))
        return
    times = {(who, kind): [] for who in MODES for kind in ("cold", "warm")}
    for repeat in range(args.repeats):
        for who, mode in MODES.items():
            with tempfile.TemporaryDirectory(prefix="dae-bench-compile-") as cache:
                for kind in ("cold", "warm"):
                    times[who, kind].append(measure(mode, Path(cache)))
        print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)

    def median(who, kind, step):
        values = [run[step] if step != "total" else sum(run.values()) for run in times[who, kind]]
        return statistics.median(values)

    print(f"# {cpu_name()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"median wall seconds of {args.repeats} processes each")
    print("| step | dae cold | PyTensor cold | dae / PyTensor | dae warm | PyTensor warm |")
    print("|---|---|---|---|---|---|")
    for step in STEPS + ("total",):
        dae_cold, pt_cold = median("dae", "cold", step), median("pytensor", "cold", step)
        print(f"| {step} | {dae_cold:.2f} | {pt_cold:.2f} | {dae_cold / pt_cold:.2f} "
              f"| {median('dae', 'warm', step):.2f} | {median('pytensor', 'warm', step):.2f} |")


if __name__ == "__main__":
    main()

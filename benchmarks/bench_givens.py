"""The tutorials' givens path against dae's training step, one dA epoch each.

The Theano tutorials compile ``train_da(index)`` with the minibatch cut inside
the graph::

    theano.function([index], cost, updates=updates,
                    givens={x: train_x[index * batch_size:(index + 1) * batch_size]})

dae's :func:`dae.train.compile_step` cuts it in NumPy and passes it in. This
times one epoch of the same dA graph (784-500, 30% masking, SGD at 0.1) both
ways, in one process, alternating, and prints median CPU seconds and each
path's ratio to ``compile_step``:

=============  ================================================================
contender      what runs
=============  ================================================================
compile_step   ``dae.train.compile_step`` and ``step(i)``, what dae's scripts run
dae.theano     ``dae.theano.function(..., givens=...)``, what the tutorials run
pytensor       ``pytensor.function(..., givens=...)`` (dae's SdA pretraining)
=============  ================================================================

at batch 20 (the dA tutorial) and batch 1 (the SdA tutorial's pretraining).
CPU time, not wall time: the machine is shared. Run from the repository root::

    DAE_DATA_DIR=/path/to/mnist python benchmarks/bench_givens.py
"""
import argparse
import os
import platform
import sys
import time
from pathlib import Path

D, H, LEVEL, LR = 784, 500, 0.3, 0.1


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, nargs="+", default=[20, 1],
                   help="minibatch sizes (default 20 1)")
    p.add_argument("--examples", type=int, default=10000,
                   help="examples per epoch (default 10000); a batch b under 20 uses "
                        "examples * b / 20 of them, at least 1000")
    p.add_argument("--repeats", type=int, default=7, help="timed epochs per contender (default 7)")
    p.add_argument("--mode", default="numba", help="dae's compile mode (default numba)")
    p.add_argument("--data-dir", type=Path, default=None, help="MNIST folder (default $DAE_DATA_DIR)")
    args = p.parse_args(argv)
    if min(args.batches) < 1 or args.repeats < 1 or args.examples < max(args.batches):
        p.error("batches and repeats must be >= 1, examples >= the largest batch")
    return args


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build_da():
    import numpy as np
    from dae.dA import dA
    from dae.random import RandomStreams

    rng = np.random.RandomState(123)
    da = dA(rng, theano_rng=RandomStreams(rng.randint(2**30)), n_visible=D, n_hidden=H)
    cost, updates = da.get_cost_updates(corruption_level=LEVEL, learning_rate=LR)
    return da, cost, updates


def contenders(x, batch, mode):
    """name -> function running one epoch; every one on a fresh dA with the same seed."""
    import pytensor
    import pytensor.tensor as pt

    import dae.theano
    from dae.config import get_mode
    from dae.train import compile_step

    data = pytensor.shared(x, borrow=True)
    n_batches = len(x) // batch

    da, cost, updates = build_da()
    step = compile_step({da.x: data}, batch, cost, updates, mode)

    def with_givens(function):
        da, cost, updates = build_da()
        index = pt.lscalar("index")
        return function([index], cost, updates=updates, mode=get_mode(mode),
                        givens={da.x: data[index * batch:(index + 1) * batch]})

    train_layer, train_pytensor = with_givens(dae.theano.function), with_givens(pytensor.function)

    def epoch(f):
        def run():
            for i in range(n_batches):
                f(i)
        return run

    return {"compile_step": epoch(step), "dae.theano": epoch(train_layer),
            "pytensor": epoch(train_pytensor)}


def alternate(runs, repeats):
    """Median CPU seconds of each run over ``repeats`` alternated calls, after one warm-up."""
    import numpy as np

    for run in runs.values():
        run()  # Numba's compile
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as bench_dA: one BLAS thread
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np

    from dae.data import load_mnist

    (x, _), _, _ = load_mnist(args.data_dir)
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); dA 784-500, mode {args.mode}, "
          f"{args.repeats} alternated repeats, median CPU seconds per epoch")
    for batch in args.batches:
        n = max(1000, args.examples * batch // 20) if batch < 20 else args.examples
        n -= n % batch
        result = alternate(contenders(np.ascontiguousarray(x[:n]), batch, args.mode),
                           args.repeats)
        base = result["compile_step"]
        print(f"\nbatch {batch}, {n} examples ({n // batch} calls an epoch)")
        print(f"  {'contender':13s} {'CPU s':>7s} {'us/call':>8s} {'/compile_step':>14s}")
        for name, seconds in result.items():
            print(f"  {name:13s} {seconds:7.3f} {1e6 * seconds / (n // batch):8.1f} "
                  f"{seconds / base:14.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

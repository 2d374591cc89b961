"""One training epoch of the tutorial's dA, side by side: dae against its peers.

Contenders (each trains a 784-500 tied dA with 30% masking, cross-entropy and
SGD at learning rate 0.1, minibatches of 20, in float32):

* ``dae``      ``compile_step`` + ``fit``, what ``scripts/train_dA.py`` runs;
* ``numpy``    the same math written by hand in NumPy (OpenBLAS);
* ``jax``      ``jax.jit`` of a ``lax.scan`` over the epoch's minibatches;
* ``torch``    PyTorch eager with autograd.

A peer that is not installed is skipped with a note. Repeats alternate between
the contenders (the machine is shared: a slow spell hits all of them) and the
medians are reported, with dae's ratio to each peer and the GFLOP/s of the five
matrix products of each step, set against the sgemm peak measured here (a
2000x2000 float32 product in NumPy). Then, for each size, dae's epoch as the
experiment runs it (``Session.fit``: progress bar, Ctrl-C and divergence
checks, checkpoint, metrics and epoch line) against the bare loop of its
compiled step, alternated epoch by epoch, with the overhead per step
(``--no-experiment`` skips it). ``--variants`` adds dae-only timings
against PyTensor's own Numba mode (``plain_numba``): a cA (batch 10), an SdA
layer (the second dA of a 784-1000-1000 SdA, batch 20) and the SdA's
pretraining at batch 1, as the tutorial runs it, in calls per second.

BLAS, XLA and PyTorch threads are set by ``--threads`` (default 1, before any
of them is imported): on a machine shared with other jobs, a second BLAS thread
that waits for a busy core makes small products many times slower.

Run from the repository root (MNIST from ``$DAE_DATA_DIR`` or ``--data-dir``)::

    python benchmarks/bench_dA.py --sizes 10000 50000 --repeats 5
"""
import argparse
import os
import sys
import time
from pathlib import Path

D, H, BATCH, LEVEL, LR = 784, 500, 20, 0.3, 0.1


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10000, 50000],
                   help="training examples per epoch (default 10000 50000)")
    p.add_argument("--repeats", type=int, default=5, help="timed epochs per contender (default 5)")
    p.add_argument("--mode", default="numba", help="dae's compile mode (default numba)")
    p.add_argument("--threads", type=int, default=1, help="BLAS/XLA/PyTorch threads (default 1)")
    p.add_argument("--contenders", nargs="+", default=["dae", "numpy", "jax", "torch"],
                   choices=["dae", "numpy", "jax", "torch"])
    p.add_argument("--no-experiment", action="store_true",
                   help="skip the experiment path (Session.fit) against the bare step loop")
    p.add_argument("--variants", action="store_true",
                   help="also time the cA, SdA-layer and batch-1 variants (dae against plain_numba)")
    p.add_argument("--data-dir", type=Path, default=None, help="MNIST folder (default $DAE_DATA_DIR)")
    args = p.parse_args(argv)
    if min(args.sizes) < BATCH or args.repeats < 1 or args.threads < 1:
        p.error("sizes must be >= 20, repeats and threads >= 1")
    return args


def limit_threads(n):
    """Must run before NumPy, JAX or PyTorch is imported."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    if n == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()


# -- contenders: each returns a function that trains one epoch on x ------------------------
def dae_epoch(x, mode, batch_size=BATCH):
    import numpy as np
    import pytensor
    from dae.dA import dA
    from dae.random import RandomStreams
    from dae.train import compile_step, fit

    rng = np.random.RandomState(123)
    da = dA(rng, theano_rng=RandomStreams(rng.randint(2**30)), n_visible=D, n_hidden=H)
    cost, updates = da.get_cost_updates(corruption_level=LEVEL, learning_rate=LR)
    step = compile_step({da.x: pytensor.shared(x, borrow=True)}, batch_size, cost, updates, mode)
    return lambda: fit(step, step.n_steps, 1)[0]["cost"]


def numpy_epoch(x, batch_size=BATCH):
    import numpy as np

    rng = np.random.RandomState(123)
    bound = 4 * np.sqrt(6 / (D + H))
    W = rng.uniform(-bound, bound, (D, H)).astype(np.float32)
    b, b_prime = np.zeros(H, np.float32), np.zeros(D, np.float32)
    gen = np.random.default_rng(0)
    lr, level, one = np.float32(LR), np.float32(LEVEL), np.float32(1)

    def epoch():
        nonlocal W, b, b_prime
        costs = []
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size]
            x_tilde = xb * (gen.random(xb.shape, dtype=np.float32) >= level)
            y = x_tilde @ W
            y += b
            y = one / (one + np.exp(-y))
            a = y @ W.T
            a += b_prime
            e = np.exp(-np.abs(a))  # shared by softplus(a) and sigmoid(a), as in dae
            costs.append(np.mean(np.sum(np.maximum(a, 0) + np.log1p(e) - xb * a, axis=1)))
            da = np.where(a >= 0, one, e) / (one + e)  # z = sigmoid(a)
            da -= xb
            da /= np.float32(len(xb))
            dy = da @ W
            dy *= y * (one - y)
            W -= lr * (x_tilde.T @ dy + da.T @ y)
            b -= lr * dy.sum(axis=0)
            b_prime -= lr * da.sum(axis=0)
        return float(np.mean(costs))

    return epoch


def jax_epoch(x):
    import jax
    import jax.numpy as jnp
    import numpy as np

    batches = jnp.asarray(x[:len(x) // BATCH * BATCH].reshape(-1, BATCH, D))
    rng = np.random.RandomState(123)
    bound = 4 * np.sqrt(6 / (D + H))
    state = [jnp.asarray(rng.uniform(-bound, bound, (D, H)).astype(np.float32)),
             jnp.zeros(H, jnp.float32), jnp.zeros(D, jnp.float32), jax.random.PRNGKey(0)]

    def loss(params, xb, mask):
        W, b, b_prime = params
        y = jax.nn.sigmoid((xb * mask) @ W + b)
        a = y @ W.T + b_prime
        return jnp.mean(jnp.sum(jax.nn.softplus(a) - xb * a, axis=1))

    def step(carry, xb):
        W, b, b_prime, key = carry
        key, sub = jax.random.split(key)
        mask = (jax.random.uniform(sub, xb.shape) >= LEVEL).astype(jnp.float32)
        cost, (gW, gb, gbp) = jax.value_and_grad(loss)((W, b, b_prime), xb, mask)
        return (W - LR * gW, b - LR * gb, b_prime - LR * gbp, key), cost

    @jax.jit
    def run(W, b, b_prime, key):
        return jax.lax.scan(step, (W, b, b_prime, key), batches)

    def epoch():
        carry, costs = run(*state)
        state[:] = carry
        return float(jnp.mean(costs.block_until_ready()))

    return epoch


def torch_epoch(x, threads):
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    data = torch.from_numpy(x)
    rng = np.random.RandomState(123)
    bound = 4 * np.sqrt(6 / (D + H))
    W = torch.tensor(rng.uniform(-bound, bound, (D, H)).astype(np.float32), requires_grad=True)
    b = torch.zeros(H, requires_grad=True)
    b_prime = torch.zeros(D, requires_grad=True)
    gen = torch.Generator().manual_seed(0)

    def epoch():
        costs = []
        for start in range(0, len(data), BATCH):
            xb = data[start:start + BATCH]
            mask = (torch.rand(xb.shape, generator=gen) >= LEVEL).float()
            y = torch.sigmoid((xb * mask) @ W + b)
            a = y @ W.T + b_prime
            cost = torch.mean(torch.sum(torch.nn.functional.softplus(a) - xb * a, dim=1))
            cost.backward()
            with torch.no_grad():
                for p in (W, b, b_prime):
                    p -= LR * p.grad
                    p.grad = None
            costs.append(cost.item())
        return float(np.mean(costs))

    return epoch


def experiment_path(x, mode, repeats, batch_size=BATCH):
    """Seconds per epoch of the dA step four ways, alternated: the bare loop of its compiled
    function, ``step(i)`` calls, :func:`dae.train.fit`, and ``Session.fit`` as
    ``scripts/train_dA.py`` runs it (a progress bar, written to /dev/null). The bare contenders
    run inside the session's epoch-end hook, on a second dA over the same data, so each session
    epoch is timed from one hook to the next: its training, its checks and its epoch-end
    work (checkpoint, metrics, the epoch line). Returns ``{name: [seconds...]}`` and the
    stage's end (the learning curve, drawn once per stage) in seconds."""
    import contextlib
    import tempfile

    import numpy as np
    import pytensor
    from dae.dA import dA
    from dae.experiments.common import Report
    from dae.random import RandomStreams
    from dae.session import Session
    from dae.train import compile_step, fit

    def build():
        rng = np.random.RandomState(123)
        da = dA(rng, theano_rng=RandomStreams(rng.randint(2**30)), n_visible=D, n_hidden=H)
        cost, updates = da.get_cost_updates(corruption_level=LEVEL, learning_rate=LR)
        return da, compile_step({da.x: pytensor.shared(x, borrow=True)}, batch_size, cost, updates, mode)

    (da, step), (_, other) = build(), build()
    f, n = other.function, other.n_steps

    def bare():
        for i in range(n):
            f(x[i * batch_size:(i + 1) * batch_size])

    def calls():
        for i in range(n):
            other(i)

    bare_ones = {"bare f(x[i*b:(i+1)*b])": bare, "step(i) loop": calls,
                 "train.fit": lambda: fit(other, n, 1)}
    for run in bare_ones.values():
        run()  # compile, JIT, caches
    times = {name: [] for name in [*bare_ones, "Session.fit"]}
    last = []

    def hook(record):
        if last:
            times["Session.fit"].append(time.perf_counter() - last[-1])
        if record["epoch"] < repeats:  # epoch 0 is the warm-up
            for name, run in bare_ones.items():
                times[name].append(_timed(run))
        last.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as sink, \
            contextlib.redirect_stderr(sink):
        report = Report(line=lambda text: None, bars=True)
        with Session("bench", {"size": len(x)}, output_dir=folder, report=report.line,
                     progress=report.progress) as session:
            session.fit("stage", da, step, repeats + 1, on_epoch=hook)
            stage_end = time.perf_counter() - last[-1]
    return times, stage_end


def compare_experiment(args):
    import numpy as np

    for n in args.sizes:
        times, stage_end = experiment_path(load_x(args.data_dir, n), args.mode, args.repeats)
        steps = -(-n // BATCH)
        bare = float(np.median(times["bare f(x[i*b:(i+1)*b])"]))
        print(f"\nthe experiment path against the bare step loop: {n} examples, batch {BATCH}, "
              f"{steps} steps, {args.repeats} alternated epochs (medians)")
        print(f"  {'loop':24s} {'s/epoch':>8s} {'us/step':>8s} {'over bare':>10s} {'us/step':>8s}")
        for name, t in times.items():
            median = float(np.median(t))
            print(f"  {name:24s} {median:8.3f} {1e6 * median / steps:8.1f} "
                  f"{100 * (median / bare - 1):+9.1f}% {1e6 * (median - bare) / steps:+8.1f}")
        print(f"  and once per stage (the learning curve): {stage_end:.3f} s")


# -- dae-only variants, against PyTensor's own Numba mode -----------------------------------
def ca_epoch(x, mode):
    import numpy as np
    import pytensor
    from dae.cA import cA
    from dae.train import compile_step, fit

    ca = cA(np.random.RandomState(123), n_visible=D, n_hidden=500, n_batchsize=10)
    cost, updates = ca.get_cost_updates(contraction_level=0.1, learning_rate=0.01)
    step = compile_step({ca.x: pytensor.shared(x, borrow=True)}, 10, cost, updates, mode)
    return lambda: fit(step, step.n_steps, 1)[0]["cost"]


def sda_layer_epoch(x, mode, layer=1, batch_size=BATCH):
    """Pretraining epoch of one SdA layer through the tutorial's ``pretraining_functions``."""
    import numpy as np
    import pytensor
    from dae.SdA import SdA

    sda = SdA(np.random.RandomState(89677), n_ins=D, hidden_layers_sizes=[1000, 1000, 1000],
              corruption_levels=[0.1, 0.2, 0.3])
    function = sda.pretraining_functions(pytensor.shared(x, borrow=True), batch_size, mode)[layer]
    level = sda.corruption_levels[layer]

    def epoch():
        return float(np.mean([function(i, corruption=level, lr=0.001) for i in range(function.n_steps)]))

    return epoch


# -- timing ------------------------------------------------------------------------------
# OpenBLAS's threads spin for a while after a product before they sleep: on two cores the
# contender timed right after one that used OpenBLAS's threads ran 1.10-1.13x slower (the
# VAE and IWAE k=5 steps in JAX mode, hand-written or dae's, whichever came after dae's Numba
# step; benchmarks/README.md, 2026-12-04). A pause before each timed run lets them sleep.
SETTLE = 0.3


def alternate(contenders, repeats, times=None):
    """Median and min seconds of each contender over ``repeats`` alternated runs (after one warm-up).

    ``times``, a dict, receives each contender's list of seconds (the raw numbers).
    """
    import numpy as np

    for run in contenders.values():
        run()  # compile, JIT, caches
    times = {} if times is None else times
    times.update({name: [] for name in contenders})
    for _ in range(repeats):
        for name, run in contenders.items():
            time.sleep(SETTLE)
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: (float(np.median(t)), min(t)) for name, t in times.items()}


def sgemm_peak():
    """GFLOP/s of a 2000x2000 float32 product in NumPy, best of five."""
    import numpy as np

    a = np.random.default_rng(0).random((2000, 2000), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(5))
    return 2 * 2000**3 / best / 1e9


def openblas_kernels():
    """The OpenBLAS kernels in use, ``{"numpy": "Haswell", "scipy": ...}`` (SciPy's is Numba's)."""
    import ctypes
    import numpy
    import scipy
    import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's OpenBLAS)

    found = {}
    for name, package, symbol in (("numpy", numpy, "scipy_openblas_get_corename64_"),
                                  ("scipy", scipy, "scipy_openblas_get_corename")):
        libs = Path(package.__file__).resolve().parent.parent / f"{name}.libs"
        for path in sorted(libs.glob("lib*openblas*")):
            getter = getattr(ctypes.CDLL(str(path)), symbol, None)
            if getter is not None:
                getter.restype = ctypes.c_char_p
                found[name] = getter().decode()
    return found


def _timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def epoch_gflop(n, d=D, h=H):
    """The five products of each tied-dA step (encode, decode, two for dW, one for dy)."""
    return 10 * n * d * h / 1e9


def load_x(data_dir, n):
    import numpy as np
    from dae.data import load_mnist

    (x, _), _, _ = load_mnist(data_dir)
    if n > len(x):
        raise SystemExit(f"--sizes {n}: MNIST's training set has {len(x)} examples")
    return np.ascontiguousarray(x[:n])


def compare(args, peak):
    builders = {
        "dae": lambda x: dae_epoch(x, args.mode),
        "numpy": numpy_epoch,
        "jax": jax_epoch,
        "torch": lambda x: torch_epoch(x, args.threads),
    }
    for n in args.sizes:
        x = load_x(args.data_dir, n)
        contenders = {}
        for name in args.contenders:
            try:
                contenders[name] = builders[name](x)
            except ImportError as exc:
                print(f"  [{name} skipped: {exc.name or exc} is not installed]")
        result = alternate(contenders, args.repeats)
        flop = epoch_gflop(n)
        print(f"\n{n} examples, batch {BATCH}, {args.repeats} alternated repeats, "
              f"{args.threads} thread(s); {flop:.1f} GFLOP of products per epoch")
        print(f"  {'contender':10s} {'median s':>9s} {'min s':>7s} {'GFLOP/s':>8s} {'% peak':>7s} "
              f"{'dae/this':>9s}")
        dae_median = result.get("dae", (None,))[0]
        for name, (median, best) in result.items():
            ratio = f"{dae_median / median:9.2f}" if dae_median else ""
            print(f"  {name:10s} {median:9.3f} {best:7.3f} {flop / median:8.1f} "
                  f"{100 * flop / median / peak:6.0f}% {ratio}")


def variants(args):
    x = load_x(args.data_dir, min(args.sizes))
    n = len(x)
    print(f"\nvariants on {n} examples: dae's mode ({args.mode}) against PyTensor's "
          f"Numba mode (plain_numba)")
    cases = {"cA 784-500, batch 10": ca_epoch, "SdA layer 2 (1000-1000), batch 20": sda_layer_epoch}
    for label, build in cases.items():
        result = alternate({"dae": build(x, args.mode), "plain": build(x, "plain_numba")},
                           args.repeats)
        (dae_s, _), (plain_s, _) = result["dae"], result["plain"]
        print(f"  {label:36s} dae {dae_s:6.3f} s   plain_numba {plain_s:6.3f} s   "
              f"ratio {dae_s / plain_s:.2f}")
    # batch 1: the SdA tutorial's pretraining, and the dA step itself
    calls = min(n, 2000)
    xs = x[:calls]
    result = alternate({"dae": sda_layer_epoch(xs, args.mode, layer=0, batch_size=1),
                        "plain": sda_layer_epoch(xs, "plain_numba", layer=0, batch_size=1)},
                       args.repeats)
    print(f"  {'SdA layer 1 (784-1000), batch 1':36s} dae {calls / result['dae'][0]:6.0f} calls/s"
          f"   plain_numba {calls / result['plain'][0]:6.0f} calls/s")
    result = alternate({"dae": dae_epoch(xs, args.mode, batch_size=1),
                        "numpy": numpy_epoch(xs, batch_size=1)}, args.repeats)
    print(f"  {'dA 784-500, batch 1':36s} dae {calls / result['dae'][0]:6.0f} calls/s"
          f"   numpy {calls / result['numpy'][0]:6.0f} calls/s")


def main(argv=None):
    args = parse_args(argv)
    limit_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import dae  # noqa: F401  (float32, compile mode)

    peak = sgemm_peak()
    kernels = ", ".join(f"{k} {v}" for k, v in openblas_kernels().items()) or "unknown"
    print(f"sgemm peak (NumPy, 2000x2000 float32, {args.threads} thread(s)): {peak:.0f} GFLOP/s; "
          f"OpenBLAS kernels: {kernels} (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')})")
    compare(args, peak)
    if "dae" in args.contenders and not args.no_experiment:
        compare_experiment(args)
    if args.variants:
        variants(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The tutorial's LeNet on dae.theano against PyTorch's CPU Conv2d/MaxPool2d, side by side.

The network is ``convolutional_mlp.evaluate_lenet5``'s with its defaults, in
float32: 28x28 MNIST digits, minibatches of 500, two conv-pool layers of 20
and 50 5x5 filters with 2x2 max pooling and tanh (the tutorial's
``tanh(pool(conv(x)) + b)``), a 500-unit tanh layer, a softmax, the negative
log-likelihood and SGD at learning rate 0.1. Each timed run trains
``--batches`` minibatches (default 20, 10,000 examples: a fifth of the
tutorial's epoch of 100):

* ``dae``    the Theano code, run by dae.theano (``theano.function`` with the
  tutorial's ``givens`` minibatch slices) in ``--mode`` (default dae's Numba mode);
* ``torch``  the same network in PyTorch eager (``nn.Conv2d``, ``nn.MaxPool2d``,
  autograd, ``optim.SGD``), the same initial weights.

Runs alternate between the two (the machine is shared: a slow spell hits
both) and the medians are printed, with dae's ratio to PyTorch. Threads for
BLAS and PyTorch are set by ``--threads`` (default 1) before either is
imported.

``--heap-malloc`` makes glibc serve every allocation from its heap and keep
freed memory there (``mallopt``: no mmap, trim at 1 GiB), for both
contenders. By default glibc maps each block over 32 MB afresh (the second
layer's 64 MB im2col, its gradient) and every page of it faults on first
touch; on this virtual machine those faults cost more than the copy itself
(a 64 MB im2col: about 150 ms against 65 ms). PyTorch's direct convolutions
allocate no such blocks. Run from the repository root (MNIST from
``$DAE_DATA_DIR``)::

    python benchmarks/bench_lenet.py --batches 20 --repeats 5
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

BATCH, NKERNS, HIDDEN, LR = 500, (20, 50), 500, 0.1


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, default=20, help="minibatches of 500 a run (default 20)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per contender (default 5)")
    p.add_argument("--mode", default="numba", help="dae's compile mode (default numba)")
    p.add_argument("--threads", type=int, default=1, help="BLAS and PyTorch threads (default 1)")
    p.add_argument("--heap-malloc", action="store_true",
                   help="glibc: no mmap for large blocks, freed memory kept for reuse")
    p.add_argument("--data-dir", type=Path, default=None, help="MNIST folder (default $DAE_DATA_DIR)")
    args = p.parse_args(argv)
    if min(args.batches, args.repeats, args.threads) < 1:
        p.error("--batches, --repeats and --threads must be >= 1")
    return args


def initial_weights(seed=23455):
    """The tutorial's initialisation: uniform(+-sqrt(6 / (fan_in + fan_out))), zero biases."""
    import numpy as np

    rng = np.random.RandomState(seed)

    def uniform(shape, fan_in, fan_out):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    (k0, k1), flat = NKERNS, NKERNS[1] * 4 * 4
    return {"W0": uniform((k0, 1, 5, 5), 25, k0 * 25 // 4), "b0": np.zeros(k0, np.float32),
            "W1": uniform((k1, k0, 5, 5), k0 * 25, k1 * 25 // 4), "b1": np.zeros(k1, np.float32),
            "W2": uniform((flat, HIDDEN), flat, HIDDEN), "b2": np.zeros(HIDDEN, np.float32),
            "W3": np.zeros((HIDDEN, 10), np.float32), "b3": np.zeros(10, np.float32)}


def dae_run(x, y, weights, mode, n_batches):
    """The tutorial's graph through ``import theano`` = dae.theano; returns run() -> last cost."""
    import dae.theano
    dae.theano.install()
    import theano
    import theano.tensor as T
    from theano.tensor.nnet import conv2d
    from theano.tensor.signal import pool

    from dae.config import get_mode

    p = {k: theano.shared(v, name=k) for k, v in weights.items()}
    data_x, data_y = theano.shared(x), theano.shared(y)
    index, xs, ys = T.lscalar(), T.matrix("x"), T.ivector("y")

    def conv_pool(inp, W, b, image_shape):
        out = conv2d(inp, W, input_shape=image_shape, filter_shape=W.get_value().shape)
        return T.tanh(pool.pool_2d(out, (2, 2), ignore_border=True) + b.dimshuffle("x", 0, "x", "x"))

    h0 = conv_pool(xs.reshape((BATCH, 1, 28, 28)), p["W0"], p["b0"], (BATCH, 1, 28, 28))
    h1 = conv_pool(h0, p["W1"], p["b1"], (BATCH, NKERNS[0], 12, 12))
    h2 = T.tanh(T.dot(h1.flatten(2), p["W2"]) + p["b2"])
    p_y = T.nnet.softmax(T.dot(h2, p["W3"]) + p["b3"])
    cost = -T.mean(T.log(p_y)[T.arange(ys.shape[0]), ys])
    params = list(p.values())
    updates = [(v, v - LR * g) for v, g in zip(params, T.grad(cost, params))]
    train = theano.function([index], cost, updates=updates, mode=get_mode(mode),
                            givens={xs: data_x[index * BATCH:(index + 1) * BATCH],
                                    ys: data_y[index * BATCH:(index + 1) * BATCH]})
    return lambda: [float(train(i)) for i in range(n_batches)][-1]


def torch_run(x, y, weights, n_batches):
    import torch
    from torch import nn

    net = nn.Sequential(nn.Conv2d(1, NKERNS[0], 5), nn.MaxPool2d(2), nn.Tanh(),
                        nn.Conv2d(NKERNS[0], NKERNS[1], 5), nn.MaxPool2d(2), nn.Tanh(),
                        nn.Flatten(), nn.Linear(NKERNS[1] * 16, HIDDEN), nn.Tanh(),
                        nn.Linear(HIDDEN, 10))
    # The same start as dae's: Conv2d correlates (Theano's conv2d flips the
    # filters) and Linear keeps its weight as (out, in).
    with torch.no_grad():
        for layer, (w, b) in zip([net[0], net[3], net[7], net[9]],
                                 [("W0", "b0"), ("W1", "b1"), ("W2", "b2"), ("W3", "b3")]):
            wv = weights[w][:, :, ::-1, ::-1] if layer.weight.dim() == 4 else weights[w].T
            layer.weight.copy_(torch.from_numpy(wv.copy()))
            layer.bias.copy_(torch.from_numpy(weights[b]))
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    xt = torch.from_numpy(x).reshape(-1, 1, 28, 28)
    yt = torch.from_numpy(y.astype("int64"))
    loss_fn = nn.CrossEntropyLoss()

    def run():
        for i in range(n_batches):
            opt.zero_grad()
            loss = loss_fn(net(xt[i * BATCH:(i + 1) * BATCH]), yt[i * BATCH:(i + 1) * BATCH])
            loss.backward()
            opt.step()
        return loss.item()

    return run


def blas_report():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                     f"threads={i.get('num_threads')}" for i in threadpool_info())


def heap_malloc():
    """glibc: M_MMAP_MAX = 0 (no block mapped afresh), M_TRIM_THRESHOLD = 1 GiB (freed memory kept)."""
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    if not (libc.mallopt(-4, 0) and libc.mallopt(-1, 1 << 30)):
        raise SystemExit("--heap-malloc: glibc's mallopt refused; run without it")


def main(argv=None):
    args = parse_args(argv)
    if args.heap_malloc:
        heap_malloc()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np

    from dae.data import load_mnist

    (train_x, train_y), _, _ = load_mnist(args.data_dir)
    n = args.batches * BATCH
    if len(train_x) < n:
        raise SystemExit(f"--batches {args.batches} needs {n} training examples, MNIST has "
                         f"{len(train_x)}: pass a smaller --batches")
    x = np.ascontiguousarray(train_x[:n], dtype=np.float32)
    y = np.asarray(train_y[:n], dtype=np.int32)
    weights = initial_weights()
    contenders = {}
    start = time.perf_counter()
    contenders["dae"] = dae_run(x, y, weights, args.mode, args.batches)
    contenders["dae"]()  # compiles (and warms the caches), untimed
    print(f"dae.theano ({args.mode}): built, compiled and ran once in "
          f"{time.perf_counter() - start:.1f} s")
    try:
        import torch
        torch.set_num_threads(args.threads)
        contenders["torch"] = torch_run(x, y, weights, args.batches)
        contenders["torch"]()
        print(f"torch {torch.__version__}: {torch.get_num_threads()} threads, "
              f"mkldnn {torch.backends.mkldnn.is_available()}")
    except ImportError:
        print("torch: not installed, skipped (pip install torch)")
    times = {name: [] for name in contenders}
    costs = {}
    for _ in range(args.repeats):
        for name, run in contenders.items():
            t = time.perf_counter()
            costs[name] = run()
            times[name].append(time.perf_counter() - t)
    print(f"BLAS: {blas_report()}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}")
    print(f"malloc: {'heap only (--heap-malloc)' if args.heap_malloc else 'glibc default'}")
    print(f"{args.batches} minibatches of {BATCH} a run, {args.repeats} runs, medians:")
    print(f"{'contender':<10}{'s/run':>9}{'ms/batch':>10}{'last cost':>11}")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, m in medians.items():
        print(f"{name:<10}{m:>9.3f}{1000 * m / args.batches:>10.1f}{costs[name]:>11.4f}")
    if "torch" in medians:
        print(f"dae / torch = {medians['dae'] / medians['torch']:.2f}")


if __name__ == "__main__":
    main()

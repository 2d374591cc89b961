"""VAE on dynamically binarized MNIST, with a test ELBO and an importance-sampled NLL.

Defaults, and why: a 784-512-512-50 encoder with a mirrored decoder, ReLU
units, Adam at 1e-3 with batches of 100: the usual MLP VAE of the literature
(softplus units cost the same per epoch here, tanh a sixth more). Batches of
100 are large enough to keep the matrix products efficient and small enough
for 500 steps an epoch. The learning rate decays by ``--lr-decay`` (0.98) per
epoch, so the last epochs average the gradient noise out instead of jittering
around the optimum: after 100 epochs it is 1.3e-4. 100 epochs keep the whole
run, training and then k = 1000 importance samples on the 10,000 test images,
under 20 minutes on dae's 2-core development machine, shared with other jobs
(``OPENBLAS_NUM_THREADS=1 python scripts/train_vae.py``: 15.6 min wall, 12 min
of CPU; 6.9 s an epoch, 246 s for the NLL). That run reached a test ELBO of
-92.91 nats and a test NLL of 88.59 +- 0.24 nats (IWAE, k = 1000); published
anchors: pythae's VAE, 89.78 nats (200 importance samples), pylearn2's, about
93.8. The validation ELBO still rose at the end (-93.81 at epoch 90, -93.64
at epoch 100): more epochs would help a little.

Writes ``vae.npz`` (the trained model, for ``dae eval`` and ``dae sample``),
``samples.png``, ``reconstructions.png``, ``manifold.png`` (``--latent 2``),
``results.json`` (the numbers, their protocol and the per-epoch history) and,
as every session does, ``checkpoint.npz`` after every epoch (Adam's moments,
the decayed learning rate and the random state included), ``metrics.jsonl``
and ``learning_curve.png``. Ctrl-C during training or during the NLL saves
and says how to ``--resume``; a resumed run ends bit-identical.

Protocol: dynamic binarization in training (a fresh x_bin ~ Bernoulli(x) each
step); validation and test sets binarized once with ``--eval-seed`` (0), which
also seeds the evaluation's samples. Every number printed or written says so.
"""
import json

import numpy as np

from dae.experiments.common import (UserError, add_common_flags, non_negative_float,
                                    non_negative_int, positive_float, positive_int, start_session)

HELP = "variational autoencoder on binarized MNIST: ELBO, importance-sampled NLL, samples"


def run(args, report):
    with start_session(args, "vae", report, may_change=("epochs", "mode", "k")) as session:
        if args.iwae is not None and args.beta != 1:
            raise UserError(f"--beta {args.beta:g} with --iwae {args.iwae}: the IWAE bound has no "
                            "KL term to weigh; give one or the other")
        import pytensor

        from dae.config import floatX
        from dae.data import load_mnist
        from dae.evaluate import PROTOCOL, Evaluator, binarize
        from dae.random import RandomStreams
        from dae.train import compile_step
        from dae.utils import atomic_write, save_png
        from dae.VAE import VAE

        (train_x, _), (valid_x, _), (test_x, _) = load_mnist(args.data_dir)
        session.bind_data(train_x)
        session.info["image_shape"] = [28, 28]
        valid_bin, test_bin = binarize(valid_x, args.eval_seed), binarize(test_x, args.eval_seed)
        once = PROTOCOL.format(seed=args.eval_seed)

        rng = np.random.RandomState(args.seed)
        model = VAE(rng, theano_rng=RandomStreams(rng.randint(2**30)), n_visible=train_x.shape[1],
                    hidden_layers_sizes=args.hidden, n_latent=args.latent, activation=args.activation)
        learning_rate = pytensor.shared(np.asarray(args.learning_rate, floatX()), name="learning_rate")
        cost, updates = model.get_cost_updates(learning_rate, update_rule="adam", binarize=True,
                                               beta=args.beta, iwae=args.iwae)
        step = compile_step({model.x: pytensor.shared(train_x, borrow=True)}, args.batch_size, cost,
                            updates, args.mode)
        # Reseeded at every call, so a validation ELBO depends on the weights only
        # (and a resumed run reports the same numbers), and `dae eval vae.npz
        # --samples K --seed S` reproduces the test numbers below.
        evaluator = Evaluator(model, seed=args.eval_seed, mode=args.mode)
        report.line(f"VAE {'-'.join(map(str, [model.n_visible] + model.hidden_layers_sizes + [model.n_latent]))}"
                    f" ({args.activation}), Adam lr {args.learning_rate:g} x {args.lr_decay:g}/epoch, "
                    f"batch {args.batch_size}, {args.epochs} epochs; cost = {_objective(args)} on "
                    f"dynamically binarized batches, valid ELBO on the validation set {once}")

        def on_epoch(record):
            record["valid_elbo"] = float(evaluator.elbo(valid_bin).mean())
            learning_rate.set_value(learning_rate.get_value() * np.asarray(args.lr_decay, floatX()))

        session.fit("vae", model, step, args.epochs, on_epoch=on_epoch, state=[learning_rate])
        report.line(f"wrote {session.save_model(model, 'vae.npz')} (dae eval / dae sample read it)")

        def evaluate(check):
            import time
            started = time.perf_counter()
            elbo = float(evaluator.elbo(test_bin).mean())
            bar = report.progress(f"IWAE k={args.k}")

            def batches(starts):  # stops cleanly between batches on Ctrl-C
                for start in (starts if bar is None else bar(starts, 0)):
                    check()
                    yield start
            iwae = evaluator.iwae(test_bin, args.k, progress=batches)
            return {"test_elbo": elbo, "test_nll": -float(iwae.mean()),
                    "test_nll_stderr": float(iwae.std() / np.sqrt(len(iwae))),
                    "eval_seconds": time.perf_counter() - started}

        results = session.run("evaluate", evaluate)
        report.line(f"test ELBO {results['test_elbo']:.2f} nats (one z per image, analytic KL; "
                    f"test set {once})")
        report.line(f"test NLL {results['test_nll']:.2f} nats (IWAE k={args.k}; test set {once}) "
                    f"+- {results['test_nll_stderr']:.2f} standard error over images; "
                    f"{results['eval_seconds']:.0f} s")

        from dae.plots import manifold_image, reconstructions_image, samples_image
        pictures = {"samples.png": samples_image(model, 100, seed=args.seed, mode=args.mode),
                    "reconstructions.png": reconstructions_image(model, test_bin[:50], mode=args.mode)}
        if model.n_latent == 2:
            pictures["manifold.png"] = manifold_image(model, mode=args.mode)
        for name, image in pictures.items():
            report.line(f"wrote {save_png(image, args.output_dir / name)}")

        history = [r for r in session.history if r["stage"] == "vae"]
        summary = {
            "protocol": f"dynamic binarization in training; validation and test sets binarized "
                        f"once with seed {args.eval_seed}",
            **results, "test_elbo_method": "one z per image, analytic KL",
            "test_nll_method": f"IWAE bound, k={args.k}", "k": args.k,
            "train_seconds": sum(r["seconds"] for r in history),
            "hyperparameters": model.hyperparameters(),
            "flags": {key: str(value) for key, value in vars(args).items()
                      if key != "run" and not key.startswith("_")},
            "history": history,
        }
        with atomic_write(args.output_dir / "results.json", "w") as f:
            json.dump(summary, f, indent=1)
        report.line(f"wrote {args.output_dir / 'results.json'}")
        report.line(f"wrote {session.finish()}")
    return 0


def _objective(args):
    if args.iwae is not None:
        return f"-L_{args.iwae} (IWAE bound, {args.iwae} samples)"
    return "-ELBO" if args.beta == 1 else f"-(log p(x|z) - {args.beta:g} KL) (beta-VAE)"


def add_flags(p):
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[512, 512],
                   help="encoder hidden layer sizes; the decoder mirrors them (default 512 512)")
    p.add_argument("--latent", type=positive_int, default=50, help="latent dimensions (default 50)")
    p.add_argument("--activation", choices=["relu", "softplus", "tanh", "sigmoid"], default="relu",
                   help="hidden units (default relu)")
    p.add_argument("--learning-rate", type=positive_float, default=1e-3, help="Adam step (default 1e-3)")
    p.add_argument("--lr-decay", type=positive_float, default=0.98,
                   help="learning rate factor after each epoch (default 0.98; 1 keeps it constant)")
    p.add_argument("--batch-size", type=positive_int, default=100, help="minibatch size (default 100)")
    p.add_argument("--epochs", type=positive_int, default=100, help="training epochs (default 100)")
    p.add_argument("--beta", type=non_negative_float, default=1.0,
                   help="weight of the KL term in the training cost (default 1: the VAE; "
                        "above 1 a beta-VAE)")
    p.add_argument("--iwae", type=positive_int, default=None, metavar="K",
                   help="train on the importance-weighted bound with K samples (Burda et al. "
                        "2016) instead of the ELBO (default: the ELBO)")
    p.add_argument("--k", type=positive_int, default=1000,
                   help="importance samples for the test NLL (default 1000)")
    p.add_argument("--eval-seed", type=non_negative_int, default=0,
                   help="seed binarizing the validation and test sets once, and of the evaluation's "
                        "samples (default 0)")
    add_common_flags(p, seed=123, output_dir="vae_plots")

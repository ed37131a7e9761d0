"""How sharp fast mode is: how often it catches small errors, by input size.

    python bench/gradcheck_detection.py                       # sizes 10 .. 10^6
    python bench/gradcheck_detection.py --sizes 1000 1000000 --seeds 5

For each size n and seed (new inputs and new random directions per seed) it checks, in fast mode with
float32 inputs:

- ``sign flip``: fixtures/runtime/wrong_gradients.py's tanh_sign_flipped (one element of the gradient has
  the wrong sign: an error of 2|g_3| in one of n elements), counting the catches that name x[3];
- ``1% off``: softplus and log-sum-exp (over the whole input) whose gradients are 1.01 times the true one.

It prints the number caught out of the number of seeds. A single wrong element among 10^6 is 10^-6 of the
gradient, at fast mode's tolerance: not every seed catches it there.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from fixtures.runtime.wrong_gradients import softplus_one_percent, tanh_sign_flipped  # noqa: E402
from tapelint.runtime import GradientCheckError, check_gradients  # noqa: E402


@tf.custom_gradient
def logsumexp_one_percent(x):
    y = tf.reduce_logsumexp(x)

    def grad(dy):
        return 1.01 * dy * tf.nn.softmax(x)

    return y, grad


def caught(fn, x, seed, says=None) -> bool:
    try:
        check_gradients(fn, x, seed=seed)
    except GradientCheckError as e:
        return says is None or says in str(e)
    return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10, 100, 1000, 10**4, 10**5, 10**6])
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args(argv)

    start = time.perf_counter()
    print(f"{'n':>9} {'sign flip':>10} {'softplus 1%':>12} {'logsumexp 1%':>13}   (caught / {args.seeds} seeds)")
    for n in args.sizes:
        counts = [0, 0, 0]
        for seed in range(args.seeds):
            x = tf.constant(np.random.default_rng(seed).normal(size=n), tf.float32)
            counts[0] += n > 3 and caught(tanh_sign_flipped, x, seed, "worst coordinate: x[3]")
            counts[1] += caught(softplus_one_percent, x, seed)
            counts[2] += caught(logsumexp_one_percent, x, seed)
        flip = f"{counts[0]}" if n > 3 else "-"
        print(f"{n:>9} {flip:>10} {counts[1]:>12} {counts[2]:>13}", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

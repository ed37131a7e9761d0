"""Cost of tapelint's gradient checks against one forward+backward pass and tf.test.compute_gradient.

    python bench/gradcheck_speed.py                 # sizes 10 .. 10^6, both functions
    python bench/gradcheck_speed.py --sizes 10 1000000 --repeats 5

The functions are fixtures/runtime/correct_gradients.py's softplus (elementwise) and logsumexp (over the
last axis: here the whole input, a scalar output). For each function and input size n it prints: the time of one forward+backward pass (eager, the
caller's float32); ``fast`` mode's time, its number of function evaluations and its cost as a multiple
of that pass (target: at most 10x at every size); ``full`` mode; ``tf.test.compute_gradient`` (which
builds both Jacobians: 1 + m + 2n forward calls). full and compute_gradient run only where they finish
in reasonable time, otherwise "skipped (n too large)". Times are the best of --repeats runs after a
warm-up run (the best, not the median: on a shared machine other processes only ever add time); the
forward+backward pass and fast mode are timed alternately, so that both see the same load.
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

from fixtures.runtime.correct_gradients import logsumexp, softplus  # noqa: E402
from tapelint.runtime import check_gradients  # noqa: E402


FUNCTIONS = {"softplus (elementwise, m = n)": softplus, "logsumexp (reduction, m = 1)": logsumexp}


class Counted:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *a):
        self.calls += 1
        return self.fn(*a)


def best_time(run, repeats):
    return best_times([run], repeats)[0]


def best_times(runs, repeats):
    """The best time of each of ``runs``, timed in turn ``repeats`` times after a warm-up."""
    for run in runs:
        run()
    times = [[] for _ in runs]
    for _ in range(repeats):
        for run, spent in zip(runs, times):
            t = time.perf_counter()
            run()
            spent.append(time.perf_counter() - t)
    return [min(spent) for spent in times]


def forward_backward(fn, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    g = tape.gradient(y, x)
    g.numpy()


def ms(seconds):
    return f"{1e3 * seconds:10.2f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10, 100, 1000, 10**4, 10**5, 10**6])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--full-max", type=int, default=10**4,
                    help="largest n for full mode (which also refuses Jacobians over 10^6 entries)")
    ap.add_argument("--compute-gradient-max", type=int, default=1000,
                    help="largest n for tf.test.compute_gradient (n = 10^4 takes about half a minute)")
    args = ap.parse_args(argv)

    print(f"TensorFlow {tf.__version__}, device {tf.config.list_logical_devices()[-1].name}, "
          f"{os.cpu_count()} CPUs; float32 inputs; times in ms (best of {args.repeats})")
    worst = 0.0
    for title, fn in FUNCTIONS.items():
        print(f"\n{title}")
        print(f"{'n':>9} {'fwd+bwd':>10} | {'fast':>10} {'evals':>6} {'x f+b':>7} | {'full':>10} {'evals':>6} "
              f"| {'compute_gradient':>16} {'evals':>7}")
        for n in args.sizes:
            x = tf.constant(np.random.default_rng(0).normal(size=n), tf.float32)
            reports = []
            fb, fast = best_times([lambda: forward_backward(fn, x),
                                   lambda: reports.append(check_gradients(fn, x, mode="fast"))], args.repeats)
            fast_evals = reports[-1].evaluations
            ratio = fast / fb
            worst = max(worst, ratio)
            full_txt = f"{'skipped (n too large)':>17}"
            if n <= args.full_max:
                reports.clear()
                try:
                    full = best_time(lambda: reports.append(check_gradients(fn, x, mode="full")),
                                     max(1, args.repeats // 3))
                    full_txt = f"{ms(full)} {reports[-1].evaluations:>6}"
                except ValueError:  # over full mode's Jacobian limit
                    pass
            if n <= args.compute_gradient_max:
                counted = Counted(fn)
                cg_repeats = max(1, args.repeats // 3)
                cg = best_time(lambda: tf.test.compute_gradient(counted, [x]), cg_repeats)
                cg_txt = f"{ms(cg):>16} {counted.calls // (cg_repeats + 1):>7}"
            else:
                cg_txt = f"{'skipped (n too large)':>24}"
            print(f"{n:>9} {ms(fb)} | {ms(fast)} {fast_evals:>6} {ratio:>6.1f}x | {full_txt} | {cg_txt}",
                  flush=True)
    print(f"\nworst fast / (forward+backward): {worst:.1f}x (target: at most 10x)")


if __name__ == "__main__":
    main()

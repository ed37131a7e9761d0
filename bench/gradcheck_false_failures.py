"""False-failure rate of tapelint's checker on the library of correct custom gradients.

    python bench/gradcheck_false_failures.py                     # 200 seeds, fast mode, float32 + float64
    python bench/gradcheck_false_failures.py --seeds 50 --full-seeds 20 --large-seeds 10

Each seed draws new inputs for every case in fixtures/runtime/correct_gradients.py and new random
directions for the check (seed = the same number). Every check must pass: the rate printed at the end
should be 0. ``--full-seeds`` also runs full mode on that many seeds; ``--large-seeds`` runs fast mode on
inputs and variables of 10^4 to 10^5 elements (where fast mode compares one direction, in one pass over
the memory) on that many seeds. Also prints the largest relative error seen per case, i.e. the margin below
the tolerance.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tensorflow as tf  # noqa: E402

from fixtures.runtime.correct_gradients import CASES, _normal, logsumexp, softplus  # noqa: E402
from fixtures.runtime.environments import TanhDense  # noqa: E402
from tapelint.runtime import GradientError, check_gradients  # noqa: E402


def _large_dense(dtype, seed):
    layer = TanhDense(200, 50, seed=seed + 100, dtype=dtype)  # w has 10^4 elements
    return layer, (_normal(seed, (16, 200), dtype),), {}


LARGE_CASES = {
    "softplus_1e5": lambda dtype, seed: (softplus, (_normal(seed, (10**5,), dtype, 2.0),), {}),
    "logsumexp_1e5": lambda dtype, seed: (logsumexp, (_normal(seed, (10**5,), dtype, 3.0),), {}),
    "dense_variable_1e4": _large_dense,
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--full-seeds", type=int, default=0)
    ap.add_argument("--large-seeds", type=int, default=20)
    ap.add_argument("--cases", nargs="*", default=sorted(CASES))
    args = ap.parse_args(argv)

    runs = failures = 0
    worst = collections.defaultdict(float)
    examples = []
    start = time.perf_counter()
    for mode, seeds, cases in (("fast", args.seeds, {n: CASES[n] for n in args.cases}),
                               ("full", args.full_seeds, {n: CASES[n] for n in args.cases}),
                               ("fast", args.large_seeds, LARGE_CASES)):
        for name, make in cases.items():
            for dtype in (tf.float32, tf.float64):
                for seed in range(seeds):
                    fn, a, kw = make(dtype, seed)
                    runs += 1
                    try:
                        report = check_gradients(fn, *a, mode=mode, seed=seed, **kw)
                        worst[(name, dtype.name, mode, report.reference_dtype)] = max(
                            worst[(name, dtype.name, mode, report.reference_dtype)], report.max_rel_error)
                    except GradientError as e:
                        failures += 1
                        examples.append(f"{name} {dtype.name} {mode} seed={seed}: {type(e).__name__}: "
                                        f"{str(e).splitlines()[0]}")
    print(f"{'case':<24}{'dtype':<9}{'mode':<6}{'reference':<11}{'max rel error':>14}")
    for (name, dtype, mode, ref), err in sorted(worst.items()):
        print(f"{name:<24}{dtype:<9}{mode:<6}{ref:<11}{err:>14.3g}")
    for line in examples[:20]:
        print("FALSE FAILURE", line)
    print(f"\n{runs} checks ({args.seeds} seeds fast, {args.full_seeds} seeds full; {len(args.cases)} cases; "
          f"{args.large_seeds} seeds fast on {len(LARGE_CASES)} large cases; float32 and float64) in "
          f"{time.perf_counter() - start:.0f} s: {failures} false failures, rate {failures / max(runs, 1):.4%}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

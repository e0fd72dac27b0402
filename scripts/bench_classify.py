"""Live nearest-prototype classification as a straightforward NumPy/SciPy program does it: the
reference beside `chipscope-bench classify` (run by scripts/bench-classify.sh).

Random float32 embeddings, uniform 0-1 (like pooled ReLU features); `classes` classes of
`supports` supports each; prototypes are the means of the supports. The first classification
and every "click" (one support added to the next class in turn) recompute the prototypes, all
distances with scipy.spatial.distance.cdist(X, P) and the argmin. Prints one JSON line with the
fields the Rust benchmark prints: first_ms, and click_ms, the median over clicks (the upper
one for an even count, as in Rust).

Measured with Python 3.11.7, NumPy 2.4.6 and SciPy 1.17.1 (~/.cache/chipscope/py/venv).

    python scripts/bench_classify.py [--chips 10000] [--dim 2048] [--classes 5] [--supports 5] [--clicks 21]
"""

import argparse
import itertools
import json
import time

import numpy as np
from scipy.spatial.distance import cdist


def classify(embeddings, indices):
    """Nearest prototype of every chip; `indices[k]` are the support rows of class k."""
    prototypes = np.stack([embeddings[rows].mean(axis=0) for rows in indices])
    return cdist(embeddings, prototypes).argmin(axis=1)


def timed_ms(work):
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [("chips", 10000), ("dim", 2048), ("classes", 5), ("supports", 5), ("clicks", 21)]:
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    embeddings = rng.random((args.chips, args.dim), dtype=np.float32)
    # Support chips spread over the set, as the Rust benchmark picks them.
    stride = max(args.chips // (args.classes * args.supports + args.clicks + 1), 1)
    next_chip = (i * stride % args.chips for i in itertools.count())
    indices = [[next(next_chip) for _ in range(args.supports)] for _ in range(args.classes)]
    first_ms = timed_ms(lambda: classify(embeddings, indices))
    clicks_ms = []
    for click in range(args.clicks):
        indices[click % args.classes].append(next(next_chip))
        clicks_ms.append(timed_ms(lambda: classify(embeddings, indices)))
    print(json.dumps({
        "impl": "numpy-scipy",
        "chips": args.chips,
        "dim": args.dim,
        "classes": args.classes,
        "supports": args.supports,
        "first_ms": round(first_ms, 3),
        "click_ms": round(sorted(clicks_ms)[len(clicks_ms) // 2], 3),
    }))


if __name__ == "__main__":
    main()

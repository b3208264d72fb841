"""The reset-after GRU's fused forward against the hidden size: does packed ``Wh`` outgrowing L2 slow it?

Usage: ``python bench/experiments/gru_hidden_sweep.py [--threads 1] [--reps 7]``. N=64, T=95, D=128 (the Keras seed's
encoder) and H from 256 (packed ``Wh`` 0.75 MiB, in a core's 2 MiB L2) to 640 (4.7 MiB). Prints the
call's median time and the step products' multiply-adds (2*N*T*H*3H) over it: a lower bound of the step
product's rate, the call also doing ``x @ Wx`` and the cells.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import attncore
from attncore.kernels import gru_reset_after_forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    attncore.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    N, T, D = 64, 95, 128
    for H in (256, 352, 416, 512, 640):
        xs = rng.standard_normal((N, T, D), dtype=np.float32)
        Wx = (rng.standard_normal((D, 3 * H)) * 0.05).astype(np.float32)
        Wh = (rng.standard_normal((H, 3 * H)) * 0.05).astype(np.float32)
        b, h0 = np.zeros((2, 3 * H), np.float32), np.zeros((N, H), np.float32)
        gru_reset_after_forward(xs, Wx, Wh, b, h0)
        times = []
        for _ in range(args.reps):
            start = time.perf_counter()
            gru_reset_after_forward(xs, Wx, Wh, b, h0)
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        print(
            f"H={H}: packed Wh {3 * H * H * 4 / 2**20:.2f} MiB, forward {1000 * seconds:.1f} ms, "
            f"step products {2 * N * T * H * 3 * H / seconds / 1e9:.0f} GFLOP/s ({args.threads} thread(s))"
        )


if __name__ == "__main__":
    main()

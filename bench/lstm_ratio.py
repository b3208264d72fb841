"""TimeLSTM forward and forward+backward, numpy vs cpp, interleaved in one process.

Usage: ``python bench/lstm_ratio.py``. Prints medians of 30 calls per backend
and the numpy/cpp ratios at the book's encoder shape and at N=1.
"""

import time

import numpy as np

import attncore
from attncore.time_layers import TimeLSTM


def median_ms(f, n=30):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def main():
    rng = np.random.default_rng(0)
    D, H = 16, 256
    for N, T in [(128, 29), (1, 29)]:
        W = [(rng.standard_normal((D, 4 * H)) / 4).astype("f"), (rng.standard_normal((H, 4 * H)) / 16).astype("f"),
             np.zeros(4 * H, "f")]
        xs = rng.standard_normal((N, T, D)).astype("f")
        dhs = rng.standard_normal((N, T, H)).astype("f")
        res = {}
        for backend in ["numpy", "cpp"]:
            with attncore.use_backend(backend):
                layer = TimeLSTM(*W)

                def both():
                    layer.forward(xs)
                    layer.backward(dhs)

                res[backend] = (median_ms(lambda: layer.forward(xs)), median_ms(both))
        print(f"N={N} T={T}: forward numpy {res['numpy'][0]:.2f} ms, cpp {res['cpp'][0]:.2f} ms "
              f"(x{res['numpy'][0] / res['cpp'][0]:.2f}); forward+backward numpy {res['numpy'][1]:.2f} ms, "
              f"cpp {res['cpp'][1]:.2f} ms (x{res['numpy'][1] / res['cpp'][1]:.2f})")


if __name__ == "__main__":
    main()

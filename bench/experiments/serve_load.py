"""How much does ``attncore serve``'s batching give under concurrent load? Throughput and latency of one-sentence
requests from many clients, with batching (the default ``--max-batch``) and without (``--max-batch 1``: each
request decoded alone), the two servers in turn.

Usage: ``python bench/experiments/serve_load.py PARAMS SOURCES.tsv [--clients 32] [--requests 640]
[--rounds 2] [--threads 2]``. ``SOURCES.tsv`` gives the sentences (its first column). Each round starts one
server of each kind (A B, then A B again), sends ``--requests`` requests of one sentence each from
``--clients`` threads (``http.client``, one connection per request) and prints requests per second and the
median and 95th-percentile latency; the table at the end holds the medians over the rounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def start(params: str, threads: int, *options: str) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "attncore", "serve", "--params", params, "--port", "0", "--threads", str(threads)]
        + list(options),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    if "http://127.0.0.1:" not in line:
        raise SystemExit(f"the server did not start: {line}{process.stderr.read()}")
    return process, int(line.split("http://127.0.0.1:")[1].split()[0])


def one(port: int, text: str) -> float:
    began = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("POST", "/translate", json.dumps({"text": text}), {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status != 200:
        raise SystemExit(f"status {response.status}")
    return time.perf_counter() - began


def load(port: int, texts: list[str], clients: int, requests: int) -> tuple[float, float, float]:
    one(port, texts[0])  # warm
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = sorted(pool.map(lambda i: one(port, texts[i % len(texts)]), range(requests)))
    seconds = time.perf_counter() - began
    return requests / seconds, latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("params")
    p.add_argument("sources")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--requests", type=int, default=640)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    with open(args.sources, encoding="utf-8-sig") as f:
        texts = [line.split("\t")[0].strip() for line in f if line.strip()][:1000]
    kinds = {"batched": [], "one at a time": ["--max-batch", "1"]}
    results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in kinds}
    for r in range(args.rounds):
        for kind, options in kinds.items():
            process, port = start(args.params, args.threads, *options)
            try:
                results[kind].append(load(port, texts, args.clients, args.requests))
            finally:
                process.send_signal(signal.SIGTERM)
                process.communicate(timeout=120)
            rate, p50, p95 = results[kind][-1]
            print(
                f"round {r + 1} {kind:>13}: {rate:7.1f} requests/s, "
                f"latency median {1e3 * p50:6.1f} ms, p95 {1e3 * p95:6.1f} ms"
            )
    print(f"\n{args.clients} clients, {args.requests} one-sentence requests, {args.threads} threads; medians of rounds")
    print("| server | requests/s | median latency | p95 latency |\n| --- | ---: | ---: | ---: |")
    for kind, rows in results.items():
        rate, p50, p95 = (statistics.median(x) for x in zip(*rows, strict=True))
        print(f"| {kind} | {rate:.1f} | {1e3 * p50:.1f} ms | {1e3 * p95:.1f} ms |")


if __name__ == "__main__":
    main()

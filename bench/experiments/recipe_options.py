"""Do the model's options help the parallel-text recipe? Held-out figures over several files and seeds.

Usage: ``python bench/experiments/recipe_options.py OUT_DIR [--seeds 1 2 3] [--threads 1]``. Makes three files
of the kind a user brings (700 English number words with their French, written by ``num2words``; 700 and 3,000
Korean-English sentences of ``attncore.datasets.sentences``), each with held-out rows none of its training
rows has, trains ``attncore train --data FILE --seed S`` (the recipe's options) with and without
``--dropout 0.3`` and ``--bidirectional``, scores each run's ``best.npz`` with ``attncore eval`` on the
held-out rows, and prints a table of the exact match (mean, min-max over the seeds) and chrF per file;
every run's figures go to ``OUT_DIR/results.json``. The runs take 30 s to 3 min each on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path

OPTIONS = {
    "recipe": [],
    "--dropout 0.3": ["--dropout", "0.3"],
    "--bidirectional": ["--bidirectional"],
    "--bidirectional --dropout 0.3": ["--bidirectional", "--dropout", "0.3"],
}


def numbers_file(folder: Path) -> tuple[Path, Path]:
    from num2words import num2words

    numbers = random.Random(0).sample(range(1, 10000), 1700)

    def line(n: int) -> str:
        return num2words(n, lang="en").replace(",", "") + "\t" + num2words(n, lang="fr") + "\n"

    (folder / "en_fr_700.tsv").write_text("".join(map(line, numbers[:700])), encoding="utf-8")
    (folder / "en_fr_heldout.tsv").write_text("".join(map(line, numbers[700:])), encoding="utf-8")
    return folder / "en_fr_700.tsv", folder / "en_fr_heldout.tsv"


def sentences_file(folder: Path, rows: int) -> tuple[Path, Path]:
    from attncore.datasets.sentences import sentence_pairs, write_sentence_file

    pairs = sentence_pairs(rows, seed=0)
    data, heldout = folder / f"ko_en_{rows}.tsv", folder / f"ko_en_{rows}_heldout.tsv"
    write_sentence_file(str(data), pairs, seed=0)
    write_sentence_file(str(heldout), sentence_pairs(500, seed=1, exclude=set(pairs)), seed=1)
    return data, heldout


def attncore(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "attncore", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"attncore {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    files = {
        "en-fr 700": numbers_file(args.out),
        "ko-en 700": sentences_file(args.out, 700),
        "ko-en 3000": sentences_file(args.out, 3000),
    }
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else []
    done = {(r["file"], r["options"], r["seed"]) for r in results}
    for name, (data, heldout) in files.items():
        for label, options in OPTIONS.items():
            for seed in args.seeds:
                if (name, label, seed) in done:
                    continue
                run = args.out / f"{data.stem}-{label.replace(' ', '').replace('-', '')}-{seed}"
                attncore(
                    "train",
                    "--data",
                    str(data),
                    "--out",
                    str(run),
                    "--seed",
                    str(seed),
                    "--threads",
                    str(args.threads),
                    *options,
                )
                text = attncore("eval", "--params", str(run / "best.npz"), "--data", str(heldout))
                exact = float(re.search(r"accuracy ([\d.]+)%", text).group(1))
                bleu, chrf = (float(re.search(rf"{k} ([\d.]+)", text).group(1)) for k in ("BLEU", "chrF"))
                results.append(
                    {"file": name, "options": label, "seed": seed, "exact": exact, "bleu": bleu, "chrf": chrf}
                )
                results_path.write_text(json.dumps(results, indent=1))
                print(f"{name} | {label} | seed {seed}: exact {exact:.2f}% BLEU {bleu:.2f} chrF {chrf:.2f}", flush=True)
    print("\n| options | " + " | ".join(f"{n}: exact (min-max) | chrF" for n in files) + " |")
    print("| --- |" + " ---: | ---: |" * len(files))
    for label in OPTIONS:
        cells = []
        for name in files:
            rows = [r for r in results if r["file"] == name and r["options"] == label]
            exact = [r["exact"] for r in rows]
            cells += [
                f"{statistics.mean(exact):.2f}% ({min(exact):.1f}-{max(exact):.1f})",
                f"{statistics.mean(r['chrf'] for r in rows):.2f}",
            ]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

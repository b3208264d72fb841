"""``attncore eval`` and ``attncore translate``: a saved model's accuracy on a file, and its answers."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ..datasets.sequence import END, UNK, GeneratedDataWarning
from ..defaults import DECODE_BATCH, MAX_BEAM
from ..errors import UsageError
from ..functions import softmax
from ..options import add_runtime_arguments, apply_runtime
from ..plots import plot_attention
from ..util import answers_match
from .data import (
    attention_maps,
    data_metrics,
    decode,
    decode_nbest,
    encode_question,
    encode_rows,
    load_dataset,
    load_saved,
    model_input,
    padded,
    read_inputs,
    remap,
    saved_data,
    saved_tokenizer,
)
from .runs import default_params

__all__ = ["add_eval_arguments", "add_translate_arguments", "cmd_eval", "cmd_translate"]


PARAMS_HELP = (
    "a parameter file written by 'attncore train': RUN/params.npz (the last epoch's weights) or "
    "RUN/best.npz (the epoch of the best validation accuracy); default: attncore-run/best.npz, "
    "where 'attncore train' writes it"
)


def add_beam_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--beam",
        type=int,
        default=1,
        metavar="K",
        help=f"beam search keeping K answers, 1 to {MAX_BEAM} (default: 1, greedy)",
    )
    p.add_argument(
        "--length-penalty",
        type=float,
        default=0.0,
        metavar="ALPHA",
        help="beam search picks the answer of the highest log p / length**ALPHA (0: log p)",
    )


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", help=PARAMS_HELP)
    p.add_argument(
        "--data",
        help="a file in the training data's format: every row is scored (shorter rows "
        "padded); default: the test split of the data the params were trained on",
    )
    p.add_argument("--errors", type=int, default=0, metavar="K", help="also print the first K wrong rows")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    add_beam_arguments(p)
    add_runtime_arguments(p)


def add_translate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", help=PARAMS_HELP)
    p.add_argument("--plot", help="also draw the attention map of the text argument to this PNG")
    p.add_argument("--file", help="read one input per line from this file (default: standard input)")
    p.add_argument(
        "--nbest",
        type=int,
        default=1,
        metavar="K",
        help="the K best answers of beam search (K <= --beam), best first: lines 'INPUT ||| ANSWER ||| SCORE' "
        '(the input\'s number from 0, the score log p / length**ALPHA), or with --json an "nbest" list',
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per input: input, output, tokens and their probabilities",
    )
    add_beam_arguments(p)
    add_runtime_arguments(p)
    p.add_argument("text", nargs="?", help="one input to answer (without it: --file, else standard input)")


def cmd_eval(args: argparse.Namespace) -> int:
    apply_runtime(args)
    if args.errors < 0:
        raise UsageError("--errors must be at least 0")
    check_beam(args)
    args.params = args.params or default_params("attncore eval")
    model = load_saved(args.params)
    meta = model.metadata
    if args.data:  # every row of the file
        data = saved_data(model)
        x, t = encode_rows(args.data, data, meta)
        what = f"rows of {Path(args.data).name}"
    elif meta.get("imported"):
        raise UsageError(
            f"{args.params} was imported from {meta['imported'].capitalize()}, with no data of its own: "
            f"give --data FILE (source<TAB>target rows)"
        )
    elif meta.get("val"):  # the validation file of the run
        data = saved_data(model)
        x, t = encode_rows(meta["val"], data, meta)
        what = f"rows of {Path(meta['val']).name}"
    else:  # the validation split of the data the model was trained on
        with warnings.catch_warnings():
            if meta.get("generated_data") is True:  # trained on attncore's generated file: train said so
                warnings.simplefilter("ignore", GeneratedDataWarning)
            tokenizer = saved_tokenizer(model)  # refitting it could give other pieces: the saved one reads
            data = load_dataset(
                meta.get("data", "date"),
                test_fraction=meta.get("val_split", 0.1),
                tokenizer=tokenizer,
                vocabulary=meta["tokens"] if tokenizer is not None else None,
            )
        data = remap(data, meta["tokens"])
        x, t = data.test
        what = f"validation rows of {data.name}"
    start = time.perf_counter()
    guess = decode(model, data, meta["reverse"], x, t[:, 0], t.shape[1] - 1, args.beam, args.length_penalty)
    seconds = time.perf_counter() - start
    right = answers_match(guess, t[:, 1:], model.pad_id)
    scores = data_metrics(data, model)(guess, t[:, 1:])
    how = f"beam {args.beam}" if args.beam > 1 else "greedy"
    if args.json:
        print(
            strict_json(
                {
                    "rows": int(len(x)),
                    "data": what,
                    "decoding": how,
                    "accuracy": float(right.mean()),
                    **scores,
                    "seconds": round(seconds, 3),
                }
            )
        )
        return 0
    print(f"accuracy {100 * right.mean():.2f}% on {len(x)} {what} ({how}, {seconds:.1f} s)")
    print(f"token accuracy {100 * scores['token_acc']:.2f}% | BLEU {scores['bleu']:.2f} | chrF {scores['chrf']:.2f}")
    for i in np.flatnonzero(~right)[: args.errors]:
        print(
            f"row {i + 1}: Q {data.decode_question(x[i]).rstrip()} | T {data.decode(t[i, 1:]).rstrip()} | "
            f"got {data.decode(guess[i]).rstrip()}"
        )
    return 0


def check_beam(args: argparse.Namespace) -> None:
    if not 1 <= args.beam <= MAX_BEAM:
        raise UsageError(f"--beam must be from 1 to {MAX_BEAM}, got {args.beam}")
    nbest = getattr(args, "nbest", 1)
    if not 1 <= nbest <= args.beam:
        raise UsageError(f"--nbest must be from 1 to the --beam ({args.beam}), got {nbest}")
    if not np.isfinite(args.length_penalty):
        raise UsageError(f"--length-penalty must be a number, got {args.length_penalty}")


def token_probabilities(model, xs: np.ndarray, start: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The probability of each generated token: the decoder rerun on its output (greedy: the same states)."""
    ts = np.concatenate([start[:, None], ids[:, :-1]], axis=1)
    p = softmax(model.scores(xs, ts))
    return np.take_along_axis(p, ids[:, :, None], axis=2)[:, :, 0]


def strict_json(record: dict) -> str:
    """One line of strict JSON: no NaN or Infinity (null instead), and U+2028, U+2029 and U+0085 escaped
    (JavaScript and line-oriented readers take them for line ends)."""

    def clean(value):
        if isinstance(value, float) and not np.isfinite(value):
            return None
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    text = json.dumps({k: clean(v) for k, v in record.items()}, ensure_ascii=False, allow_nan=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")


def cmd_translate(args: argparse.Namespace) -> int:
    apply_runtime(args)
    check_beam(args)
    args.params = args.params or default_params("attncore translate")
    model = load_saved(args.params)
    meta = model.metadata
    data = saved_data(model)
    if args.text is None:  # one input per line, from --file or standard input
        if args.plot:
            raise UsageError("--plot draws one input: give it as the text argument")
        texts = read_inputs(args.file)
    else:
        texts = [args.text]
    if not texts:
        return 0
    rows, errors, unknown, blank = [], {}, dict[int, list[str]](), set()
    for n, text in enumerate(texts):  # a line that cannot be read is an error for that line only
        if not text.strip() and args.text is None:  # an empty line's answer is an empty line, as batch tools do
            blank.add(n)
            continue
        try:
            if not text.strip():
                raise UsageError("the input is empty")
            rows.append(encode_question(text, data, meta, unknown=unknown.setdefault(n, []))[0])
        except UsageError as exc:
            if args.text is not None:
                raise
            errors[n] = str(exc)
    x = padded(rows, data) if rows else np.zeros((0, meta["question_length"]), np.int64)
    start = np.full(len(x), meta["start_id"])
    if args.plot:
        if not model.attends:
            raise UsageError("--plot needs an attention model")
        folder = Path(args.plot).resolve().parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise UsageError(f"--plot {args.plot}: the folder {folder} does not exist or is not writable")
        answers = None  # greedy decoding's, or the beam's answer that is printed
        if args.beam > 1:
            answers = decode(
                model, data, meta["reverse"], x, start, meta["answer_length"], args.beam, args.length_penalty
            )
        maps = attention_maps(
            model, data, meta["reverse"], (x, np.zeros((1, meta["answer_length"] + 1), int) + start), answers
        )
        plot_attention(maps, Path(args.plot), known=False)
    answers = iter(translations(model, data, meta, x, start, args.beam, args.nbest, args.length_penalty, args.json))
    for n, text in enumerate(texts):
        where = "the input" if args.text is not None else f"line {n + 1}"
        nbest_lines = args.nbest > 1 and not args.json  # an input without answers has no lines
        if n in blank:
            if not nbest_lines:
                print(strict_json({"input": text, "output": "", "tokens": []}) if args.json else "", flush=True)
            continue
        if n in errors:
            if args.json:
                print(strict_json({"input": text, "error": errors[n]}))
            else:
                print(f"attncore: {where}: {errors[n]}", file=sys.stderr)
                if not nbest_lines:
                    print()
            continue
        answer = next(answers)
        if args.json:
            print(strict_json({"input": text, **answer, **({"unknown": unknown[n]} if unknown[n] else {})}))
            continue
        if unknown[n]:
            where_from = "the model's vocabulary" if meta.get("imported") else "the training data"
            how = (
                f"read as <unk> (not in {where_from})"
                if UNK in data.source_token_to_id
                else f"left out (not in {where_from}, which has no <unk>)"
            )
            print(f"attncore: {where}: {how}: {', '.join(map(repr, unknown[n]))}", file=sys.stderr)
        if isinstance(answer, list):  # --nbest: Moses's and Marian's n-best lines
            print("\n".join(f"{n} ||| {text} ||| {score:.6f}" for text, score in answer), flush=True)
            continue
        print(answer, flush=True)
    if errors:
        print(f"attncore: {len(errors)} of {len(texts)} inputs could not be translated", file=sys.stderr)
        return 2
    return 0


def translations(
    model,
    data,
    meta: dict,
    x: np.ndarray,
    start: np.ndarray,
    beam: int = 1,
    nbest: int = 1,
    length_penalty: float = 0.0,
    fields: bool = False,
):
    """The answer to each row of ``x``: its text, or with ``fields`` (``--json``, the server) the fields of its
    JSON object; with ``nbest`` K > 1, the K best texts and scores (or the best's fields and the ``nbest``
    list)."""
    for i in range(0, len(x), DECODE_BATCH):
        rows = slice(i, i + DECODE_BATCH)
        args_of_rows = (model, data, meta["reverse"], x[rows], start[rows], meta["answer_length"])
        found: np.ndarray | None = None
        scores: np.ndarray | None = None
        if nbest > 1:
            found, scores = decode_nbest(*args_of_rows, nbest, beam, length_penalty)
            ids = found[:, 0]
        else:
            ids = decode(*args_of_rows, beam, length_penalty)
        xs = model_input(data, meta["reverse"], x[rows])
        probs = token_probabilities(model, xs, start[rows], ids) if fields else None
        for j, row in enumerate(ids):
            out = data.decode(row).rstrip()
            best = (
                []
                if found is None or scores is None
                else [
                    (data.decode(r).rstrip(), answer_tokens(data, r), float(s))
                    for r, s in zip(found[j], scores[j], strict=True)
                ]
            )
            if probs is None:  # not --json
                yield [(text, score) for text, _, score in best] if best else out
                continue
            tokens = answer_tokens(data, row)
            yield {
                "output": out,
                "tokens": tokens,
                "probabilities": [round(float(p), 6) for p in probs[j, : len(tokens)]],
                **({"nbest": [{"output": t, "tokens": k, "score": round(s, 6)} for t, k, s in best]} if best else {}),
            }


def answer_tokens(data, row: np.ndarray) -> list[str]:
    """An answer's tokens; a word-level answer ends at its end marker."""
    tokens = [data.tokens[int(k)] for k in row]
    if data.word_level and END in tokens:
        tokens = tokens[: tokens.index(END) + 1]
    return tokens

"""Serve any attncore attention model with onnxruntime, NumPy and sentencepiece alone: no attncore import.

    attncore train --data ko_en.tsv --out run         # or the book's date model: attncore train --out run
    attncore export --format onnx run/best.npz onnx/
    python examples/onnx_translate.py onnx/ "지영은 런던에 살아요." "사과 2개 주세요!"
    python examples/onnx_translate.py --beam 4 onnx/ "지영은 런던에 살아요."

The folder ``attncore export --format onnx`` writes holds the two graphs and what a server needs beside them:
``source.vocab`` and ``target.vocab`` (line n is the token of id n), the SentencePiece models
``source.model`` and ``target.model`` of a subword model, and ``tokenizer.json`` (how a sentence is
normalized and split, the markers around a source, its padding and reversal, the start and end ids). The
answers are ``attncore translate``'s (greedy decoding, or with ``--beam K`` its beam search); a line that
cannot be read is one line on stderr, exit status 2, as there.
"""

from __future__ import annotations

import json
import os
import re
import sys
import unicodedata

import numpy as np
import onnxruntime as ort

SPACE = "\u2581"  # a space read as a character (SentencePiece's mark)


class Model:
    """The graphs, the vocabularies and the tokenizer of one exported folder."""

    def __init__(self, folder: str, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.encoder, self.step_graph = (
            ort.InferenceSession(os.path.join(folder, f"{name}.onnx"), options, providers=["CPUExecutionProvider"])
            for name in ("encoder", "decoder_step")
        )
        with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
            self.facts = json.load(f)
        self.source, self.target = (read_vocab(os.path.join(folder, f"{side}.vocab")) for side in ("source", "target"))
        self.source_ids = {tok: i for i, tok in enumerate(self.source)}
        self.tok = self.facts["tokenizer"]
        self.pieces = {}
        self.known = None  # the tokenizer's own source tokens, where it has a list (others are <unk>)
        if self.tok["kind"] == "sentencepiece":
            import sentencepiece as spm

            for side in ("source", "target"):
                self.pieces[side] = spm.SentencePieceProcessor(model_file=os.path.join(folder, f"{side}.model"))
            self.known = {self.pieces["source"].id_to_piece(i) for i in range(self.pieces["source"].get_piece_size())}
        elif self.tok["kind"] in ("word", "char") and "source" in self.tok["kept"]:
            self.known = set(self.tok["kept"]["source"])
        elif self.tok["kind"] == "keras":
            self.known = set(self.tok["vocab"]["source"])

    def split(self, text: str) -> list[str]:
        """A source sentence's tokens, as attncore's tokenizer reads it."""
        kind, tok = self.tok["kind"], self.tok
        if kind == "book-chars":  # the book's files: every character as typed
            return list(text)
        if kind == "keras":  # Keras's Tokenizer: its filters, split and renamed markers
            side = tok["sides"]["source"]
            text = text.lower() if side["lower"] else text
            if side["char_level"]:
                return [side["rename"].get(c, c) for c in text]
            text = text.translate(str.maketrans({c: side["split"] for c in side["filters"]}))
            return [side["rename"].get(w, w) for w in text.split(side["split"]) if w]
        if tok["normalization"] != "none":
            text = unicodedata.normalize(tok["normalization"].upper(), text)
        text = " ".join(text.split())
        text = text.lower() if tok.get("lowercase") else text
        if kind == "sentencepiece":
            return self.pieces["source"].encode(text, out_type=str)
        if kind == "word":
            return re.findall(tok["pattern"], text)
        if kind == "char" or self.facts["source_chars"]:
            return [SPACE if c == " " else c for c in text]
        return text.split()  # "whitespace": the word files of earlier versions

    def encode(self, text: str) -> list[int]:
        """A source sentence's ids, padded to the training length; ValueError for one the model cannot read."""
        facts = self.facts
        if not text.strip():
            raise ValueError("the input is empty")
        tokens = self.split(text)
        specials = {facts["start_token"], facts["end_token"], facts["pad_token"]} if facts["word_level"] else set()
        typed = sorted({t for t in tokens if t in specials | {facts["start_token"]}})
        if typed:
            raise ValueError(f"the input holds the special token(s) {', '.join(map(repr, typed))}")
        known = []
        for t in tokens:
            if (self.known is None or t in self.known) and t in self.source_ids:
                known.append(t)
            elif self.tok["kind"] == "keras" and facts["unk_token"] not in self.known:
                continue  # Keras leaves out a word it does not know where it has no out-of-vocabulary word
            elif facts["unk_id"] is not None:
                known.append(facts["unk_token"])
            else:
                raise ValueError(f"{t!r} is not in the model's vocabulary")
        if facts["word_level"]:
            known = [facts["start_token"]] * facts["source_start"] + known + [facts["end_token"]] * facts["source_end"]
        limit = facts["max_source_tokens"]
        if len(known) > limit:
            raise ValueError(f"the input has {len(known)} tokens; this model reads at most {limit}")
        known += [facts["pad_token"]] * (facts["source_length"] - len(known))
        return [self.source_ids[t] for t in known]

    def detokenize(self, ids: np.ndarray) -> str:
        """An answer's text: for a word-level model, its tokens up to the end marker, joined as attncore's
        tokenizer joins them."""
        tokens = [self.target[i] for i in ids]
        if not self.facts["word_level"]:
            return "".join(tokens).rstrip()
        if self.facts["end_token"] in tokens:
            tokens = tokens[: tokens.index(self.facts["end_token"])]
        tokens = [t for t in tokens if t not in (self.facts["pad_token"], self.facts["start_token"])]
        kind = self.tok["kind"]
        if kind in ("sentencepiece", "char"):
            return "".join(tokens).replace(SPACE, " ").strip()
        if kind == "word":
            return join_words(tokens, self.tok["closing"], self.tok["opening"])
        if kind == "keras":
            return ("" if self.tok["sides"]["target"]["char_level"] else " ").join(tokens).rstrip()
        return " ".join(tokens).rstrip()

    def translate(self, rows: list[list[int]], beam: int = 1) -> list[str]:
        """Answers to encoded sources (one batch: each row padded to the longest): greedy, or attncore's beam
        search keeping ``beam`` answers."""
        facts = self.facts
        pad = self.source_ids[facts["pad_token"]]
        width = max(len(r) for r in rows)
        source = np.array([r + [pad] * (width - len(r)) for r in rows], dtype=np.int64)
        if facts["reverse_source"]:
            source = source[:, ::-1].copy()
        if facts["pad_id"] is None:  # no mask: the model reads every position
            lengths = np.full(len(rows), width, dtype=np.int64)
        else:  # the length before the trailing pads
            lengths = width - np.argmax((source != pad)[:, ::-1], axis=1).astype(np.int64)
        enc_hs, *state = self.encoder.run(None, {"source": source, "lengths": lengths})
        search = self.greedy if beam == 1 else self.beam_search
        return [self.detokenize(row) for row in search(enc_hs, state, lengths, beam)]

    def step(self, ids: np.ndarray, enc_hs: np.ndarray, state: list, lengths: np.ndarray) -> tuple:
        """One decoder step: the logits (N,V) and the next state."""
        names = ["state", "cell"][: len(state)]
        logits, *rest = self.step_graph.run(
            None, {"ids": ids, "encoder_states": enc_hs, "lengths": lengths, **dict(zip(names, state, strict=True))}
        )
        return logits, rest[: len(names)]

    def greedy(self, enc_hs: np.ndarray, state: list, lengths: np.ndarray, _: int) -> np.ndarray:
        facts = self.facts
        ids = np.full(len(enc_hs), facts["start_id"], dtype=np.int64)
        answer = []
        for _ in range(facts["target_length"]):
            logits, state = self.step(ids, enc_hs, state, lengths)
            ids = logits.argmax(axis=1)
            answer.append(ids)
            if facts["word_level"] and (np.stack(answer, axis=1) == facts["end_id"]).any(axis=1).all():
                break
        return np.stack(answer, axis=1)

    def beam_search(self, enc_hs: np.ndarray, state: list, lengths: np.ndarray, K: int) -> np.ndarray:
        """attncore's beam search (``attncore.decoding.beam_search``): the K most probable partial answers of
        each row at every step (log probabilities in float64, ties to the first), a finished answer going on
        with the end token at no cost; the most probable finished answer of each row."""
        facts = self.facts
        N = len(enc_hs)
        end = facts["end_id"] if facts["word_level"] else None
        enc_hs, lengths = np.repeat(enc_hs, K, axis=0), np.repeat(lengths, K)  # a row's beams adjacent
        state = [np.repeat(s, K, axis=s.ndim - 2) for s in state]  # (N,H), or (layers,N,H) stacked
        ids = np.full(N * K, facts["start_id"], dtype=np.int64)
        scores = np.full((N, K), -np.inf)
        scores[:, 0] = 0.0  # one live beam to start with
        tokens = np.zeros((N, K, 0), dtype=np.int64)
        done = np.zeros((N, K), dtype=bool)
        for _ in range(facts["target_length"]):
            logits, state = self.step(ids, enc_hs, state, lengths)
            x = logits.astype(np.float64)
            x -= x.max(axis=1, keepdims=True)
            logp = (x - np.log(np.exp(x).sum(axis=1, keepdims=True))).reshape(N, K, -1)
            if end is not None:
                logp[done] = -np.inf
                logp[done, end] = 0.0
            V = logp.shape[2]
            flat = (scores[:, :, None] + logp).reshape(N, K * V)
            best = np.argsort(-flat, axis=1, kind="stable")[:, :K]
            parent, token = best // V, best % V
            scores = np.take_along_axis(flat, best, axis=1)
            tokens = np.concatenate([np.take_along_axis(tokens, parent[:, :, None], axis=1), token[:, :, None]], 2)
            done = np.take_along_axis(done, parent, axis=1) | (token == end)
            order = (np.arange(N)[:, None] * K + parent).ravel()
            state = [s[order] if s.ndim == 2 else s[:, order] for s in state]
            ids = token.ravel()
        return tokens[np.arange(N), np.argmax(scores, axis=1)]  # (the length penalty 0: log p alone)


def read_vocab(path: str) -> list[str]:
    with open(path, encoding="utf-8", newline="\n") as f:
        return f.read().split("\n")[:-1]


def join_words(tokens: list[str], closing: str, opening: str) -> str:
    """attncore's word tokenizer's joining: a space between tokens, none before closing punctuation or after
    opening punctuation; a straight double quote opens and closes in turn."""
    out, glue, quotes = [], True, 0
    for tok in tokens:
        if tok == '"':
            quotes += 1
            out.append(tok if glue or quotes % 2 == 0 else " " + tok)
            glue = quotes % 2 == 1
            continue
        out.append(tok if glue or tok in closing or tok == "'" else " " + tok)
        glue = tok in opening
    return "".join(out)


def main(argv: list[str]) -> int:
    beam = 1
    if argv[:1] == ["--beam"] and len(argv) > 1 and argv[1].isdigit() and int(argv[1]) >= 1:
        beam, argv = int(argv[1]), argv[2:]
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    if not os.path.isfile(os.path.join(argv[0], "tokenizer.json")):
        print(f"{argv[0]}: not a folder of 'attncore export --format onnx' (no tokenizer.json)", file=sys.stderr)
        return 2
    model = Model(argv[0])
    rows, failed = [], 0
    for n, text in enumerate(argv[1:]):
        try:
            rows.append(model.encode(text))
        except ValueError as exc:
            print(f"input {n + 1}: {exc}", file=sys.stderr)
            failed += 1
    for answer in model.translate(rows, beam) if rows else []:
        print(answer)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

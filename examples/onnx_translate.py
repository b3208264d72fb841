"""Serve a character model of the book's files (dates, additions) with onnxruntime and NumPy alone.

    attncore train --out run                          # the book's date model
    attncore export --format onnx run/params.npz onnx/
    python examples/onnx_translate.py onnx/ "september 27, 1994" "1/2/03"

No attncore import: the vocabulary, the padding length, the start token and
whether the questions are reversed come from the graphs' ``attncore.metadata``.
The answers are ``attncore translate``'s (greedy decoding). Word-level models
with a SentencePiece or word tokenizer need that tokenizer too (attncore's
``attncore.tokenizers.from_record(metadata["tokenizer"])``), which this short
example leaves out.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnxruntime as ort


def load(folder: str):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one request per core; raise it for long batches
    sessions = [
        ort.InferenceSession(os.path.join(folder, f"{name}.onnx"), options, providers=["CPUExecutionProvider"])
        for name in ("encoder", "decoder_step")
    ]
    meta = json.loads(sessions[0].get_modelmeta().custom_metadata_map["attncore.metadata"])
    return sessions, meta


def translate(sessions, meta: dict, questions: list[str]) -> list[str]:
    encoder, step = sessions
    if meta.get("word_level"):
        raise SystemExit("this example serves the character models of the book's files")
    ids = {tok: i for i, tok in enumerate(meta["tokens"])}
    length = meta["question_length"]
    rows = []
    for text in questions:
        if len(text) > length or any(c not in ids for c in text):
            raise SystemExit(f"{text!r}: more than {length} characters or a character the model does not know")
        rows.append([ids[c] for c in text.ljust(length)])
    source = np.array(rows, dtype=np.int64)
    if meta["reverse"]:
        source = source[:, ::-1].copy()
    lengths = np.full(len(rows), length, dtype=np.int64)
    enc_hs, *state = encoder.run(None, {"source": source, "lengths": lengths})
    names = ["state", "cell"][: len(state)]
    tokens = np.full(len(rows), meta["start_id"], dtype=np.int64)
    answers = []
    for _ in range(meta["answer_length"]):
        logits, *rest = step.run(
            None, {"ids": tokens, "encoder_states": enc_hs, "lengths": lengths, **dict(zip(names, state, strict=True))}
        )
        state = rest[: len(names)]
        tokens = logits.argmax(axis=1)
        answers.append(tokens)
    return ["".join(meta["tokens"][i] for i in row).strip() for row in np.stack(answers, axis=1)]


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    sessions, meta = load(sys.argv[1])
    for answer in translate(sessions, meta, sys.argv[2:]):
        print(answer)

"""The command line's data: data sets by name, the saved model's vocabulary and lengths, rows encoded for
it, and answers decoded in batches."""

from __future__ import annotations

import sys

import numpy as np

from ..datasets.sequence import END, PAD, START, UNK, SequenceData, load_parallel, read_char_data, resolve_path
from ..defaults import DECODE_BATCH, MAX_LENGTH, MAX_TOKENS, SEED
from ..errors import UsageError
from ..metrics import translation_metrics
from ..models import load_model
from ..tokenizers import Tokenizer, from_record
from ..util import answer_mark, answers_match

__all__ = [
    "DATA_NAMES",
    "attention_maps",
    "data_metrics",
    "decode",
    "encode_question",
    "encode_rows",
    "load_dataset",
    "load_saved",
    "model_input",
    "read_inputs",
    "remap",
    "saved_data",
    "show_samples",
]

DATA_NAMES = {"date": "date.txt", "addition": "addition.txt", "ko-en-numbers": "ko-en-numbers.tsv"}


def load_dataset(
    spec: str,
    seed: int = SEED,
    test_fraction: float = 0.1,
    tokenizer: Tokenizer | None = None,
    vocabulary: list[str] | None = None,
):
    """``date``, ``addition``, ``ko-en-numbers``, a book-format file, or a tab-separated file of parallel text
    (:func:`~attncore.datasets.sequence.load_parallel` with ``tokenizer`` and ``vocabulary``; without a
    tokenizer: words split on white space, the Korean of ``ko-en-numbers`` as characters)."""
    try:
        path = resolve_path(DATA_NAMES.get(spec, spec))
        if is_parallel(path):
            return load_parallel(
                path,
                seed,
                test_fraction,
                source_chars=tokenizer is None and path.name == "ko-en-numbers.tsv",
                tokenizer=tokenizer,
                vocabulary=vocabulary,
            )
        if tokenizer is not None and tokenizer.kind != "char":
            raise ValueError(
                f"{path.name} holds the book's question_answer lines, read as characters: "
                f"--tokenizer {tokenizer.kind} is for tab-separated parallel text"
            )
        return read_char_data(path, seed, test_fraction)
    except (OSError, ValueError) as exc:  # missing, unreadable or malformed: one line, exit 2
        raise UsageError(str(exc)) from None


def is_parallel(path) -> bool:
    """Whether a data file holds tab-separated parallel text: its first line that is not blank has a tab."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            if line.strip():
                return "\t" in line
    return False


def remap(data, tokens: list[str]):
    """``data`` re-encoded with a saved model's vocabulary ``tokens``."""
    vocab = {tok: i for i, tok in enumerate(tokens)}
    missing = [tok for tok in data.tokens if tok not in vocab]
    if missing:
        raise UsageError(f"the data has tokens the model does not know: {', '.join(map(repr, missing[:10]))}")
    table = np.array([vocab[tok] for tok in data.tokens])
    data.train = tuple(table[a] for a in data.train)
    data.test = tuple(table[a] for a in data.test)
    data.tokens = list(tokens)
    data.token_to_id = vocab
    return data


def model_input(data, reverse: bool, x: np.ndarray) -> np.ndarray:
    return x[:, ::-1] if reverse else x


def decode(
    model,
    data,
    reverse: bool,
    x: np.ndarray,
    start: np.ndarray,
    sample_size: int,
    beam: int = 1,
    length_penalty: float = 0.0,
) -> np.ndarray:
    """Answers to the questions ``x`` in batches of ``DECODE_BATCH`` rows (divided by the beam): greedy, or beam
    search with ``beam`` > 1."""
    if beam > 1:
        return decode_nbest(model, data, reverse, x, start, sample_size, 1, beam, length_penalty)[0][:, 0]
    out = [
        model.generate_batch(
            model_input(data, reverse, x[i : i + DECODE_BATCH]), start[i : i + DECODE_BATCH], sample_size
        )
        for i in range(0, len(x), DECODE_BATCH)
    ]
    return np.concatenate(out) if out else np.zeros((0, sample_size), np.int64)


def decode_nbest(
    model,
    data,
    reverse: bool,
    x: np.ndarray,
    start: np.ndarray,
    sample_size: int,
    nbest: int,
    beam: int,
    length_penalty: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``nbest`` best answers of beam search to each question of ``x``, best first: ids (N, nbest, S)
    and their scores (N, nbest), in batches of ``DECODE_BATCH`` rows divided by the beam (beam search holds
    each row's encoding once per beam)."""
    end_id = data.token_to_id.get(END) if data.word_level else None
    ids, scores = [], []
    rows = max(1, DECODE_BATCH // beam)
    for i in range(0, len(x), rows):
        xs, starts = model_input(data, reverse, x[i : i + rows]), start[i : i + rows]
        found = model.generate_nbest(xs, starts, end_id, sample_size, nbest, beam=beam, length_penalty=length_penalty)
        ids.append(found[0])
        scores.append(found[1])
    if not ids:
        return np.zeros((0, nbest, sample_size), np.int64), np.zeros((0, nbest))
    return np.concatenate(ids), np.concatenate(scores)


def data_metrics(data, model):
    """``metrics(guess, answers)``: token accuracy and corpus BLEU and chrF of the data's detokenized text
    against the validation rows' sentences where the data keeps them (``data.references``), else against the
    decoded answers (:func:`attncore.metrics.translation_metrics`; character BLEU for the book's data)."""

    def metrics(guess: np.ndarray, answers: np.ndarray) -> dict[str, float]:
        references = data.references if data.references is not None and len(data.references) == len(answers) else None
        scores = translation_metrics(
            guess, answers, data.decode, model.pad_id, char_level=not data.word_level, references=references
        )
        return {k: scores[k] for k in ("token_acc", "bleu", "chrf")}

    return metrics


def show_samples(model, data, reverse: bool, count: int = 10) -> int:
    x, t = data.test
    count = min(count, len(x))
    guess = decode(model, data, reverse, x[:count], t[:count, 0], t.shape[1] - 1)
    right = 0
    for q, a, g, ok in zip(
        x[:count], t[:count, 1:], guess, answers_match(guess, t[:count, 1:], model.pad_id), strict=True
    ):
        right += ok
        print(f"Q {data.decode_question(q)}")
        print(f"T {data.decode(a)}")
        print(f"{answer_mark(ok)} {data.decode(g)}")
    return right


def attention_maps(model, data, reverse: bool, rows: tuple[np.ndarray, np.ndarray], answers: np.ndarray | None = None):
    """(question tokens, answer tokens, weights (Td, T) in reading order, right or not) for each row: of
    greedy decoding's answers, or of ``answers`` (N, Td) (beam search's), fed to the decoder in turn;
    ``rows`` is (questions (N, T), answers (N, Td + 1)), of which the answers' first column is read."""
    x, t = rows
    xs = model_input(data, reverse, x)
    if answers is None:
        guess = model.generate_batch(xs, t[:, 0], t.shape[1] - 1)
        weights = model.attention_weights()  # (N, Td, T)
    else:
        guess = np.asarray(answers)
        model.scores(xs, np.concatenate([t[:, :1], guess[:, :-1]], axis=1))
        weights = np.stack(model.decoder.attention.attention_weights, axis=1)
    if reverse:
        weights = weights[:, :, ::-1]
    right = answers_match(guess, t[:, 1:], model.pad_id)
    return [
        ([data.question_vocabulary[int(i)] for i in q], [data.tokens[int(i)] for i in g], w, bool(ok))
        for q, g, w, ok in zip(x, guess, weights, right, strict=True)
    ]


def load_saved(path: str):
    try:
        model = load_model(path)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if "tokens" not in model.metadata:
        raise UsageError(
            f"{path} has no vocabulary: 'attncore train' writes one, and 'attncore import keras' with "
            f"--source-tokenizer and --target-tokenizer"
        )
    check_metadata(path, model)
    model.pad_id = model.metadata.get("pad_id")
    return model


def check_metadata(path: str, model) -> None:
    """The record 'attncore train' writes, field by field (a hand-made file gets a clear error)."""
    meta = model.metadata
    tokens = meta.get("tokens")
    source_vocab = model.params[0].shape[0]  # the encoder's embedding
    vocab = model.config.get("vocab_size", source_vocab)
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens) or len(tokens) != vocab:
        raise UsageError(f"{path}: 'tokens' must be a list of {vocab} strings (the model's vocabulary)")
    source_tokens = meta.get("source_tokens")
    if source_tokens is None and source_vocab != vocab:
        raise UsageError(
            f"{path}: the encoder has a vocabulary of its own ({source_vocab} tokens) and the "
            f"metadata has no 'source_tokens'"
        )
    if source_tokens is not None and (
        not isinstance(source_tokens, list)
        or len(source_tokens) != source_vocab
        or not all(isinstance(t, str) for t in source_tokens)
    ):
        raise UsageError(f"{path}: 'source_tokens' must be a list of {source_vocab} strings (the encoder's vocabulary)")
    for key in ("question_length", "answer_length"):
        if type(meta.get(key)) is not int or not 1 <= meta[key] <= MAX_LENGTH:
            raise UsageError(
                f"{path}: metadata {key!r} must be an integer from 1 to {MAX_LENGTH:,}, got {meta.get(key)!r}"
            )
    if type(meta.get("start_id")) is not int or not 0 <= meta["start_id"] < vocab:
        raise UsageError(f"{path}: metadata 'start_id' must be a token id below {vocab}, got {meta.get('start_id')!r}")
    pad_id = meta.get("pad_id")
    if pad_id is not None and (type(pad_id) is not int or not 0 <= pad_id < vocab):
        raise UsageError(f"{path}: metadata 'pad_id' must be a token id below {vocab} or null, got {pad_id!r}")
    if not isinstance(meta.get("source_chars", False), bool):
        raise UsageError(f"{path}: metadata 'source_chars' must be true or false, got {meta['source_chars']!r}")
    for key in ("word_level", "reverse"):
        if not isinstance(meta.get(key), bool):
            raise UsageError(f"{path}: metadata {key!r} must be true or false, got {meta.get(key)!r}")
    if meta.get("tokenizer") is not None:
        if not meta["word_level"]:
            raise UsageError(f"{path}: metadata 'tokenizer' is for word-level data only")
        try:
            from_record(meta["tokenizer"])
        except ValueError as exc:
            raise UsageError(f"{path}: metadata {exc}") from None
        needed = (PAD, START, END) if meta["tokenizer"].get("kind") == "keras" else (PAD, START, END, UNK)
        missing = [tok for tok in needed if tok not in tokens]
        if missing:
            raise UsageError(f"{path}: the vocabulary has no {', '.join(missing)}")


def saved_data(model):
    """An empty ``SequenceData`` of the saved model's vocabulary and tokenizer, to encode rows with."""
    meta = model.metadata
    empty = (np.zeros((0, meta["question_length"]), int), np.zeros((0, meta["answer_length"] + 1), int))
    return SequenceData(
        empty,
        empty,
        meta["tokens"],
        meta["word_level"],
        source_chars=meta.get("source_chars", False),
        tokenizer=saved_tokenizer(model),
        source_tokens=meta.get("source_tokens"),
    )


def saved_tokenizer(model) -> Tokenizer | None:
    """The tokenizer saved with the model (None for character data and for models of earlier versions)."""
    record = model.metadata.get("tokenizer")
    return None if record is None else from_record(record)


def read_inputs(path: str | None) -> list[str]:
    """The lines of ``path`` or of standard input, read one way for both: UTF-8 with or without a byte-order
    mark, LF or CRLF line ends (only ``\\n`` ends a line: U+2028 and U+0085 are characters of it)."""
    try:
        if path:
            with open(path, "rb") as f:
                raw = f.read()
        else:
            raw = sys.stdin.buffer.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path or 'standard input'} is not UTF-8 (byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the newline that ends the last line
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def encode_rows(path: str, data, meta) -> tuple[np.ndarray, np.ndarray]:
    """Every row of a data file in the model's vocabulary, padded to the training lengths or the longest row.

    Character files hold ``question_answer`` lines (rows longer than the
    training ones refused: the book's models have no padding), tab-separated
    files ``source<TAB>target`` sentences, as ``attncore train`` reads them;
    their tokens the model does not know are ``<unk>`` and, with a tokenizer,
    ``data.references`` becomes the rows' target sentences (what BLEU and chrF
    compare with).
    """
    lines = [line for line in read_inputs(path) if line.strip()]
    if not lines:
        raise UsageError(f"{path}: no rows")
    xs, ts, references = [], [], []
    for number, line in enumerate(lines, start=1):
        try:
            if data.word_level:
                parts = line.split("\t")
                if len(parts) != 2 or not parts[1].split():
                    raise UsageError("expected 'source<TAB>target'")
                question, answer = parts[0], [START] + answer_tokens(parts[1], data) + [END]
                references.append(data.tokenizer.clean(parts[1]) if data.tokenizer is not None else parts[1])
            else:
                if "_" not in line:
                    raise UsageError("no '_' between question and answer")
                question, answer = line[: line.index("_")].rstrip(), list(line[line.index("_") :].rstrip())
            xs.append(encode_question(question, data, meta, unknown=[])[0])
            ts.append(encode_answer(answer, data, meta["answer_length"] + 1))
        except UsageError as exc:
            raise UsageError(f"{path}, row {number}: {exc}") from None
    if data.tokenizer is not None:
        data.references = references
    return padded(xs, data), padded(ts, data)


def answer_tokens(text: str, data) -> list[str]:
    """The tokens of an answer's text; with a tokenizer, those outside the target side's vocabulary (say, a
    piece of the source side only) are ``<unk>``."""
    typed = sorted({word for word in text.split() if word in (PAD, START, END)})
    if typed:
        raise UsageError(
            f"the answer holds the special token{'s' if len(typed) > 1 else ''} {', '.join(typed)}, "
            f"which would be read as padding or a sentence's start or end"
        )
    if data.tokenizer is None:
        return text.split()
    return data.tokenizer.known(data.tokenizer.tokenize(text, "target"), "target")[0]


def padded(rows: list[np.ndarray], data) -> np.ndarray:
    """Rows of ids of several lengths as one array, padded at the end with the data's padding token."""
    width = max(len(row) for row in rows)
    return np.array([np.pad(row, (0, width - len(row)), constant_values=data.pad_id or 0) for row in rows])


def encode_answer(tokens: list[str], data, length: int) -> np.ndarray:
    """An answer's ids, padded to ``length``: longer answers are refused for character data, kept whole for
    word-level data (up to ``MAX_TOKENS``); unknown tokens are ``<unk>`` where the vocabulary has it."""
    pad = PAD if data.word_level else " "
    tokens = known_tokens(tokens, data.token_to_id, "the answer has tokens the model does not know")
    limit = length if not data.word_level else max(length, MAX_TOKENS + 2)
    if len(tokens) > limit:
        raise UsageError(f"the answer has {len(tokens) - 1} tokens; this model writes at most {limit - 1}")
    return np.array([data.token_to_id[tok] for tok in tokens + [pad] * max(0, length - len(tokens))])


def known_tokens(tokens: list[str], vocab: dict[str, int], message: str, unknown: list[str] | None = None) -> list[str]:
    """``tokens`` with those outside ``vocab`` as ``<unk>`` (each one added to ``unknown``); a UsageError
    ``message: ...`` naming them where the vocabulary has no ``<unk>``."""
    missing = [tok for tok in tokens if tok not in vocab]
    if not missing:
        return tokens
    if UNK not in vocab:
        raise UsageError(f"{message}: {', '.join(map(repr, sorted(set(missing))))}")
    if unknown is not None:
        unknown.extend(tok for tok in dict.fromkeys(missing) if tok not in unknown)
    return [tok if tok in vocab else UNK for tok in tokens]


def encode_question(text: str, data, meta: dict, unknown: list[str] | None = None) -> np.ndarray:
    """One question as a (1, L) row of ids, padded to the training length (L = ``question_length``) or,
    for word-level data, as long as it is (up to ``MAX_TOKENS``). Tokens the model does not know are
    ``<unk>``, each added to ``unknown``, where the vocabulary has ``<unk>``; a UsageError for one where it
    has not, for a special token typed as text (``<pad>``, ``<s>``, ``</s>``, or the start
    character of the book's files) and for too many tokens."""
    length = meta["question_length"]
    tokens = data.question_tokens(text)
    specials = {PAD, START, END} if data.word_level else {data.tokens[meta["start_id"]]}
    typed = sorted({tok for tok in tokens if tok in specials})
    if typed:
        raise UsageError(
            f"the input holds the special token{'s' if len(typed) > 1 else ''} "
            f"{', '.join(map(repr, typed))}, which only the model may use"
        )
    if data.tokenizer is not None:  # a token of the target side only is unknown to the encoder too
        tokens, strangers = data.tokenizer.known(tokens, "source")
        if unknown is not None:
            unknown.extend(tok for tok in strangers if tok not in unknown)
    marks = 0
    if data.word_level:  # between the markers the model reads a source with: END after it, as attncore's do
        markers = data.tokenizer if data.tokenizer is not None else Tokenizer
        tokens = [START] * markers.source_start + tokens + [END] * markers.source_end
        marks = markers.source_start + markers.source_end
    pad = PAD if data.word_level else " "
    what = "words" if data.word_level and not data.source_chars and data.tokenizer is None else "characters"
    vocab = data.source_token_to_id
    tokens = known_tokens(tokens, vocab, f"unknown {what}", unknown)
    limit = max(length, MAX_TOKENS + marks) if data.word_level else length
    if len(tokens) > limit:
        what = "tokens" if data.word_level and not data.source_chars else "characters"
        raise UsageError(f"the input has {len(tokens)} {what}; this model reads at most {limit}")
    tokens += [pad] * (length - len(tokens))
    if pad not in vocab:
        raise UsageError(f"the model's vocabulary has no padding token {pad!r}")
    return np.array([[vocab[tok] for tok in tokens]])

"""The tokenizers of parallel text (attncore.tokenizers) and the data they make (load_parallel)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from attncore.datasets.sentences import sentence_pairs, write_sentence_file
from attncore.datasets.sequence import END, PAD, START, UNK, load_parallel
from attncore.tokenizers import (
    SPACE,
    CharTokenizer,
    SentencePieceTokenizer,
    WordTokenizer,
    from_record,
    make_tokenizer,
    normalize,
)

PAIRS = sentence_pairs(600, seed=3)
KOREAN, ENGLISH = [k for k, _ in PAIRS], [e for _, e in PAIRS]


def test_normalize_forms_and_spaces():
    assert normalize("  ＡＢＣ１２３\u3000가  나\t", "nfkc") == "ABC123 가 나"
    assert normalize("ＡＢ  c", "nfc") == "ＡＢ c"
    decomposed = "\u1100\u1161"  # the jamo of 가
    assert normalize(decomposed, "nfc") == "가" and normalize(decomposed, "none") == decomposed
    with pytest.raises(ValueError, match="normalization"):
        normalize("a", "nfd")
    for form in ("nfkc", "none"):
        with pytest.raises(ValueError, match="not Unicode text"):
            normalize("a \ud800", form)


def test_word_tokenizer_splits_words_and_punctuation_and_rejoins_them():
    w = WordTokenizer()
    assert w.tokenize("이 모자는 13,000원입니다.", "source") == ["이", "모자는", "13,000", "원입니다", "."]
    assert w.tokenize("Cheolsu's phone is 010-3350-9052, isn't it?", "target") == [
        "Cheolsu's",
        "phone",
        "is",
        "010-3350-9052",
        ",",
        "isn't",
        "it",
        "?",
    ]
    for text in ENGLISH + ['He said "hi" to me.', "(see page 3)", "Price: $5.", "sixty-five, please!"]:
        assert w.detokenize(w.tokenize(text, "target")) == text


def test_word_tokenizer_vocabulary_options():
    w = WordTokenizer(lowercase=True, min_count=2, max_vocab=3).fit(["a a b", "B c"], ["x y y", "Y z z"])
    assert w.vocabulary("source") == ["a", "b"]  # c is seen once
    assert w.vocabulary("target") == ["y", "z"]  # lower-cased: y three times, z twice, x once
    assert w.tokenize("A  B C", "source") == ["a", "b", "c"]  # c stays as written: the vocabulary makes it <unk>
    w = WordTokenizer(max_vocab=2).fit(["b a c", "a"], ["t"])
    assert w.vocabulary("source") == ["a", "b"]  # a twice, then b (first seen) over c
    for bad in ({"min_count": 0}, {"max_vocab": 0}, {"min_count": 1.5}, {"max_vocab": True}):
        with pytest.raises(ValueError):
            WordTokenizer(**bad)


def test_char_tokenizer_round_trip():
    c = CharTokenizer()
    assert c.tokenize("가 나!", "source") == ["가", SPACE, "나", "!"]
    assert c.detokenize(c.tokenize("It is 5:04 now.", "target")) == "It is 5:04 now."
    assert c.vocabulary("source") is None


@pytest.fixture(scope="module")
def pieces():
    return SentencePieceTokenizer(vocab_size=300).fit(KOREAN, ENGLISH)


def test_sentencepiece_round_trip_and_size(pieces):
    for side, texts in (("source", KOREAN), ("target", ENGLISH)):
        vocab = set(pieces.vocabulary(side))
        assert len(vocab) <= 300
        for text in texts:
            tokens = pieces.tokenize(text, side)
            assert set(tokens) <= vocab
            assert pieces.detokenize(tokens) == normalize(text)
    # digits are pieces of their own, so numbers never seen are spelled from them
    assert [t for t in pieces.tokenize("It costs 98,765 won.", "target") if t.strip(SPACE).isdigit()] == list("98765")


def test_sentencepiece_unknown_characters_stay_visible(pieces):
    tokens = pieces.tokenize("민수는 뉴욕에 살아요.", "source")
    assert "뉴욕" in "".join(tokens) and not set(tokens) <= set(pieces.vocabulary("source"))


def test_sentencepiece_record_in_a_fresh_process(pieces, tmp_path):
    record = json.loads(json.dumps(pieces.to_record()))
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    code = (
        "import json, sys; from attncore.tokenizers import from_record; "
        "t = from_record(json.load(open(sys.argv[1]))); "
        "print(json.dumps([t.tokenize(s, 'source') for s in sys.argv[2:]]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), *KOREAN[:20]], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == [pieces.tokenize(s, "source") for s in KOREAN[:20]]


def test_damaged_records_are_value_errors(pieces):
    good = pieces.to_record()
    bad_records = [
        None,
        {},
        {"kind": "bpe"},
        {**good, "models": {"source": "!!"}},
        {**good, "models": {"source": good["models"]["source"]}},
        {**good, "models": {"source": "AAAA", "target": "AAAA"}},
        {**good, "lowercase": "no"},
        {k: v for k, v in good.items() if k != "vocab_size"},
        {**WordTokenizer().fit(["a"], ["b"]).to_record(), "kept": {"source": [1]}},
        {**CharTokenizer().to_record(), "normalization": "nfd"},
    ]
    for record in bad_records:
        with pytest.raises(ValueError):
            from_record(record)
    for tokenizer in (WordTokenizer(min_count=2).fit(["a a b"], ["c"]), CharTokenizer("nfc", True), pieces):
        again = from_record(json.loads(json.dumps(tokenizer.to_record())))
        assert again.to_record() == tokenizer.to_record()
        assert again.tokenize("a b 민수", "source") == tokenizer.tokenize("a b 민수", "source")


def test_make_tokenizer_names():
    assert isinstance(make_tokenizer("word", min_count=2), WordTokenizer)
    assert isinstance(make_tokenizer("sentencepiece", vocab_size=50), SentencePieceTokenizer)
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        make_tokenizer("bpe")


@pytest.mark.parametrize("kind", ["sentencepiece", "word", "char"])
def test_load_parallel_reads_a_users_file(tmp_path, kind):
    path = tmp_path / "ko_en.tsv"
    write_sentence_file(path, PAIRS, seed=1)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n\r\n" in raw  # a byte-order mark, CRLF, blank lines
    data = load_parallel(path, test_fraction=0.2, tokenizer=make_tokenizer(kind, vocab_size=200))
    assert data.blank_lines == raw.count(b"\r\n\r\n") and data.tokens[:4] == [PAD, START, END, UNK]
    assert len(data.train[0]) + len(data.test[0]) == len(PAIRS) and len(data.test[0]) == 120
    plain = load_parallel(path, test_fraction=0.2)  # the same rows in the same order as without a tokenizer
    assert [plain.decode(t) for t in plain.test[1]] == data.references
    decoded = [data.decode(t) for t in data.test[1]]
    assert [d for d in decoded if UNK not in d] == [
        r for d, r in zip(decoded, data.references, strict=True) if UNK not in d
    ]
    assert sum(UNK in d for d in decoded) < (60 if kind == "word" else 1)  # whole words: new phone numbers
    assert all("\ufeff" not in tok for tok in data.tokens)
    x, t = data.train
    assert (x[:, 0] != 0).all() and (t[:, 0] == 1).all() and ((x == 2).sum(axis=1) == 1).all()
    if kind != "sentencepiece":  # the test rows' tokens the training rows lack are <unk>
        train_ids = set(np.unique(np.concatenate([x.ravel(), t.ravel()])))
        assert set(np.unique(data.test[0])) <= train_ids | {3}
    again = load_parallel(path, test_fraction=0.2, tokenizer=data.tokenizer, vocabulary=data.tokens)
    assert np.array_equal(again.test[0], data.test[0]) and np.array_equal(again.train[1], data.train[1])


def test_load_parallel_unknown_test_words_are_unk(tmp_path):
    path = tmp_path / "tiny.tsv"
    path.write_text("a b\tx y\na c\tx z\na b\tx y\nq r\tw v\n", encoding="utf-8")
    data = load_parallel(path, seed=None, test_fraction=0.0, tokenizer=WordTokenizer(min_count=2))
    assert data.tokens == [PAD, START, END, UNK, "a", "b", "x", "y"]
    assert data.decode(data.train[1][1]) in {"x y", f"x {UNK}", f"{UNK} {UNK}"}
    assert (data.train[0] == 3).any()


def test_sentencepiece_makes_pieces_of_words_always_followed_by_the_same_word():
    texts = [f"{name} lives in {city}." for name in ("Minsu", "Sua", "Jimin") for city in ("Seoul", "Busan")] * 30
    pieces = SentencePieceTokenizer(vocab_size=200).fit(texts, texts)
    assert pieces.tokenize("Sua lives in Busan.", "target")[:3] == ["▁Sua", "▁lives", "▁in"]


@pytest.mark.parametrize(
    "make", [lambda: WordTokenizer(), lambda: CharTokenizer(), lambda: SentencePieceTokenizer(vocab_size=200)]
)
def test_hostile_text_tokenizes_or_is_a_value_error(make):
    tokenizer = make().fit(KOREAN[:50], ENGLISH[:50])
    for text in ["a\x00b 민수", "\u200b", "😀 이 가방은", "\u202e\u0301\u0301", "", "   ", "가" * 5000]:
        tokens = tokenizer.tokenize(text, "source")
        assert all(isinstance(t, str) and t for t in tokens)
        tokenizer.detokenize(tokenizer.tokenize(text, "target"))
    with pytest.raises(ValueError):
        tokenizer.tokenize("\udfff", "source")


def test_a_sentencepiece_vocabulary_below_the_characters_is_a_value_error():
    with pytest.raises(ValueError, match="source side has .* characters, each a piece of its own"):
        SentencePieceTokenizer(vocab_size=60).fit(KOREAN, ENGLISH)

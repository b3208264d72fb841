"""``attncore serve`` from the outside: a server process on localhost and a real HTTP client (the standard
library's ``http.client``). Its answers are ``attncore translate --json``'s; concurrent requests are batched
and each gets its own answers; bad requests are a 400 (an oversized one a 413) with a one-line JSON error and
the server lives on; SIGTERM in the middle of a request answers it and exits 0."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from helpers import SLOWNESS, assert_clean_error, cli

from attncore.datasets.sentences import sentence_pairs, write_sentence_file

PAIRS = sentence_pairs(400, seed=7)
SENTENCES = [source for source, _ in PAIRS[:40]]
LEARN = ["--epochs", "10", "--hidden", "32", "--wordvec", "16", "--lr", "0.01"]  # 2.5 s: answers worth comparing


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    data = root / "ko_en.tsv"
    write_sentence_file(data, PAIRS, seed=2)
    r = cli("train", "--data", str(data), "--out", str(root / "run"), *LEARN)
    assert r.returncode == 0, r.stderr
    return str(root / "run" / "best.npz")


class Server:
    """``attncore serve --port 0`` in a subprocess; ``port`` from its first line."""

    def __init__(self, params: str, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "attncore", "serve", "--params", params, "--port", "0", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()  # the server prints it once it listens
        assert "on http://127.0.0.1:" in line, (line, self.process.stderr.read())
        self.port = int(line.split("http://127.0.0.1:")[1].split()[0])

    def request(self, method: str, path: str, body: bytes | str | None = None, timeout: float = 120):
        """The status and the parsed JSON body (every answer of the server is JSON)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout * SLOWNESS)
        try:
            data = body.encode("utf-8") if isinstance(body, str) else body
            connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            raw = response.read()
            assert response.getheader("Content-Type", "").startswith("application/json"), raw
            return response.status, json.loads(raw)
        finally:
            connection.close()

    def translate(self, **request):
        return self.request("POST", "/translate", json.dumps(request, ensure_ascii=False))

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=60 * SLOWNESS)
        finally:
            self.process.kill()
        return self.process.returncode, err


@pytest.fixture(scope="module")
def server(params):
    running = Server(params, "--threads", "1")
    yield running
    status, err = running.stop()
    assert status == 0 and "Traceback" not in err, err


def translate_json(params: str, texts: list[str], *options: str, tmp_path) -> list[dict]:
    file = tmp_path / "in.txt"
    file.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    r = cli("translate", "--params", params, "--file", str(file), "--json", *options)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def same(got: list[dict], want: list[dict]) -> bool:
    """Answers alike: the texts and tokens exactly, the probabilities and scores to 1e-5 (a sentence decoded
    beside others sums its products in another order: the last printed digit may differ)."""

    def close(a, b) -> bool:
        return bool(np.allclose(a, b, rtol=0, atol=1e-5))

    def alike(g: dict, w: dict) -> bool:
        if set(g) != set(w) or any(g[k] != w[k] for k in g if k not in ("probabilities", "score", "nbest")):
            return False
        if "nbest" in g and not (len(g["nbest"]) == len(w["nbest"]) and all(map(alike, g["nbest"], w["nbest"]))):
            return False
        return all(close(g[k], w[k]) for k in ("probabilities", "score") if k in g)

    return len(got) == len(want) and all(map(alike, got, want))


def test_health(server):
    status, body = server.request("GET", "/health")
    assert status == 200 and body["status"] == "ok" and "AttentionSeq2seq" in body["model"]


def test_answers_are_translates(server, params, tmp_path):
    """One sentence ("text") and many ("texts"), greedy and with a beam and n-best: ``translate --json``'s
    objects, Unicode as it is in the body."""
    want = translate_json(params, SENTENCES, tmp_path=tmp_path)
    assert any(w["output"] for w in want)
    status, body = server.translate(texts=SENTENCES)
    assert status == 200 and same(body["translations"], want)
    status, body = server.translate(text=SENTENCES[0])
    assert status == 200 and same(body["translations"], want[:1])
    want = translate_json(params, SENTENCES[:5], "--beam", "4", "--nbest", "3", tmp_path=tmp_path)
    status, body = server.translate(texts=SENTENCES[:5], beam=4, nbest=3)
    assert status == 200 and same(body["translations"], want)
    assert all(len(t["nbest"]) == 3 for t in body["translations"])


def test_unicode_and_unknown_words(server, params, tmp_path):
    texts = ["🙂 지영은 런던에 살아요.", "ＡＢＣ  민수는\u2028서울에 살아요."]
    status, body = server.translate(texts=texts)
    assert status == 200 and same(body["translations"], translate_json(params, texts, tmp_path=tmp_path))
    assert [t["input"] for t in body["translations"]] == texts and "unknown" in body["translations"][0]


def test_concurrent_requests_are_batched_and_each_gets_its_own_answers(server, params, tmp_path):
    """A long request keeps the model busy while 24 small ones arrive from 24 threads: they wait and go
    through in few batches, and each answer is the one that sentence gets alone."""
    want = {w["input"]: w for w in translate_json(params, SENTENCES, tmp_path=tmp_path)}
    before = server.request("GET", "/health")[1]
    with ThreadPoolExecutor(25) as pool:
        long = pool.submit(server.translate, texts=SENTENCES * 20, beam=2)
        small = [pool.submit(server.translate, text=SENTENCES[i % len(SENTENCES)]) for i in range(24)]
        answers = [f.result() for f in small]
        assert long.result()[0] == 200
    for i, (status, body) in enumerate(answers):
        assert status == 200 and same(body["translations"], [want[SENTENCES[i % len(SENTENCES)]]])
    after = server.request("GET", "/health")[1]
    assert after["requests"] - before["requests"] == 25
    assert after["batches"] - before["batches"] < 25  # batched: fewer model calls than requests


BAD = [
    ('{"texts": ["a"', 400, "not JSON"),
    ("[1, 2]", 400, "must be a JSON object"),
    ('"text"', 400, "must be a JSON object"),
    ("{}", 400, 'give one of "text"'),
    ('{"text": "a", "texts": ["b"]}', 400, 'give one of "text"'),
    ('{"text": 5}', 400, "must be a string"),
    ('{"texts": "a b"}', 400, "must be a string"),
    ('{"texts": []}', 400, "from 1 to 1000 sentences"),
    (json.dumps({"texts": ["a"] * 1001}), 400, "from 1 to 1000 sentences"),
    ('{"text": "a", "beam": 0}', 400, '"beam" must be a whole number'),
    ('{"text": "a", "beam": "3"}', 400, '"beam" must be a whole number'),
    ('{"text": "a", "beam": true}', 400, '"beam" must be a whole number'),
    ('{"text": "a", "beam": 2, "nbest": 3}', 400, '"nbest" must be a whole number from 1 to the beam'),
    ('{"text": "a", "length_penalty": NaN}', 400, '"length_penalty" must be a number'),
    ('{"text": "a", "beem": 2}', 400, "unknown field 'beem'"),
    ('{"text": "   "}', 400, "the text: the input is empty"),
    ('{"texts": ["a", "<s> b"]}', 400, "sentence 2: the input holds the special token"),
    (json.dumps({"text": " ".join(["서울"] * 1200)}), 400, "reads at most"),
    (b'{"text": "\xff"}', 400, "not UTF-8"),
    (b"x" * (64 * 1024 + 1), 413, "the body is over 65,536 bytes"),
]


@pytest.fixture(scope="module")
def small_server(params):
    """A server with a small body limit, for the oversized requests."""
    running = Server(params, "--threads", "1", "--max-request-bytes", str(64 * 1024))
    yield running
    assert running.stop()[0] == 0


@pytest.mark.parametrize("body, status, message", BAD, ids=range(len(BAD)))
def test_bad_requests_are_refused_with_a_message(small_server, body, status, message):
    got, answer = small_server.request("POST", "/translate", body)
    assert got == status and set(answer) == {"error"} and message in answer["error"], answer
    assert "Traceback" not in answer["error"] and "\n" not in answer["error"]
    assert small_server.translate(text=SENTENCES[0])[0] == 200  # and the server lives on


def test_wrong_paths_and_methods(server):
    assert server.request("GET", "/translate") == (405, {"error": "Method Not Allowed"})
    assert server.request("POST", "/nothing", "{}") == (404, {"error": "Not Found"})


def test_sigterm_answers_the_request_it_holds_and_exits_0(params):
    """SIGTERM while a long request decodes: that request is answered in full, then the server stops
    listening and exits 0."""
    running = Server(params, "--threads", "1")
    result = {}
    thread = threading.Thread(
        target=lambda: result.update(answer=running.translate(texts=SENTENCES * 25, beam=3)), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 60 * SLOWNESS
    while running.request("GET", "/health")[1]["decoding"] == 0:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.01)
    status, err = running.stop()
    thread.join(60 * SLOWNESS)
    assert status == 0 and "Traceback" not in err, err
    assert result["answer"][0] == 200 and len(result["answer"][1]["translations"]) == len(SENTENCES) * 25
    assert "stopped after" in err and "answered 1 request, 1000 sentences" in err
    with pytest.raises(ConnectionRefusedError):
        running.request("GET", "/health", timeout=5)


def test_bad_options_are_one_line(params, server):
    assert_clean_error(cli("serve", "--params", params, "--port", "70000"), text="--port must be from 0 to 65535")
    assert_clean_error(cli("serve", "--params", params, "--max-batch", "0"), text="--max-batch must be at least 1")
    assert_clean_error(cli("serve", "--params", "missing.npz"), text="missing.npz")
    busy = cli("serve", "--params", params, "--port", str(server.port))
    assert_clean_error(busy, text=f"cannot listen on 127.0.0.1:{server.port}")


def test_an_unexpected_error_is_a_500_with_one_line_and_the_server_lives_on(params, capsys):
    """The app in this process (aiohttp's test server and client, over a socket) with a decoder that fails
    once: that request gets a 500 and a one-line JSON error, the traceback goes to the server's stderr, and the
    next request is answered."""
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from attncore.cli.server import Translator, make_app

    async def scenario():
        translator = Translator(params, 1000)
        decode, failed = translator.decode, []

        def fail_once(jobs):
            if not failed:
                failed.append(True)
                raise RuntimeError("the kernel failed")
            return decode(jobs)

        translator.decode = fail_once
        worker = asyncio.create_task(translator.run())
        try:
            async with TestClient(TestServer(make_app(web, translator, 1 << 20))) as client:
                first = await client.post("/translate", json={"text": SENTENCES[0]})
                second = await client.post("/translate", json={"text": SENTENCES[0]})
                return first.status, await first.json(), second.status, await second.json()
        finally:
            worker.cancel()
            translator.worker.shutdown(wait=True)

    status, body, again, answer = asyncio.run(scenario())
    assert status == 500 and body == {"error": "internal error: RuntimeError: the kernel failed"}
    assert again == 200 and answer["translations"][0]["input"] == SENTENCES[0]
    assert "Traceback" in capsys.readouterr().err

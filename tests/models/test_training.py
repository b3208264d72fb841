"""Optimizers, clip_grads, remove_duplicate, Trainer and the evaluation helpers."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import reference_steps

from attncore import optimizer as opt
from attncore.attention_seq2seq import AttentionSeq2seq
from attncore.trainer import Trainer, remove_duplicate
from attncore.util import clip_grads, eval_seq2seq, evaluate_seq2seq


def arrays(seed, shapes=((3, 4), (5,))):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype("f") for s in shapes]


@pytest.mark.parametrize(
    "name,hp",
    [
        ("SGD", dict(lr=0.1)),
        ("Momentum", dict(lr=0.1, momentum=0.8)),
        ("Nesterov", dict(lr=0.1, momentum=0.8)),
        ("AdaGrad", dict(lr=0.1)),
        ("RMSprop", dict(lr=0.1, decay_rate=0.9)),
        ("Adam", dict(lr=0.01, beta1=0.8, beta2=0.99)),
    ],
)
def test_optimizers_follow_the_books_formulas(name, hp):
    params = arrays(0)
    grads_seq = [arrays(s) for s in (1, 2, 3)]
    want = reference_steps(name, params, grads_seq, **hp)
    optimizer = getattr(opt, name)(**hp)
    ids = [id(p) for p in params]
    for grads in grads_seq:
        optimizer.update(params, grads)
    assert [id(p) for p in params] == ids  # updated in place
    for got, expected in zip(params, want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
        assert got.dtype == np.float32


def test_clip_grads():
    grads = [np.full(4, 3.0, "f"), np.full(2, 4.0, "f")]
    norm = np.sqrt(4 * 9 + 2 * 16)
    clip_grads(grads, 1.0)
    np.testing.assert_allclose(np.sqrt(sum(np.sum(g**2) for g in grads)), norm / (norm + 1e-6), rtol=1e-6)
    small = [np.full(3, 0.1, "f")]
    clip_grads(small, 1.0)
    np.testing.assert_array_equal(small[0], np.full(3, 0.1, "f"))


def test_remove_duplicate_merges_shared_and_transposed():
    W = np.arange(6, dtype="f").reshape(2, 3)
    b = np.ones(3, "f")
    WT = W.T.copy()
    gW, gb, gW2, gWT = np.ones((2, 3), "f"), np.ones(3, "f"), np.full((2, 3), 2, "f"), np.full((3, 2), 5, "f")
    params, grads = remove_duplicate([W, b, W, WT], [gW, gb, gW2, gWT])
    assert len(params) == 2 and params[0] is W and params[1] is b
    np.testing.assert_array_equal(grads[0], 1 + 2 + 5)


def tiny_task(seed=0, N=64):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 9, (N, 5))
    t = np.concatenate([np.zeros((N, 1), int), x[:, ::-1][:, :3]], axis=1)  # answer: the last three reversed
    return x, t


def test_trainer_prints_the_books_lines_and_learns(capsys):
    x, t = tiny_task()
    np.random.seed(0)
    model = AttentionSeq2seq(10, 8, 16)
    trainer = Trainer(model, opt.Adam(0.01))
    trainer.fit(x, t, max_epoch=3, batch_size=16, max_grad=5.0, eval_interval=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 * 2 == len(trainer.loss_list)
    assert re.fullmatch(r"\| epoch 1 \|  iter 1 / 4 \| time \d+\[s\] \| loss \d+\.\d\d", lines[0])
    assert lines[-1].startswith("| epoch 3 |  iter 3 / 4 |")
    assert trainer.current_epoch == 3
    assert trainer.loss_list[-1] < trainer.loss_list[0]


def test_eval_helpers_agree(capsys):
    x, t = tiny_task(1, N=40)
    np.random.seed(1)
    model = AttentionSeq2seq(10, 8, 16)
    Trainer(model, opt.Adam(0.02)).fit(x, t, max_epoch=15, batch_size=8, eval_interval=None)
    id_to_char = {i: str(i) for i in range(10)}
    one_by_one = [eval_seq2seq(model, x[i : i + 1], t[i : i + 1], id_to_char) for i in range(len(x))]
    assert evaluate_seq2seq(model, x, t, batch_size=7) == pytest.approx(np.mean(one_by_one))
    assert 0 < np.mean(one_by_one)
    eval_seq2seq(model, x[:1], t[:1], id_to_char, verbose=True, is_reverse=True)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Q " + "".join(map(str, x[0]))[::-1]
    assert out[1] == "T " + "".join(map(str, t[0, 1:]))
    assert out[3] == "---"
    with pytest.raises(ValueError):
        evaluate_seq2seq(model, x[:3], t[:2])


def test_fit_returns_history_and_runs_callbacks(tmp_path, capsys):
    from attncore.trainer import EarlyStopping, ModelCheckpoint

    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, (64, 4))
    t = np.concatenate([np.zeros((64, 1), int), x[:, ::-1]], axis=1)  # reverse the question
    np.random.seed(0)
    model = AttentionSeq2seq(5, 6, 12)
    trainer = Trainer(model, opt.Adam(0.05))
    stop = EarlyStopping(patience=2)
    history = trainer.fit(
        x[:48],
        t[:48],
        max_epoch=40,
        batch_size=16,
        eval_interval=None,
        validation_data=(x[48:], t[48:]),
        callbacks=[stop, ModelCheckpoint(tmp_path / "best.npz", best_only=True)],
    )
    assert history is trainer.history
    assert set(history) == {"epoch", "loss", "val_acc", "val_loss", "seconds", "val_seconds"}
    epochs = history["epoch"]
    assert epochs == list(range(1, len(epochs) + 1))
    assert len(epochs) < 40  # stopped early: two epochs without a better val_acc
    assert epochs[-1] - stop.best_epoch == 2 and stop.best == max(history["val_acc"])
    assert history["loss"][-1] < history["loss"][0]
    assert (tmp_path / "best.npz").is_file()
    assert capsys.readouterr().out == ""  # eval_interval=None prints nothing, as in the book
    with pytest.raises(KeyError, match="val_acc"):
        Trainer(model, opt.Adam()).fit(
            x, t, max_epoch=1, batch_size=16, eval_interval=None, callbacks=[EarlyStopping()]
        )


def test_fit_records_the_validation_loss_and_metrics_without_changing_the_training(tmp_path):
    """``val_loss`` is the teacher-forced loss over the validation rows (the model's forward on them all),
    ``metrics`` adds its scores of the guesses; neither draws a random number nor touches the weights, so
    the training losses are those of a fit without validation."""
    from attncore.util import decode_seq2seq

    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, (64, 4))
    t = np.concatenate([np.zeros((64, 1), int), x[:, ::-1]], axis=1)
    runs = []
    for validate in (False, True):
        np.random.seed(0)
        model = AttentionSeq2seq(5, 6, 12)
        trainer = Trainer(model, opt.Adam(0.05))
        seen = []

        def metrics(guess, answers, seen=seen):
            seen.append((guess.copy(), answers.copy()))
            return {"rows": float(len(guess))}

        kwargs = dict(validation_data=(x[48:], t[48:]), metrics=metrics) if validate else {}
        history = trainer.fit(x[:48], t[:48], max_epoch=3, batch_size=16, eval_interval=None, **kwargs)
        runs.append((history, model))
    (plain, _), (validated, model) = runs
    assert validated["loss"] == plain["loss"] and "val_loss" not in plain
    assert validated["rows"] == [16.0, 16.0, 16.0] and len(seen) == 3
    np.testing.assert_array_equal(seen[-1][0], decode_seq2seq(model, x[48:], t[48:]))
    assert validated["val_loss"][-1] == pytest.approx(float(model.forward(x[48:], t[48:])), rel=1e-6)


def books_loop(model, optimizer, x, t, max_epoch, batch_size, max_grad):
    """The book's ``Trainer.fit`` without its printing, written out for this test: ``x = x[idx]`` each epoch."""
    from attncore.trainer import train_step

    for _ in range(max_epoch):
        idx = np.random.permutation(np.arange(len(x)))
        x, t = x[idx], t[idx]
        for i in range(len(x) // batch_size):
            train_step(
                model,
                optimizer,
                x[i * batch_size : (i + 1) * batch_size],
                t[i * batch_size : (i + 1) * batch_size],
                max_grad,
            )


def test_fit_gives_the_books_numbers():
    x, t = tiny_task()
    models = []
    for run in range(2):
        np.random.seed(3)
        model = AttentionSeq2seq(10, 8, 16)
        if run == 0:
            books_loop(model, opt.Adam(0.01), x, t, 3, 16, 5.0)
        else:
            Trainer(model, opt.Adam(0.01)).fit(x, t, max_epoch=3, batch_size=16, max_grad=5.0, eval_interval=None)
        models.append(model)
    for a, b in zip(models[0].params, models[1].params, strict=True):
        assert np.array_equal(a, b)


class InterruptAt:
    """A model that raises SIGINT in the main thread during its ``calls``-th training step (in backward)."""

    def __init__(self, model, calls, times=1) -> None:
        self.model, self.calls, self.times, self.count = model, calls, times, 0
        self.params, self.grads = model.params, model.grads

    def forward(self, xs, ts):
        return self.model.forward(xs, ts)

    def backward(self, dout=1):  # training steps only (the validation loss runs forward alone)
        import signal

        self.count += 1
        if self.count == self.calls:
            for _ in range(self.times):
                signal.raise_signal(signal.SIGINT)
        return self.model.backward(dout)

    def generate_batch(self, *args):
        return self.model.generate_batch(*args)


@pytest.mark.parametrize("stop_at", [1, 5, 8, 9, 13])
def test_an_interrupted_fit_continues_exactly(stop_at):
    """Ctrl-C stops between two steps; state() restored into a new Trainer carries on to the same params."""
    from attncore.trainer import TrainingInterrupted

    x, t = tiny_task(N=70)  # 4 full batches of 16 and a partial one of 6: drop_last=False trains 5 per epoch
    kwargs = dict(
        max_epoch=3, batch_size=16, max_grad=5.0, eval_interval=None, drop_last=False, validation_data=(x[:20], t[:20])
    )
    np.random.seed(5)
    plain = AttentionSeq2seq(10, 8, 16)
    whole = Trainer(plain, opt.Adam(0.01)).fit(x, t, **kwargs)
    assert len(whole["epoch"]) == 3

    np.random.seed(5)
    model = AttentionSeq2seq(10, 8, 16)
    trainer = Trainer(InterruptAt(model, stop_at), opt.Adam(0.01))
    with pytest.raises(TrainingInterrupted):
        trainer.fit(x, t, **kwargs)
    assert trainer.current_epoch * 5 + trainer.position == stop_at  # the step in progress was finished
    record, arrays = trainer.state()
    import json

    record = json.loads(json.dumps(record))  # what a checkpoint file keeps
    np.random.seed(123)  # restore() brings back the random state too
    resumed = Trainer(model, opt.Adam(0.01))
    resumed.restore(record, {k: v.copy() for k, v in arrays.items()})
    history = resumed.fit(x, t, **{**kwargs, "max_epoch": 3 - resumed.current_epoch})
    for a, b in zip(plain.params, model.params, strict=True):
        assert np.array_equal(a, b)
    assert history["epoch"] == [1, 2, 3]
    assert history["loss"] == pytest.approx(whole["loss"], rel=1e-12)
    assert history["val_acc"] == whole["val_acc"]


def test_a_second_ctrl_c_interrupts_at_once():
    from attncore.trainer import TrainingInterrupted

    x, t = tiny_task()
    np.random.seed(0)
    trainer = Trainer(InterruptAt(AttentionSeq2seq(10, 8, 16), 2, times=2), opt.Adam(0.01))
    with pytest.raises(KeyboardInterrupt) as info:
        trainer.fit(x, t, max_epoch=2, batch_size=16, eval_interval=None)
    assert not isinstance(info.value, TrainingInterrupted)


def test_fit_continues_only_after_an_interrupt():
    """Without an interrupt, each fit starts from the caller's order of the rows, as the book's does."""
    x, t = tiny_task()
    np.random.seed(0)
    trainer = Trainer(AttentionSeq2seq(10, 8, 16), opt.Adam(0.01))
    trainer.fit(x, t, max_epoch=1, batch_size=16, eval_interval=None)
    trainer.fit(x, t, max_epoch=1, batch_size=16, eval_interval=None)
    np.random.seed(0)
    model = AttentionSeq2seq(10, 8, 16)
    optimizer = opt.Adam(0.01)
    books_loop(model, optimizer, x, t, 1, 16, None)
    books_loop(model, optimizer, x, t, 1, 16, None)
    for a, b in zip(trainer.model.params, model.params, strict=True):
        assert np.array_equal(a, b)
    assert trainer.history["epoch"] == [1, 2]


def test_optimizer_state_round_trip():
    from attncore.trainer_state import optimizer_state, restore_optimizer

    for cls in (opt.SGD, opt.Momentum, opt.AdaGrad, opt.RMSprop, opt.Adam):
        a, b = cls(lr=0.05), cls(lr=0.05)
        params = arrays(1)
        a.update(params, arrays(2))
        record, state = optimizer_state(a)
        restore_optimizer(b, record, state, params)
        p1, p2 = [p.copy() for p in params], [p.copy() for p in params]
        a.update(p1, arrays(3))
        b.update(p2, arrays(3))
        for x1, x2 in zip(p1, p2, strict=True):
            assert np.array_equal(x1, x2)
    with pytest.raises(ValueError, match="Adam"):
        restore_optimizer(opt.SGD(), *optimizer_state(opt.Adam()), [])

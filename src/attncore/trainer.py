"""``Trainer`` and ``remove_duplicate`` of the book's ``common/trainer.py``."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import numpy as np

from .trainer_state import check_state, optimizer_state, restore_optimizer
from .util import clip_grads

__all__ = ["Trainer", "TrainingInterrupted", "remove_duplicate", "train_step", "EarlyStopping", "ModelCheckpoint"]


def remove_duplicate(params: list[np.ndarray], grads: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Merge parameters shared by identity or by transposition; returns new lists.

    A parameter that is the same object as an earlier one has its gradient
    added to the earlier one's gradient (in place, as the book does); a 2-D
    parameter equal to an earlier one's transpose adds its transposed
    gradient. The inputs are not modified as lists.
    """
    kept_params: list[np.ndarray] = []
    kept_grads: list[np.ndarray] = []
    for param, grad in zip(params, grads, strict=True):
        for i, kept in enumerate(kept_params):
            if param is kept:
                kept_grads[i] += grad
                break
            if param.ndim == 2 and kept.ndim == 2 and kept.T.shape == param.shape and np.array_equal(kept.T, param):
                kept_grads[i] += grad.T
                break
        else:
            kept_params.append(param)
            kept_grads.append(grad)
    return kept_params, kept_grads


def train_step(
    model: Any, optimizer: Any, batch_x: np.ndarray, batch_t: np.ndarray, max_grad: float | None = None
) -> float:
    """One iteration as the book runs it: forward, backward, merge shared params, clip, update; returns the loss."""
    loss = model.forward(batch_x, batch_t)
    model.backward()
    params, grads = remove_duplicate(model.params, model.grads)
    if max_grad is not None:
        clip_grads(grads, max_grad)
    optimizer.update(params, grads)
    return loss


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C reached ``Trainer.fit`` and it stopped between two steps: ``state()`` can be saved and resumed."""


class Trainer:
    """Mini-batch training loop: ``fit`` shuffles each epoch and prints the book's progress lines.

    ``loss_list`` holds the mean loss of every ``eval_interval`` iterations;
    ``plot(ylim=None)`` draws it (needs matplotlib). ``history`` holds the
    per-epoch record of every ``fit`` so far. ``state()`` and ``restore()``
    save and restore the position in the training (with the optimizer's state
    and NumPy's random state), so an interrupted run continues exactly.
    """

    def __init__(self, model: Any, optimizer: Any) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss_list: list[float] = []
        self.eval_interval: int | None = None
        self.current_epoch = 0
        self.history: dict[str, list] = {"epoch": [], "loss": [], "seconds": []}
        self._order: np.ndarray | None = None  # rows in the order of the epoch in progress (the book's x[idx])
        self._position: int | None = None  # next iteration of the epoch in progress; None between epochs
        self._epoch_loss = 0.0
        self._epoch_seconds = 0.0
        self._continue = False  # the next fit carries on from _order/_position (after an interrupt or restore)

    def fit(
        self,
        x: np.ndarray,
        t: np.ndarray,
        max_epoch: int = 10,
        batch_size: int = 32,
        max_grad: float | None = None,
        eval_interval: int | None = 20,
        *,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        callbacks: Any = (),
        drop_last: bool = True,
        progress: bool = False,
        metrics: Any | None = None,
    ) -> dict:
        """Train as the book does, and return the history of the epochs.

        With the book's arguments alone this is the book's loop and output
        (shuffle with ``np.random.permutation`` each epoch, ``len(x) //
        batch_size`` iterations, a progress line every ``eval_interval``).

        - ``validation_data=(x_val, t_val)`` scores greedy decoding after each
          epoch (exact match, ``val_acc``, as ``util.evaluate_seq2seq``) and
          the teacher-forced loss (``val_loss``, ``util.validation_loss``);
          ``metrics(guess (N,Td), answers (N,Td)) -> {name: value}`` adds its
          scores of the guesses (the command line's: token accuracy, BLEU,
          chrF).
        - Each callback's ``on_epoch_end(trainer, logs)`` runs after each epoch
          and may return True to stop (:class:`EarlyStopping`,
          :class:`ModelCheckpoint`).
        - ``drop_last=False`` also trains the last, partial batch of an epoch.
        - ``progress=True`` shows a ``tqdm`` bar per epoch on a terminal's stderr.
        - Ctrl-C (SIGINT, or SIGTERM, in the main thread) ends the iteration in progress,
          then raises :class:`TrainingInterrupted` (a ``KeyboardInterrupt``):
          the model and optimizer are between two steps, and calling ``fit``
          again (or ``restore(state())`` in a new process) continues from
          there. A second Ctrl-C raises a plain ``KeyboardInterrupt`` at once,
          mid-step.

        Returns ``self.history``: ``{"epoch", "loss", "seconds"}`` and, with
        validation data, ``"val_acc"``, ``"val_loss"``, ``"val_seconds"`` and
        the ``metrics``' names, one entry per epoch (of every ``fit`` so far;
        None for the epochs before a key was first recorded).
        """
        data_size = len(x)
        iters = data_size // batch_size if drop_last else -(-data_size // batch_size)
        if not self._continue or self._order is None or len(self._order) != data_size:
            self._order, self._position = np.arange(data_size), None  # the book starts from the caller's x
        self.eval_interval = eval_interval
        history = self.history
        try:
            self._epochs(
                x,
                t,
                max_epoch,
                batch_size,
                max_grad,
                eval_interval,
                iters,
                validation_data,
                callbacks,
                progress,
                metrics,
            )
        except TrainingInterrupted:
            self._continue = True  # between two steps: the next fit carries on from here
            raise
        self._continue = False
        return history

    def _epochs(
        self,
        x: Any,
        t: Any,
        max_epoch: Any,
        batch_size: Any,
        max_grad: Any,
        eval_interval: Any,
        iters: Any,
        validation_data: Any,
        callbacks: Any,
        progress: Any,
        metrics: Any,
    ) -> None:
        from .util import answers_match, decode_seq2seq, validation_loss

        data_size, history = len(x), self.history
        order = self._order
        assert order is not None  # fit sets it
        total_loss, loss_count = 0.0, 0
        start_time = time.time()
        with _deferred_interrupt() as interrupted:
            for _ in range(max_epoch):
                if self._position is None:  # a new epoch: x = x[idx] as the book shuffles
                    idx = np.random.permutation(np.arange(data_size))
                    order = order[idx]
                    self._order = order
                    self._position, self._epoch_loss, self._epoch_seconds = 0, 0.0, 0.0
                epoch_start = time.perf_counter()
                with _progress(progress, iters, self._position, f"epoch {self.current_epoch + 1}") as bar:
                    while self._position < iters:
                        iters_done = self._position
                        batch = order[iters_done * batch_size : (iters_done + 1) * batch_size]
                        loss = train_step(self.model, self.optimizer, x[batch], t[batch], max_grad)
                        self._position += 1
                        total_loss += loss
                        self._epoch_loss += float(loss)
                        loss_count += 1
                        if bar is not None:
                            bar.set_postfix(loss=f"{self._epoch_loss / self._position:.4f}", refresh=False)
                            bar.update()
                        if eval_interval is not None and iters_done % eval_interval == 0:
                            avg_loss = total_loss / loss_count
                            elapsed_time = time.time() - start_time
                            print(
                                f"| epoch {self.current_epoch + 1} |  iter {iters_done + 1} / {iters} | "
                                f"time {int(elapsed_time)}[s] | loss {avg_loss:.2f}"
                            )
                            self.loss_list.append(float(avg_loss))
                            total_loss, loss_count = 0.0, 0
                        if interrupted():
                            self._epoch_seconds += time.perf_counter() - epoch_start
                            raise TrainingInterrupted
                self._epoch_seconds += time.perf_counter() - epoch_start
                logs = {
                    "epoch": self.current_epoch + 1,
                    "loss": self._epoch_loss / max(iters, 1),
                    "seconds": self._epoch_seconds,
                }
                if validation_data is not None:
                    val_start = time.perf_counter()
                    x_val, t_val = validation_data
                    guess = decode_seq2seq(self.model, x_val, t_val)
                    logs["val_acc"] = float(
                        np.mean(answers_match(guess, t_val[:, 1:], getattr(self.model, "pad_id", None)))
                    )
                    logs["val_loss"] = validation_loss(self.model, x_val, t_val)
                    if metrics is not None:
                        logs.update(metrics(guess, t_val[:, 1:]))
                    logs["val_seconds"] = time.perf_counter() - val_start
                self.current_epoch += 1
                self._position = None
                for key in logs:  # a key first recorded now: None for the epochs before
                    history.setdefault(key, [None] * len(history["epoch"]))
                for key in history:
                    history[key].append(logs.get(key))
                if any([bool(cb.on_epoch_end(self, logs)) for cb in callbacks]):
                    break
                if interrupted():
                    raise TrainingInterrupted

    @property
    def position(self) -> int:
        """Iterations done of the epoch in progress (0 between epochs)."""
        return self._position or 0

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Where the training stands, as ``(record, arrays)``: a JSON-compatible record (epoch, history,
        optimizer settings, NumPy's random state) and the arrays (row order, optimizer state)."""
        # the legacy form of the state (numpy's stub gives the dict form too)
        kind, keys, pos, has_gauss, cached = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
        record = {
            "current_epoch": self.current_epoch,
            "position": self._position,
            "epoch_loss": self._epoch_loss,
            "epoch_seconds": self._epoch_seconds,
            "history": self.history,
            "loss_list": self.loss_list,
            "random_state": [kind, int(pos), int(has_gauss), float(cached)],
        }
        arrays: dict[str, np.ndarray] = {"random_keys": keys}
        if self._order is not None:
            arrays["order"] = self._order
        opt_record, opt_arrays = optimizer_state(self.optimizer)
        record["optimizer"] = opt_record
        arrays.update({"optimizer_" + k: v for k, v in opt_arrays.items()})
        return record, arrays

    def restore(self, record: dict, arrays: dict[str, np.ndarray]) -> None:
        """Continue from ``state()``: the next ``fit`` on the same data carries on from there. Everything is
        checked first (``ValueError`` naming what does not fit); on an error nothing has changed."""
        check_state(record, arrays)
        restore_optimizer(
            self.optimizer,
            record["optimizer"],
            {k[len("optimizer_") :]: v for k, v in arrays.items() if k.startswith("optimizer_")},
            self.model.params,
        )
        kind, pos, has_gauss, cached = record["random_state"]
        np.random.set_state((kind, np.asarray(arrays["random_keys"], dtype=np.uint32), pos, has_gauss, cached))
        self.current_epoch = int(record["current_epoch"])
        self._position = record["position"]
        self._epoch_loss, self._epoch_seconds = float(record["epoch_loss"]), float(record["epoch_seconds"])
        self.history = {k: list(v) for k, v in record["history"].items()}
        self.loss_list = list(record["loss_list"])
        self._order = np.asarray(arrays["order"]) if "order" in arrays else None
        self._continue = True

    def plot(self, ylim: tuple[float, float] | None = None) -> None:
        import matplotlib.pyplot as plt

        x = np.arange(len(self.loss_list))
        if ylim is not None:
            plt.ylim(*ylim)
        plt.plot(x, self.loss_list, label="train")
        plt.xlabel("iterations (x" + str(self.eval_interval) + ")")
        plt.ylabel("loss")
        plt.show()


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[Any]:
    """Within: the first SIGINT or SIGTERM (what schedulers and ``timeout`` send) is remembered (the yielded
    function returns True from then on), a second one raises KeyboardInterrupt at once. Outside the main
    thread signals cannot be caught: a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    seen: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if seen:
            raise KeyboardInterrupt
        seen.append(signum)

    try:
        previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main interpreter
        yield lambda: False
        return
    try:
        yield lambda: bool(seen)
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)


@contextlib.contextmanager
def _progress(enabled: bool, total: int, done: int, desc: str) -> Iterator[Any]:
    """A tqdm bar on stderr when ``enabled`` and stderr is a terminal, else None."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, initial=done, desc=desc, unit="it", leave=False) as bar:
        yield bar


class EarlyStopping:
    """Stop ``Trainer.fit`` after ``patience`` epochs without a better ``monitor`` value (higher is better
    for ``val_acc``, lower for ``loss`` and ``val_loss``) by more than ``min_delta``, as Keras's.
    ``best`` and ``best_epoch`` hold the best seen."""

    def __init__(self, patience: int = 3, monitor: str = "val_acc", min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be at least 0, got {min_delta}")
        self.patience, self.monitor, self.min_delta = patience, monitor, min_delta
        self.best: float | None = None
        self.best_epoch = 0

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.monitor.endswith("loss"):
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def resume_from(self, history: dict) -> None:
        """Take the best value and epoch from the history of a run that is being continued."""
        # a history without the monitored key (a run without validation) gives nothing to resume from
        for epoch, value in zip(history.get("epoch", []), history.get(self.monitor, []), strict=False):
            if value is not None and self.improved(value):
                self.best, self.best_epoch = value, epoch

    def on_epoch_end(self, trainer: Any, logs: dict) -> bool:
        if self.monitor not in logs:
            raise KeyError(
                f"EarlyStopping monitors {self.monitor!r}, which this fit does not record "
                f"(it records {sorted(logs)}; pass validation_data for val_acc)"
            )
        if self.improved(logs[self.monitor]):
            self.best, self.best_epoch = logs[self.monitor], logs["epoch"]
        return logs["epoch"] - self.best_epoch >= self.patience


class ModelCheckpoint(EarlyStopping):
    """Save the model's params (``save_params(path)``, atomic) after each epoch, or with ``best_only``
    only when ``monitor`` improved. Never stops the training."""

    def __init__(self, path: Any, monitor: str = "val_acc", best_only: bool = False) -> None:
        super().__init__(patience=1, monitor=monitor)
        self.path, self.best_only = path, best_only

    def on_epoch_end(self, trainer: Any, logs: dict) -> bool:
        better = self.monitor in logs and self.improved(logs[self.monitor])
        if better:
            self.best, self.best_epoch = logs[self.monitor], logs["epoch"]
        if better or not self.best_only:
            trainer.model.save_params(self.path)
        return False

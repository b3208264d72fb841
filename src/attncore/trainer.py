"""``Trainer`` and ``remove_duplicate`` of the book's ``common/trainer.py``."""

from __future__ import annotations

import time

import numpy as np

from .util import clip_grads

__all__ = ["Trainer", "remove_duplicate", "train_step", "EarlyStopping", "ModelCheckpoint"]


def remove_duplicate(params: list[np.ndarray], grads: list[np.ndarray]):
    """Merge parameters shared by identity or by transposition; returns new lists.

    A parameter that is the same object as an earlier one has its gradient
    added to the earlier one's gradient (in place, as the book does); a 2-D
    parameter equal to an earlier one's transpose adds its transposed
    gradient. The inputs are not modified as lists.
    """
    kept_params: list[np.ndarray] = []
    kept_grads: list[np.ndarray] = []
    for param, grad in zip(params, grads):
        for i, kept in enumerate(kept_params):
            if param is kept:
                kept_grads[i] += grad
                break
            if (param.ndim == 2 and kept.ndim == 2 and kept.T.shape == param.shape
                    and np.array_equal(kept.T, param)):
                kept_grads[i] += grad.T
                break
        else:
            kept_params.append(param)
            kept_grads.append(grad)
    return kept_params, kept_grads


def train_step(model, optimizer, batch_x: np.ndarray, batch_t: np.ndarray, max_grad: float | None = None) -> float:
    """One iteration as the book runs it: forward, backward, merge shared params, clip, update; returns the loss."""
    loss = model.forward(batch_x, batch_t)
    model.backward()
    params, grads = remove_duplicate(model.params, model.grads)
    if max_grad is not None:
        clip_grads(grads, max_grad)
    optimizer.update(params, grads)
    return loss


class Trainer:
    """Mini-batch training loop: ``fit`` shuffles each epoch and prints the book's progress lines.

    ``loss_list`` holds the mean loss of every ``eval_interval`` iterations;
    ``plot(ylim=None)`` draws it (needs matplotlib).
    """

    def __init__(self, model, optimizer) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss_list: list[float] = []
        self.eval_interval: int | None = None
        self.current_epoch = 0

    def fit(self, x: np.ndarray, t: np.ndarray, max_epoch: int = 10, batch_size: int = 32,
            max_grad: float | None = None, eval_interval: int | None = 20, *,
            validation_data: tuple[np.ndarray, np.ndarray] | None = None, callbacks=()) -> dict:
        """Train as the book does, and return the history of the epochs.

        With the book's arguments alone this is the book's loop and output
        (shuffle with ``np.random.permutation`` each epoch, ``len(x) //
        batch_size`` iterations, a progress line every ``eval_interval``).
        ``validation_data=(x_val, t_val)`` scores greedy decoding after each
        epoch (``util.evaluate_seq2seq``). Each callback's
        ``on_epoch_end(trainer, logs)`` runs after each epoch and may return
        True to stop (:class:`EarlyStopping`, :class:`ModelCheckpoint`).
        Returns ``{"epoch": [...], "loss": [...], "val_acc": [...],
        "seconds": [...]}``, one entry per epoch (``val_acc`` only with
        validation data); the same dict stays in ``self.history``.
        """
        from .util import evaluate_seq2seq

        data_size = len(x)
        max_iters = data_size // batch_size
        self.eval_interval = eval_interval
        total_loss, loss_count = 0.0, 0
        start_time = time.time()
        history: dict[str, list] = {"epoch": [], "loss": [], "seconds": []}
        if validation_data is not None:
            history["val_acc"] = []
        self.history = history
        for _ in range(max_epoch):
            idx = np.random.permutation(np.arange(data_size))
            x, t = x[idx], t[idx]
            epoch_start, epoch_loss = time.time(), 0.0
            for iters in range(max_iters):
                batch = slice(iters * batch_size, (iters + 1) * batch_size)
                loss = train_step(self.model, self.optimizer, x[batch], t[batch], max_grad)
                total_loss += loss
                epoch_loss += float(loss)
                loss_count += 1
                if eval_interval is not None and iters % eval_interval == 0:
                    avg_loss = total_loss / loss_count
                    elapsed_time = time.time() - start_time
                    print("| epoch %d |  iter %d / %d | time %d[s] | loss %.2f"
                          % (self.current_epoch + 1, iters + 1, max_iters, elapsed_time, avg_loss))
                    self.loss_list.append(float(avg_loss))
                    total_loss, loss_count = 0.0, 0
            self.current_epoch += 1
            history["epoch"].append(self.current_epoch)
            history["loss"].append(epoch_loss / max(max_iters, 1))
            history["seconds"].append(time.time() - epoch_start)
            if validation_data is not None:
                history["val_acc"].append(evaluate_seq2seq(self.model, *validation_data))
            logs = {k: v[-1] for k, v in history.items()}
            if any([bool(cb.on_epoch_end(self, logs)) for cb in callbacks]):
                break
        return history

    def plot(self, ylim=None) -> None:
        import matplotlib.pyplot as plt

        x = np.arange(len(self.loss_list))
        if ylim is not None:
            plt.ylim(*ylim)
        plt.plot(x, self.loss_list, label="train")
        plt.xlabel("iterations (x" + str(self.eval_interval) + ")")
        plt.ylabel("loss")
        plt.show()


class EarlyStopping:
    """Stop ``Trainer.fit`` after ``patience`` epochs without a better ``monitor`` value (higher is better
    for ``val_acc``, lower for ``loss``). ``best`` and ``best_epoch`` hold the best seen."""

    def __init__(self, patience: int = 3, monitor: str = "val_acc") -> None:
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        self.patience, self.monitor = patience, monitor
        self.best: float | None = None
        self.best_epoch = 0

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best if self.monitor != "loss" else value < self.best

    def on_epoch_end(self, trainer, logs: dict) -> bool:
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping monitors {self.monitor!r}, which this fit does not record "
                           f"(it records {sorted(logs)}; pass validation_data for val_acc)")
        if self.improved(logs[self.monitor]):
            self.best, self.best_epoch = logs[self.monitor], logs["epoch"]
        return logs["epoch"] - self.best_epoch >= self.patience


class ModelCheckpoint(EarlyStopping):
    """Save the model's params (``save_params(path)``, atomic) after each epoch, or with ``best_only``
    only when ``monitor`` improved. Never stops the training."""

    def __init__(self, path, monitor: str = "val_acc", best_only: bool = False) -> None:
        super().__init__(patience=1, monitor=monitor)
        self.path, self.best_only = path, best_only

    def on_epoch_end(self, trainer, logs: dict) -> bool:
        better = self.monitor in logs and self.improved(logs[self.monitor])
        if better:
            self.best, self.best_epoch = logs[self.monitor], logs["epoch"]
        if better or not self.best_only:
            trainer.model.save_params(self.path)
        return False

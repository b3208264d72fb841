"""``Trainer`` and ``remove_duplicate`` of the book's ``common/trainer.py``."""

from __future__ import annotations

import time

import numpy as np

from .util import clip_grads

__all__ = ["Trainer", "remove_duplicate", "train_step"]


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
            max_grad: float | None = None, eval_interval: int | None = 20) -> None:
        data_size = len(x)
        max_iters = data_size // batch_size
        self.eval_interval = eval_interval
        total_loss, loss_count = 0.0, 0
        start_time = time.time()
        for _ in range(max_epoch):
            idx = np.random.permutation(np.arange(data_size))
            x, t = x[idx], t[idx]
            for iters in range(max_iters):
                batch = slice(iters * batch_size, (iters + 1) * batch_size)
                total_loss += train_step(self.model, self.optimizer, x[batch], t[batch], max_grad)
                loss_count += 1
                if eval_interval is not None and iters % eval_interval == 0:
                    avg_loss = total_loss / loss_count
                    elapsed_time = time.time() - start_time
                    print("| epoch %d |  iter %d / %d | time %d[s] | loss %.2f"
                          % (self.current_epoch + 1, iters + 1, max_iters, elapsed_time, avg_loss))
                    self.loss_list.append(float(avg_loss))
                    total_loss, loss_count = 0.0, 0
            self.current_epoch += 1

    def plot(self, ylim=None) -> None:
        import matplotlib.pyplot as plt

        x = np.arange(len(self.loss_list))
        if ylim is not None:
            plt.ylim(*ylim)
        plt.plot(x, self.loss_list, label="train")
        plt.xlabel("iterations (x" + str(self.eval_interval) + ")")
        plt.ylabel("loss")
        plt.show()

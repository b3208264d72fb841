"""A training run's state as a checkpoint keeps it: the optimizer's settings, counters and state arrays,
and the checks that a record read back has the form ``Trainer.state`` writes (a tampered or damaged one is
a ``ValueError`` naming what is wrong, before anything changes)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["check_state", "optimizer_state", "restore_optimizer"]


def optimizer_state(optimizer: Any) -> tuple[dict, dict[str, np.ndarray]]:
    """An optimizer's settings and counters (JSON) and its state arrays (``m_000``, ``v_000``, ...)."""
    record: dict = {"class": type(optimizer).__name__, "scalars": {}, "lists": {}}
    arrays = {}
    for name, value in vars(optimizer).items():
        if isinstance(value, (bool, int, float)):
            record["scalars"][name] = value
        elif isinstance(value, list):
            record["lists"][name] = len(value)
            arrays.update({f"{name}_{i:03d}": a for i, a in enumerate(value)})
    return record, arrays


def _is_number(value: Any, finite: bool = True) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (not finite or math.isfinite(value))


def check_state(record: Any, arrays: Any) -> None:
    """``ValueError`` unless ``record``/``arrays`` have the form ``Trainer.state`` writes: counters that are
    integers from 0, finite losses, a history of number lists, NumPy's random state, a row order that is a
    permutation (the optimizer's part is checked by ``restore_optimizer``)."""
    if not isinstance(record, dict):
        raise ValueError(f"the trainer's record must be an object, got {type(record).__name__}")
    missing = [
        k
        for k in (
            "current_epoch",
            "position",
            "epoch_loss",
            "epoch_seconds",
            "history",
            "loss_list",
            "random_state",
            "optimizer",
        )
        if k not in record
    ]
    if missing:
        raise ValueError(f"the trainer's record lacks {missing[0]!r}")
    epoch, position = record["current_epoch"], record["position"]
    if type(epoch) is not int or epoch < 0 or not (position is None or (type(position) is int and position >= 0)):
        raise ValueError(
            f"current_epoch must be an integer from 0 and position one or null, got {epoch!r}, {position!r}"
        )
    if not _is_number(record["epoch_loss"], finite=False) or not (
        _is_number(record["epoch_seconds"]) and record["epoch_seconds"] >= 0
    ):
        raise ValueError("epoch_loss must be a number and epoch_seconds a finite one from 0")
    history = record["history"]  # a loss that went NaN is a number too: such a run may still resume
    if not isinstance(history, dict) or not all(
        isinstance(v, list) and all(x is None or _is_number(x, finite=False) for x in v) for v in history.values()
    ):
        raise ValueError("the history must be an object of number lists")
    if not isinstance(record["loss_list"], list) or not all(_is_number(x, finite=False) for x in record["loss_list"]):
        raise ValueError("loss_list must be a list of numbers")
    state = record["random_state"]
    keys = arrays.get("random_keys")
    if (
        not isinstance(state, list)
        or len(state) != 4
        or state[0] != "MT19937"
        or type(state[1]) is not int
        or not 0 <= state[1] <= 624
        or state[2] not in (0, 1)
        or not _is_number(state[3])
        or not isinstance(keys, np.ndarray)
        or keys.shape != (624,)
        or keys.dtype.kind not in "iu"
    ):
        raise ValueError("NumPy's random state is not one it wrote")
    order = arrays.get("order")
    if order is not None:
        if order.ndim != 1 or order.dtype.kind not in "iu" or not np.array_equal(np.sort(order), np.arange(len(order))):
            raise ValueError("the row order must be a permutation of the rows")
        if position is not None and position > len(order):
            raise ValueError(f"position {position} is past the epoch's {len(order)} rows")
    if not isinstance(record["optimizer"], dict):
        raise ValueError(f"the optimizer's record must be an object, got {type(record['optimizer']).__name__}")


def restore_optimizer(optimizer: Any, record: dict, arrays: dict[str, np.ndarray], params: list[np.ndarray]) -> None:
    """Put ``optimizer_state``'s output back into an optimizer of the same class, for ``params``; ValueError
    if it does not fit (the optimizer is unchanged then): its scalars have the types they have now (a
    finite number, a counter from 0), its state lists one array per parameter, of that parameter's shape."""
    name = type(optimizer).__name__
    if not isinstance(record, dict) or record.get("class") != name:
        raise ValueError(
            f"the saved optimizer is {record.get('class') if isinstance(record, dict) else record!r}, not {name}"
        )
    scalars, counts = record.get("scalars"), record.get("lists")
    if not isinstance(scalars, dict) or not isinstance(counts, dict):
        raise ValueError("the optimizer's scalars and lists must be objects")
    now = vars(optimizer)
    unknown = [k for k in [*scalars, *counts] if k not in now]
    if unknown:
        raise ValueError(f"{name} has no state {unknown[0]!r}")
    for key, value in scalars.items():
        current = now[key]
        if isinstance(current, bool) or key == "iter":  # a switch, or the step counter
            if type(value) is not type(current) or (key == "iter" and value < 0):
                raise ValueError(
                    f"{name}.{key} must be {'an integer from 0' if key == 'iter' else 'true or false'}, got {value!r}"
                )
        elif not _is_number(value):
            raise ValueError(f"{name}.{key} must be a finite number, got {value!r}")
    lists = {}
    for key, count in counts.items():
        if count != len(params):
            raise ValueError(f"{name}.{key} must hold one array per parameter ({len(params)}), got {count!r}")
        try:
            lists[key] = [np.array(arrays[f"{key}_{i:03d}"]) for i in range(count)]
        except KeyError as exc:
            raise ValueError(f"the saved optimizer state lacks the array {exc.args[0]!r}") from None
        for i, (array, param) in enumerate(zip(lists[key], params, strict=True)):
            if array.shape != param.shape or array.dtype != param.dtype:
                raise ValueError(
                    f"{name}.{key}[{i}] must be {param.dtype} of shape {param.shape}, got "
                    f"{array.dtype} of shape {array.shape}"
                )
    if counts and scalars.get("iter", getattr(optimizer, "iter", 1)) == 0:
        raise ValueError(f"{name} has state arrays but iter 0")
    for key, value in {**scalars, **lists}.items():
        setattr(optimizer, key, value)

"""``attncore info``: how this installation was built."""

from __future__ import annotations

import argparse

from .. import build_info

__all__ = ["cmd_info"]


def cmd_info(_args: argparse.Namespace) -> int:
    info = build_info()
    width = max(len(k) for k in info)
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(value)
        print(f"{key:<{width}}  {value}")
    return 0

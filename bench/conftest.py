"""Benchmark parameters: the implementations and a fresh-array helper."""

from __future__ import annotations

import importlib.util

import attncore

IMPLS = attncore.available_backends() + (["torch"] if importlib.util.find_spec("torch") else [])

"""The tests' fixtures: the backend, the dtype, a seeded generator, the fused step's instruction set. What
else the tests share is in ``helpers.py``."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import BACKENDS, BEST_ISA, CPP, FUSED_ISAS, NATIVE_BACKENDS

import attncore


@pytest.fixture(params=BACKENDS)
def backend(request):
    with attncore.use_backend(request.param):
        yield request.param


@pytest.fixture(params=NATIVE_BACKENDS)
def native_backend(request):
    return request.param


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=FUSED_ISAS or ["none"])
def isa(request):
    """Each instruction set of the fused kernels this CPU has, in turn."""
    CPP.set_fused_isa(request.param)
    try:
        yield request.param
    finally:
        CPP.set_fused_isa(BEST_ISA)

"""Refactorings keep results bitwise: every case's small run against its stored outputs."""

from __future__ import annotations

import numpy as np
import pytest
from reference_runs import REFERENCE, run_outputs

from billow.cases import CASES


@pytest.mark.parametrize("name", sorted(CASES))
def test_small_run_reproduces_the_stored_reference_bitwise(name):
    stored = np.load(REFERENCE)
    outputs = run_outputs(name)
    expected = {key for key in stored.files if key.startswith(f"{name}/")}
    assert set(outputs) == expected, "the run writes other variables than the reference"
    for key, values in outputs.items():
        # bitwise: a refactoring that reorders a floating-point sum must say so, and
        # regenerate the reference (python tests/reference_runs.py) with the reason
        assert np.array_equal(values, stored[key], equal_nan=True), f"{key} differs"

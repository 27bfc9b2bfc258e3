"""The reference data, loaded once for the reference tests as the product loads it."""

from __future__ import annotations

import pytest

from service.reference import Reference, load_reference


@pytest.fixture(scope="session")
def reference() -> Reference:
    return load_reference()

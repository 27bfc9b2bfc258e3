"""The coordinator as `lnob coordinator serve` builds it, for uvicorn's `--factory`.

`python -m uvicorn bench.coordinator_server:app --factory` serves it with settings from the
environment, whether or not this checkout's CLI names the command yet.
"""

from __future__ import annotations

from starlette.applications import Starlette

from service.coordinator_app import create_coordinator_app
from service.settings import load_settings


def app() -> Starlette:
    return create_coordinator_app(load_settings())

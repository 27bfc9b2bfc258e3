"""The coordinator as `lnob coordinator serve` builds it, for uvicorn's `--factory`.

`python -m uvicorn bench.coordinator_server:app --factory` serves it with settings from the
environment, set for serving as the `serve` commands set it (`service.serving.for_serving`).
"""

from __future__ import annotations

from starlette.applications import Starlette

from service.coordinator_app import create_coordinator_app
from service.serving import for_serving
from service.settings import load_settings


def app() -> Starlette:
    return for_serving(create_coordinator_app(load_settings()))

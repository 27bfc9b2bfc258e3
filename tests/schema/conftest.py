"""The node fixtures, for executing the node's schema over a real store."""

from __future__ import annotations

from tests.node.conftest import test_node

__all__ = ["test_node"]

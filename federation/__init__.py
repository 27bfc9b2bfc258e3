"""The coordinator: node registry, fan-out to nodes, combining answers, stocktake, gap analysis."""

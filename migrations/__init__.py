"""Alembic environment and versions: the only way a node or coordinator schema is made or changed.

Two independent branches share this folder: `node` (a node's store and audit log) and
`coordinator` (the node registry and reference frames). Each database carries one of them.
"""

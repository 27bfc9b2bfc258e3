"""A node: its store, ingest, disclosure control, coverage and audit log."""

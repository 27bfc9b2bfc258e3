"""LNOB data federation: the node and coordinator services."""

"""Operator and developer tools (not deployed)."""

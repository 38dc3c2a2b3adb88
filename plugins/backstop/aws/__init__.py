"""Thin, shared AWS calls used by operators and triggers (one module per service)."""

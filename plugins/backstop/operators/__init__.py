"""Backstop's custom operators, one module per AWS service."""

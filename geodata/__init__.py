"""Geodata: bundled territorial layers, need, existing coverage and accessibility."""

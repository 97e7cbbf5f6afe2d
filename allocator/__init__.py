"""Allocation engine: domain types, model, solve, validate, explain (no web, no geometry)."""

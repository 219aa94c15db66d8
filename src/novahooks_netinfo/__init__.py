"""Inspection of the instance network-info cache (see its issue)."""

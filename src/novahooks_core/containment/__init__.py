"""Containment and observation of handler calls: :mod:`.isolation`
(nothing a handler raises reaches Nova; the veto), :mod:`.redact`
(secrets masked in what is logged), :mod:`.timing` (every call timed and
counted) and :mod:`.metrics` (Prometheus exposition; registers its
textfile writer with :mod:`.timing`, which imports nothing of it).

Import the modules themselves: this package imports nothing.
"""

"""Stage-2 AB pure core: channel schedule, strict filter, Hungarian matching, Channel-B targets, metrics.

Nothing here imports ms-swift; everything is a pure function of its arguments, so every rank
computes the same thing from the same inputs (no rank-dependent control flow).
"""

"""Audit helpers: the pipeline-map checker, invariant checkers and the template fingerprint (issue 9)."""

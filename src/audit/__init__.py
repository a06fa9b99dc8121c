"""Audit at run time: the template fingerprint (template / tokenizer drift guard, issue 9). The pipeline-map
and invariant checkers the audit tests use live in tests/support/."""

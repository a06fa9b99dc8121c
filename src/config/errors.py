"""The one error type of the config system: a list of problems, one paragraph each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One user-facing problem. `key` is a dotted path (e.g. `training.learning_rate`),
    `where` the origin that wrote it (`configs/x.yaml:12`, `override:a.b=1`)."""

    message: str
    key: str | None = None
    where: str | None = None

    def render(self) -> str:
        if self.key and self.where:
            return f"{self.key} ({self.where}): {self.message}"
        if self.key:
            return f"{self.key}: {self.message}"
        if self.where:
            return f"{self.where}: {self.message}"
        return self.message


class ConfigError(Exception):
    """Raised for every user mistake in a config. `str()` is the full user-facing text:
    a header line, then one paragraph per problem. No traceback is needed to act on it."""

    def __init__(self, problems: Iterable[Problem | str], *, subject: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(
            p if isinstance(p, Problem) else Problem(str(p)) for p in problems
        )
        if not self.problems:
            raise ValueError("ConfigError needs at least one problem")
        self.subject = subject
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.problems)
        noun = "problem" if n == 1 else "problems"
        head = f"{n} config {noun}" + (f" in {self.subject}" if self.subject else "") + ":"
        return head + "\n\n" + "\n\n".join(f"- {p.render()}" for p in self.problems)

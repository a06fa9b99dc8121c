"""User-facing messages for schema problems: unknown keys (with "did you mean" and migration
guidance) and pydantic validation errors rendered as dotted paths with their file:line."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import Problem
from .migrations import find_migration
from .yaml_io import join_index, join_key


def unknown_key_problem(
    dotted: str, valid: Iterable[str], where: str | None, hint: str | None = None
) -> Problem:
    """`dotted` is not a valid key; `valid` are the keys valid at its level."""
    leaf = dotted.rpartition(".")[2]
    parts = ["unknown key."]
    migration = find_migration(dotted)
    if migration is not None:
        parts = [f"`{dotted}` is no longer accepted.", migration.guidance()]
    close = difflib.get_close_matches(leaf, sorted(valid), n=3, cutoff=0.6)
    if close and migration is None and hint is None:
        parts.append("Did you mean " + " or ".join(f"`{c}`" for c in close) + "?")
    if hint:
        parts.append(hint)
    return Problem(" ".join(parts), key=dotted, where=where)


def _unwrap(tp: Any) -> Any:
    """Strip Annotated/Optional; a union of several types comes back as a tuple of members."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
        return tuple(_unwrap(m) for m in members)
    return tp


def _tag_member(members: tuple[Any, ...], tag: str) -> type[BaseModel] | None:
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel):
            name = member.model_fields.get("name")
            if name is not None and tag in typing.get_args(name.annotation):
                return member
    return None


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, type[BaseModel] | None, Any]:
    """Dotted path (relative) of a pydantic `loc`, the model owning its last element, and the
    type at the location."""
    path = ""
    tp: Any = model
    owner: type[BaseModel] | None = None
    for elem in loc:
        tp = _unwrap(tp)
        if isinstance(tp, tuple) and isinstance(elem, str) and _tag_member(tp, elem) is not None:
            tp = _tag_member(tp, elem)
            continue
        if isinstance(elem, int):
            path = join_index(path, elem)
            args = typing.get_args(tp) if typing.get_origin(tp) in (list, tuple) else ()
            tp = args[0] if args else None
            continue
        owner = tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None
        path = join_key(path, elem)
        field = owner.model_fields.get(str(elem)) if owner is not None else None
        tp = field.annotation if field is not None else None
    return path, owner, tp


def pydantic_problems(
    exc: ValidationError, model: type[BaseModel], prefix: str, where: Callable[[str], str | None]
) -> list[Problem]:
    """One problem per pydantic error, keyed by the dotted path under `prefix`; `where(dotted)`
    names the file:line that wrote a path."""
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        rel, owner, _ = _walk(model, tuple(err["loc"]))
        dotted = join_key(prefix, rel) if rel else prefix
        kind = err["type"]
        if kind == "extra_forbidden":
            valid = owner.model_fields.keys() if owner is not None else ()
            problems.append(unknown_key_problem(dotted, valid, where(dotted)))
            continue
        if kind == "missing":
            parent = dotted.rpartition(".")[0] or prefix
            problems.append(Problem("required key is missing.", key=dotted, where=where(parent)))
            continue
        message = str(err["msg"]).removeprefix("Value error, ")
        if kind == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag")
            expected = str(err.get("ctx", {}).get("expected_tags", ""))
            close = difflib.get_close_matches(str(tag), [t.strip(" '") for t in expected.split(",")], n=1)
            message = f"unknown `name: {tag}`; expected one of {expected}." + (
                f" Did you mean `{close[0]}`?" if close else ""
            )
        elif kind == "union_tag_not_found":
            message = "each entry needs a `name` that selects its kind."
        elif kind not in ("value_error", "assertion_error") and "input" in err:
            shown = repr(err["input"])
            message = f"{message} (got {shown if len(shown) <= 80 else shown[:77] + '...'})."
        problems.append(Problem(message, key=dotted, where=where(dotted)))
    return problems

"""The token-budget plan of a run: every record of every fusion entry (train and val), counted as the run
encodes it, against the mode's limits; what `custom.overlong` does with the records over them.

- :func:`plan_template`: the run's ms-swift template (tokenizer + image processor, no weights).
- :func:`run_budget`: the mode's limits. sft / gkd: the whole sample <= `global_max_length` (G);
  grpo: the prompt <= G - C (`template.max_length`) and the completion (target + turn end) <= C
  (`rlhf.max_completion_length`); stage2_ab: the whole sample (Channel A) <= G and the completion <=
  `rollout_matching.max_new_tokens` (a rollout that writes every object must fit its budget).
- :func:`build_plan`: the counts (cached by `preflight_cache`: the JSONL files, the tokenizer files and every
  length-relevant setting), which records are over, and for each over-long dense record how many of its
  objects fit (first in rendered order). Deterministic from the data and the config, so every rank, every
  dataloader worker and a resumed run derive the same decision.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from src.config import ConfigError, Problem, TrainingConfig
from src.config.fusion import FusionSource, FusionTarget

from . import preflight_cache
from .builder import SamplePolicy, sample_policy
from .fusion_members import entry_records
from .plan_counts import Budget, EntryCounts, SampleCounter

CACHE_KIND = "plan"
PLAN_VERSION = 1  # bump when the counting changes
VERSIONED = ("ms-swift", "transformers", "tokenizers", "qwen_vl_utils")
# qwen_vl_utils' resize limits and merge size as ms-swift patches them from the environment
RESIZE_ENV = ("IMAGE_MIN_TOKEN_NUM", "IMAGE_MAX_TOKEN_NUM", "MIN_PIXELS", "MAX_PIXELS", "SPATIAL_MERGE_SIZE",
              "IMAGE_FACTOR")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json", "chat_template.jinja",
                   "chat_template.json", "config.json")


@dataclass(frozen=True)
class RunBudget:
    """The mode's limits, how each is described to the user, and C (GRPO: G needs prompt + C)."""

    budget: Budget
    described: dict[str, str]  # part -> "global_max_length 1024", ...
    completion_reserve: int = 0  # GRPO: G must hold the prompt plus C
    completion_key: str | None = None  # the setting of the completion limit

    def needed_length(self, counts: EntryCounts) -> np.ndarray:
        """The global_max_length each record needs (for the prompt / whole-sample limit)."""
        return counts.prompt + self.completion_reserve if self.budget.total is None else counts.total


def run_budget(cfg: TrainingConfig) -> RunBudget:
    from src.config.modes.common import completion_budget

    g, spec = cfg.global_max_length, cfg.spec
    if g is None:
        return RunBudget(Budget(), {})
    if spec.prompt_budget:
        c, source = completion_budget(cfg.source)
        c = int(c or 0)
        return RunBudget(Budget(prompt=g - c, completion=c), {
            "prompt": f"the {spec.name.upper()} prompt budget {g - c} (global_max_length {g} - {source})",
            "completion": f"the completion budget ({source})"}, completion_reserve=c,
            completion_key="rlhf.max_completion_length")
    described = {"total": f"global_max_length {g}"}
    key = spec.rollout_budget_key
    rollout = cfg.source.get(key, None) if key else None
    if rollout is not None:
        described["completion"] = f"the rollout budget {key} {rollout}"
    return RunBudget(Budget(total=g, completion=rollout), described,
                     completion_key=key if rollout is not None else None)


def plan_template(cfg: TrainingConfig) -> Any:
    """The run's ms-swift template, built as the run builds it but from the processor alone (no weights)."""
    from swift.model import get_processor
    from swift.template import get_template

    model = {k: cfg.model[k] for k in ("model_type", "new_special_tokens") if cfg.model.get(k) is not None}
    try:
        processor = get_processor(str(cfg.model_path), download_model=False, **model)
    except Exception as exc:  # noqa: BLE001 - a missing or broken model directory: the user's to fix
        raise ConfigError([Problem(
            f"the token-budget plan needs the model's tokenizer and image processor, which cannot be loaded from "
            f"{cfg.model_path}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
            key="model.model", where=cfg.source.where("model.model"))], subject=cfg.source.display) from None
    accepted = set(inspect.signature(get_template).parameters)
    kwargs = {k: v for k, v in cfg.template.items() if k in accepted and k not in ("max_length", "truncation_strategy")}
    template = get_template(processor, template_type=cfg.template.get("template"), **kwargs)
    template.set_mode("train")
    return template


@dataclass(frozen=True)
class PlanEntry:
    """One (fusion entry, split) the run reads: its records and how they become samples."""

    name: str
    split: str
    path: Path
    records: Sequence[Any]
    policy: SamplePolicy | None  # None: a chat member


def plan_entries(cfg: TrainingConfig) -> Iterator[PlanEntry]:
    """Targets then sources, each train split then (targets) val split: what the run's datasets hold."""
    fusion = cfg.fusion
    if fusion is None:
        return

    def entry(e: FusionTarget | FusionSource, split: str, path: Path, limit: int | None) -> PlanEntry:
        policy = None if e.is_chat else sample_policy(cfg, e, train=split == "train")
        return PlanEntry(e.name, split, path, entry_records(e, path, limit), policy)

    for e in (*fusion.targets, *fusion.sources):
        yield entry(e, "train", e.train_path, cfg.custom.train_sample_limit)
        if isinstance(e, FusionTarget) and e.val_path is not None:
            yield entry(e, "val", e.val_path, cfg.custom.val_sample_limit)


@dataclass
class EntryPlan:
    counts: EntryCounts
    over: np.ndarray  # bool per record: over one of the limits
    fits: dict[int, int] = field(default_factory=dict)  # over-long dense records: objects that fit (-1: none)

    @property
    def over_positions(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(self.over)]


@dataclass
class Plan:
    mode: str
    overlong: str
    budget: RunBudget
    entries: list[EntryPlan]
    cached: bool = False

    def over_count(self) -> int:
        return int(sum(int(e.over.sum()) for e in self.entries))


def _settings(cfg: TrainingConfig, entries: list[PlanEntry]) -> dict[str, Any]:
    """Everything the counts depend on besides the files (the JSONL and the model's tokenizer / processor files):
    known without building the template, so a cached plan costs no tokenizer load."""
    def policy(p: SamplePolicy | None) -> Any:
        if p is None:
            return None
        return [p.mode, p.user_prompt, p.coord_format, p.ordering, p.prefix, p.max_objects,
                None if p.augmentation is None else [op.name for op in p.augmentation.config.ops]]

    template = {k: v for k, v in sorted(cfg.template.items()) if k not in ("max_length", "truncation_strategy")}
    return {"plan": PLAN_VERSION, "versions": {p: _version(p) for p in VERSIONED},
            "env": {k: os.environ.get(k) for k in RESIZE_ENV}, "template": template,
            "model": {k: cfg.model.get(k) for k in ("model_type", "new_special_tokens")},
            "entries": [[e.name, e.split, str(e.path), len(e.records), policy(e.policy)] for e in entries]}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cache_files(cfg: TrainingConfig, entries: list[PlanEntry]) -> list[Path]:
    model = cfg.model_path
    return [e.path for e in entries] + ([model / f for f in TOKENIZER_FILES] if model is not None else [])


def count_entries(cfg: TrainingConfig, template: Callable[[], Any], entries: list[PlanEntry], progress: bool = False,
                  ) -> tuple[list[EntryCounts], bool]:
    """Counts of every entry, from the cache when the files and settings are unchanged (then True);
    ``template()`` is called only to count."""
    key = preflight_cache.fingerprint(CACHE_KIND, _cache_files(cfg, entries), _settings(cfg, entries))
    cached = preflight_cache.load(CACHE_KIND, key)
    if cached is not None:
        return [EntryCounts.from_json(c) for c in cached], True
    from .plan_progress import progress_bar

    counter = SampleCounter(template(), pixel_coords=cfg.custom.coord_format == "pixel")
    with progress_bar(sum(len(e.records) for e in entries), enabled=progress) as advance:
        counts = [counter.count(e.name, e.split, str(e.path), e.records, e.policy, advance) for e in entries]
    preflight_cache.store(CACHE_KIND, key, [c.to_json() for c in counts])
    return counts, False


def build_plan(cfg: TrainingConfig, template: Any = None, progress: bool = False) -> Plan:
    """The run's plan; ``template`` is the run's own when it is built already (else :func:`plan_template`, built
    only when the counts are not cached or records are over the budget)."""
    get_template = functools.cache(lambda: template if template is not None else plan_template(cfg))
    entries = list(plan_entries(cfg))
    counts, cached = count_entries(cfg, get_template, entries, progress)
    budget = run_budget(cfg)
    plans = []
    for entry, c in zip(entries, counts):
        over = ~np.fromiter((budget.budget.fits(int(t), int(p), int(m)) for t, p, m in
                             zip(c.total, c.prompt, c.completion)), dtype=bool, count=len(c))
        plan = EntryPlan(c, over)
        if entry.policy is not None and entry.policy.mode == "dense" and over.any():
            counter = SampleCounter(get_template(), pixel_coords=cfg.custom.coord_format == "pixel")
            plan.fits = counter.fitting_objects(entry.records, plan.over_positions, entry.policy, budget.budget)
        plans.append(plan)
    return Plan(cfg.mode, cfg.custom.overlong, budget, plans, cached)


__all__ = ["EntryPlan", "Plan", "PlanEntry", "RunBudget", "build_plan", "plan_entries", "plan_template", "run_budget"]

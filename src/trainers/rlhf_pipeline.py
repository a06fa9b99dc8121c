"""Our seam into ms-swift's RLHF pipeline (GKD, GRPO).

`SwiftRLHF` loads the policy, the teacher (GKD) or reference model (GRPO with beta > 0), the
processor and the template from `RLHFArguments`, then builds datasets from `--dataset` strings.
As for SFT (`LauncherSft`), we keep the first half and hand in the launcher's own datasets; for
GKD/GRPO ms-swift defers encoding to the trainer, so they yield un-encoded rows
(`src/datasets/rl_rows.py`). A trainer subclass (e.g. the gkd_monitor telemetry variant) can
replace the class ms-swift would pick for `rlhf_type`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from swift.pipelines.train.rlhf import SwiftRLHF
from swift.trainers import TrainerFactory
from transformers import TrainerCallback

from .swift_pipeline import LauncherSft

logger = logging.getLogger(__name__)

# (template) -> (train_dataset, eval_dataset or None)
DatasetBuilder = Callable[[Any], tuple[Any, Any]]


@contextmanager
def trainer_class(rlhf_type: str, cls: type | None) -> Iterator[None]:
    """Make ms-swift's `TrainerFactory` build `cls` for `rlhf_type` (module-level classes only).

    `SwiftSft.run` resolves the trainer through `TrainerFactory.TRAINER_MAPPING`
    ('module.Class' strings); the entry is swapped for the duration of the run and restored.
    """
    if cls is None:
        yield
        return
    mapping = TrainerFactory.TRAINER_MAPPING
    previous = mapping[rlhf_type]
    mapping[rlhf_type] = f"{cls.__module__}.{cls.__qualname__}"
    try:
        yield
    finally:
        mapping[rlhf_type] = previous


class LauncherRLHF(LauncherSft, SwiftRLHF):
    """`SwiftRLHF` whose datasets come from the launcher, optionally with our trainer class."""

    def __init__(
        self,
        args,
        build_datasets: DatasetBuilder,
        callbacks: Sequence[TrainerCallback] = (),
        trainer_cls: type | None = None,
    ) -> None:
        self._trainer_cls = trainer_cls
        super().__init__(args, build_datasets=build_datasets, callbacks=callbacks)

    def run(self):
        with trainer_class(self.args.rlhf_type, self._trainer_cls):
            return super().run()

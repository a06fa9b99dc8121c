"""Our seam into ms-swift's SFT pipeline.

ms-swift's `SwiftSft` loads the model, processor and template from `SftArguments` and then
builds datasets from `--dataset` strings. We keep the first half and replace the second: the
launcher's own datasets (fusion schedule, augmentation, target rendering, lazy JSONL access) are
handed in already built, and encoded lazily by the ms-swift template inside the dataloader.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from swift.pipelines.train.sft import SwiftSft
from transformers import TrainerCallback

from src.audit.template_fingerprint import verify_run_template

from .callbacks import FusionScheduleCallback
from .console import explain_tied_head
from .conversation_dump import dump_conversations
from .packing_guard import install_packing_guard
from .record_guard import install_record_guard
from .save_schedule import install_save_schedule
from .telemetry import install_telemetry

logger = logging.getLogger(__name__)

# (template) -> (train_dataset, eval_dataset or None)
DatasetBuilder = Callable[[Any], tuple[Any, Any]]
# Applied to the trainer ms-swift constructed, before training: it adopts our class (src/trainers/trainer_class.py)
# (a mixin class + state, e.g. stage2_ab, gkd_monitor). The one way we customise ms-swift trainers.
TrainerExtension = Callable[[Any], Any]


class LauncherSft(SwiftSft):
    """`SwiftSft` whose datasets come from the launcher instead of `args.dataset`."""

    def __init__(
        self,
        args,
        build_datasets: DatasetBuilder,
        session: Any = None,  # the run's RunSession (src/provenance): manifest callback, template record
        callbacks: Sequence[TrainerCallback] = (),
        telemetry: Any = None,  # custom.telemetry (per_dataset / per_token_type) or None
        telemetry_installer: Callable[..., Any] = install_telemetry,  # GKD: install_gkd_telemetry
        trainer_extensions: Sequence[TrainerExtension] = (),
        template_fingerprint: str | None = None,  # custom.template_fingerprint
        save_schedule: Any = None,  # cfg.schedule (save_delay_steps / save_last_epoch) or None
        conversation_dump: Path | None = None,  # custom.dump_conversation_text: where to write them
    ) -> None:
        self._session = session
        self._conversation_dump = conversation_dump
        self._save_schedule = save_schedule
        self._build_datasets = build_datasets
        self._template_fingerprint = template_fingerprint
        self._callbacks = list(callbacks)
        self._telemetry = telemetry
        self._install_telemetry = telemetry_installer
        self._trainer_extensions = list(trainer_extensions)
        self.datasets: tuple[Any, Any] | None = None
        super().__init__(args)

    def _prepare_template(self) -> None:
        # ms-swift builds the template right after the model; a drifted chat template / tokenizer
        # stops the run here, before any dataset is built or step is taken.
        super()._prepare_template()
        record = verify_run_template(self.template, self._template_fingerprint, model=self.args.model)
        if self._session is not None:
            self._session.template_fingerprint = record

    def _prepare_dataset(self):
        train_dataset, eval_dataset = self._build_datasets(self.template)
        self.datasets = (train_dataset, eval_dataset)
        if self._conversation_dump is not None:
            dump_conversations(train_dataset, self.template.tokenizer, self._conversation_dump)
        expected = train_dataset.expected_counts() if hasattr(train_dataset, "expected_counts") else {}
        logger.info(
            "data: %d train samples per epoch%s, %s eval samples",
            len(train_dataset),
            f" ({', '.join(f'{name} {n}' for name, n in expected.items())})" if expected else "",
            "no" if eval_dataset is None else len(eval_dataset),
        )
        return [train_dataset, eval_dataset]

    def train(self, trainer):
        # ms-swift hands its own callbacks to the trainer's constructor; ours join before training.
        train_dataset = self.datasets[0] if self.datasets else None
        explain_tied_head(trainer.model)  # on resume: one line instead of transformers' lm_head warning
        if hasattr(train_dataset, "set_epoch"):
            trainer.add_callback(FusionScheduleCallback(train_dataset))
        if self._session is not None:  # run manifest: written at train begin, updated at saves and the end
            trainer.add_callback(self._session.callback(train_dataset))
        for callback in self._callbacks:
            trainer.add_callback(callback)
        if self._save_schedule is not None:
            install_save_schedule(trainer, self._save_schedule.save_delay_steps, self._save_schedule.save_last_epoch)
        install_packing_guard(trainer)  # padding-free rows: labels / positions / boundaries checked per batch
        install_record_guard(trainer)  # a bad record met in a batch stops every rank together (exit 2)
        for extend in self._trainer_extensions:  # before telemetry: its collator then wraps theirs
            extend(trainer)
        if self._telemetry is not None:  # per-dataset / per-token-type losses (src/trainers/telemetry)
            self._install_telemetry(trainer, dataset_names=getattr(train_dataset, "names", ()),
                                    per_dataset=self._telemetry.per_dataset,
                                    per_token_type=self._telemetry.per_token_type)
        return super().train(trainer)

"""Our seam into ms-swift's training pipeline, the one every mode runs through (`recipe.run`).

ms-swift's `SwiftSft` (and `SwiftRLHF`, its RLHF form: src/trainers/rlhf_pipeline.py) loads the model, processor and template from `SftArguments` and then
builds datasets from `--dataset` strings. We keep the first half and replace the second: the
launcher's own datasets (fusion schedule, augmentation, target rendering, lazy JSONL access) are
handed in already built, and encoded lazily by the ms-swift template inside the dataloader.
"""

from __future__ import annotations

import logging
from typing import Any

from swift.pipelines.train.sft import SwiftSft

from src.audit.template_fingerprint import verify_run_template
from src.boundary.arguments import swift_arguments
from src.config import TrainingConfig

from .callbacks import FusionScheduleCallback
from .console import explain_tied_head
from .conversation_dump import dump_conversations
from .detection_eval import trainer_extensions as detection_eval_extensions
from .packing_guard import install_packing_guard
from .recipe import Recipe
from .record_guard import install_record_guard
from .save_schedule import install_save_schedule
from .telemetry import install_telemetry

logger = logging.getLogger(__name__)


class LauncherPipeline(SwiftSft):
    """ms-swift's training pipeline with the launcher's datasets, callbacks and trainer extensions: every
    mode's (`RLHFPipeline` is its RLHF form). Reads what it installs from the config, its mode's spec and
    the recipe."""

    def __init__(self, cfg: TrainingConfig, recipe: Recipe, session: Any = None) -> None:
        spec = cfg.spec
        self._cfg, self._recipe = cfg, recipe
        self._session = session  # the run's RunSession (src/provenance): manifest callback, template record
        self._telemetry = cfg.custom.telemetry if spec.telemetry_loss is not None else None
        self._trainer_extensions = [*recipe.extensions(cfg), *(detection_eval_extensions(cfg) if spec.detection_eval
                                                               else ())]
        self.datasets: tuple[Any, Any] | None = None
        super().__init__(swift_arguments(cfg))  # ms-swift's rejections: ConfigError, before any weights load

    def _prepare_template(self) -> None:
        # ms-swift builds the template right after the model; a drifted chat template / tokenizer
        # stops the run here, before any dataset is built or step is taken.
        super()._prepare_template()
        record = verify_run_template(self.template, self._cfg.custom.template_fingerprint, model=self.args.model)
        if self._session is not None:
            self._session.template_fingerprint = record

    def _prepare_dataset(self):
        train_dataset, eval_dataset = self._recipe.datasets(self._cfg, self.template)
        self.datasets = (train_dataset, eval_dataset)
        dump = self._cfg.conversation_dump_path  # None unless custom.dump_conversation_text (modes that write it)
        if dump is not None:
            dump_conversations(train_dataset, self.template.tokenizer, dump)
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
        schedule = self._cfg.schedule
        install_save_schedule(trainer, schedule.save_delay_steps, schedule.save_last_epoch)
        install_packing_guard(trainer)  # padding-free rows: labels / positions / boundaries checked per batch
        install_record_guard(trainer)  # a bad record met in a batch stops every rank together (exit 2)
        for extend in self._trainer_extensions:  # before telemetry: its collator then wraps theirs
            extend(trainer)
        if self._telemetry is not None:  # per-dataset / per-token-type losses (src/trainers/telemetry)
            install = self._recipe.telemetry_installer or install_telemetry
            install(trainer, dataset_names=getattr(train_dataset, "names", ()), per_dataset=self._telemetry.per_dataset,
                    per_token_type=self._telemetry.per_token_type)
        return super().train(trainer)

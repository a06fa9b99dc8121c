"""Our seam into ms-swift's RLHF pipeline (GKD, GRPO).

`SwiftRLHF` loads the policy, the teacher (GKD) or reference model (GRPO with beta > 0), the
processor and the template from `RLHFArguments`, then builds datasets from `--dataset` strings.
As for SFT (`LauncherSft`), we keep the first half and hand in the launcher's own datasets; for
GKD/GRPO ms-swift defers encoding to the trainer, so they yield un-encoded rows
(`src/datasets/rl_rows.py`). Trainer variants (e.g. gkd_monitor) are installed on the trainer
ms-swift built, through `LauncherSft`'s `trainer_extensions`.
"""

from __future__ import annotations

from swift.pipelines.train.rlhf import SwiftRLHF

from .swift_pipeline import LauncherSft


class LauncherRLHF(LauncherSft, SwiftRLHF):
    """`SwiftRLHF` whose datasets come from the launcher (trainer variants via `trainer_extensions`)."""

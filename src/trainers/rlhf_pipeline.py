"""Our seam into ms-swift's RLHF pipeline (GKD, GRPO).

`SwiftRLHF` loads the policy, the teacher (GKD) or reference model (GRPO with beta > 0), the
processor and the template from `RLHFArguments`, then builds datasets from `--dataset` strings.
As in every mode (`LauncherPipeline`), we keep the first half and hand in the launcher's own datasets; for
GKD/GRPO ms-swift defers encoding to the trainer, so they yield un-encoded rows
(`src/datasets/rl_rows.py`). Trainer variants (e.g. gkd_monitor) are the recipe's trainer extensions.
"""

from __future__ import annotations

from swift.pipelines.train.rlhf import SwiftRLHF

from .swift_pipeline import LauncherPipeline


class RLHFPipeline(LauncherPipeline, SwiftRLHF):
    """`LauncherPipeline` on `SwiftRLHF`: the pipeline of modes whose spec builds RLHFArguments."""

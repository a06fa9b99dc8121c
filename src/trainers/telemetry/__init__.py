"""Training telemetry: per-dataset and per-token-type loss / token accuracy, reduced across ranks.

* :mod:`.token_types` -- pure classifier of label tokens (desc / coord / structure).
* :mod:`.token_loss` -- per-token losses and argmax hits taken from the training loss pass.
* :mod:`.reduction` -- per-group (loss, correct, count) sums and their all-reduce.
* :mod:`.collator` -- carries dataset ids and token types through ms-swift's collator.
* :mod:`.mixin` -- the trainer mixin and :func:`install_telemetry`.
"""

from __future__ import annotations

from .collator import DATASET_IDS_KEY, TOKEN_TYPES_KEY, TelemetryCollator
from .mixin import TelemetryMixin, install_telemetry, telemetry_class
from .reduction import GroupLayout, all_reduce_sums, group_sums, metrics_from_sums, reduce_rank_sums
from .token_loss import ArgmaxedLogits, TokenLossTap, install_loss_tap
from .token_types import TOKEN_TYPE_NAMES, TokenType, classify_labels, classify_pieces

__all__ = [
    "DATASET_IDS_KEY",
    "TOKEN_TYPES_KEY",
    "TOKEN_TYPE_NAMES",
    "ArgmaxedLogits",
    "GroupLayout",
    "TelemetryCollator",
    "TelemetryMixin",
    "TokenLossTap",
    "TokenType",
    "all_reduce_sums",
    "classify_labels",
    "classify_pieces",
    "group_sums",
    "install_loss_tap",
    "install_telemetry",
    "metrics_from_sums",
    "reduce_rank_sums",
    "telemetry_class",
]

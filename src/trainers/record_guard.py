"""Every rank stops together on a bad record met while loading a training batch.

The records pre-flight (src/datasets/preflight.py) stops most data faults before the model loads;
what only decoding finds (a truncated image, or any fault when ``custom.preflight.image_scan`` is
off) raises a ``RecordError`` naming ``file:line`` where the sample is built (src/datasets/builder.py).
That happens on one rank, inside its dataloader; the other ranks would wait forever in the next
collective. :class:`RecordGuardMixin` fetches each optimizer step's batches through
``src.distributed.together`` (one integer all-reduce per step), so every rank raises a
``RecordError`` at the same step: the rank that met the record with its ``file:line``, the others
saying another rank failed. ``python -m src.sft`` turns it into exit 2, the manifest says ``failed``.
"""

from __future__ import annotations

from typing import Any

from src.datasets.records import RecordError
from src.distributed import together

from .trainer_class import adopt


class RecordGuardMixin:
    def get_batch_samples(self, epoch_iterator: Any, num_batches: int, device: Any) -> Any:
        fetch = super().get_batch_samples  # type: ignore[misc]
        return together(lambda: fetch(epoch_iterator, num_batches, device), what="loading a training batch",
                        catch=RecordError, elsewhere=RecordError)


def install_record_guard(trainer: Any) -> Any:
    return adopt(trainer, RecordGuardMixin)

"""Two real gloo ranks: a Channel-B failure on one rank stops both, and the window gather lines up."""

from __future__ import annotations

import traceback
from types import SimpleNamespace

import torch
import torch.distributed as dist
from gloo_ranks import run_two_ranks

from src.rollout import RolloutError
from src.stage2.metrics import N_VALID_PRED, ChannelBCounts
from src.trainers.stage2_ab import Stage2ABMixin, Stage2Window, gather_rows, reduce_window


class _Builder:
    backend = SimpleNamespace(name="scripted")

    def __init__(self, rank: int, fail: bool):
        self.rank, self.fail = rank, fail

    def build(self, sources, seed=None):
        if self.fail:
            raise RolloutError(f"scripted failure on rank {self.rank}")
        return SimpleNamespace(counts=ChannelBCounts(), items=[], length_fallbacks=0)


def _worker(rank: int, init: str, results) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        state = SimpleNamespace(builder=_Builder(rank, fail=rank == 1), seed=0, window=Stage2Window())
        trainer = SimpleNamespace(_stage2=state, data_collator=None, _stage2_sync_weights=lambda step: None,
                                  args=SimpleNamespace(process_index=rank, device=torch.device("cpu")))
        try:  # rank 0 builds its batch fine: without the shared flag it would go on and wait forever
            Stage2ABMixin._stage2_channel_b(trainer, 3, [[("source", None)]], [{}])
            results[rank] = "no error"
        except RolloutError as exc:
            results[rank] = str(exc)
        window = Stage2Window(last_step=3)
        window.steps["B"] = 1
        window.counts.n_valid_pred = 3 + 4 * rank
        results[f"gather{rank}"] = reduce_window(gather_rows(window.vector(0.5), torch.device("cpu")))[N_VALID_PRED]
    except Exception:  # noqa: BLE001 - reported to the parent
        results[rank] = traceback.format_exc()
    finally:
        dist.destroy_process_group()


def test_a_channel_b_failure_on_one_rank_stops_both_ranks_together(tmp_path, monkeypatch):
    from src.trainers import stage2_ab

    monkeypatch.setattr(stage2_ab, "collate", lambda collator, items: {})  # inherited by the forked ranks
    results, hung = run_two_ranks(_worker, tmp_path, 60)
    assert not hung, "a rank hung"
    assert results[1] == "scripted failure on rank 1"
    assert "another rank failed" in results[0], results[0]
    assert results["gather0"] == results["gather1"] == 3 + 7  # both ranks reduced the same vectors

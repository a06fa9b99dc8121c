"""A bad record met in one rank's batch stops every rank at the same step (two real gloo ranks), and a
RecordError rebuilt from a DataLoader worker's text keeps only its own message."""

from __future__ import annotations

import torch.distributed as dist
from gloo_ranks import run_two_ranks

from src.datasets.records import Problem, RecordError
from src.trainers.record_guard import RecordGuardMixin


class _Fetcher:
    def __init__(self, bad: bool) -> None:
        self.bad = bad

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        if self.bad:
            raise RecordError([Problem("data/train.jsonl", 7, "image images/a.png cannot be decoded")])
        return [next(epoch_iterator)], None


class _Guarded(RecordGuardMixin, _Fetcher):
    pass


def _worker(rank: int, init: str, shared) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        _Guarded(bad=rank == 1).get_batch_samples(iter([{"x": 1}]), 1, "cpu")
        shared[rank] = "no error"
    except RecordError as exc:
        shared[rank] = str(exc)
    finally:
        dist.destroy_process_group()


def test_every_rank_raises_a_record_error_at_the_same_step(tmp_path):
    shared, hung = run_two_ranks(_worker, tmp_path)
    assert not hung
    assert shared[1] == "data/train.jsonl:7: image images/a.png cannot be decoded"
    assert "another rank failed" in shared[0]


def test_one_process_fetches_through_the_guard():
    assert _Guarded(bad=False).get_batch_samples(iter([{"x": 1}]), 1, "cpu") == ([{"x": 1}], None)


def test_record_error_rebuilt_from_a_worker_traceback_text():
    text = ("Caught RecordError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
            '  File "x.py", line 1, in f\nsrc.datasets.records.RecordError: data/t.jsonl:3: image a.png is 9x9\n')
    error = RecordError(text)
    assert str(error) == "data/t.jsonl:3: image a.png is 9x9" and error.problems == ()

"""Dataset ids through the collator, alignment with the loss positions, the trainer mixin."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from telemetry_fakes import FakeCausalLM
from transformers.loss.loss_utils import ForCausalLMLoss

from src.trainers.telemetry import (
    DATASET_IDS_KEY,
    TOKEN_TYPES_KEY,
    TelemetryMixin,
    install_telemetry,
    telemetry_class,
)
from src.trainers.telemetry.collator import TelemetryCollator
from src.trainers.telemetry.mixin import shifted_ids

V = 11
PIECES = {1: '{"desc": "', 2: "a", 3: '", "bbox_2d": [', 4: "7", 5: "]}", 6: "<|im_end|>", 9: "user"}
SAMPLES = [  # prompt (-100) then an answer; different lengths; three datasets and a stranger
    {"input_ids": [9, 9, 1, 2, 3, 4, 5, 6], "labels": [-100, -100, 1, 2, 3, 4, 5, 6], "dataset_name": "a"},
    {"input_ids": [9, 1, 2, 2, 3, 4, 4, 5, 6], "labels": [-100, 1, 2, 2, 3, 4, 4, 5, 6], "dataset_name": "b"},
    {"input_ids": [9, 9, 9, 1, 2, 3, 4, 5, 6], "labels": [-100, -100, -100, 1, 2, 3, 4, 5, 6],
     "dataset_name": "zzz"},
    {"input_ids": [9, 6], "labels": [-100, 6], "dataset_name": "a"},
]


def pad_collator(side: str):
    def collate(batch):
        n = max(len(s["labels"]) for s in batch)
        def pad(x, v):
            return [v] * (n - len(x)) + x if side == "left" else x + [v] * (n - len(x))
        return {"input_ids": torch.tensor([pad(s["input_ids"], 0) for s in batch]),
                "labels": torch.tensor([pad(s["labels"], -100) for s in batch])}
    return collate


def padding_free_collator(batch):
    batch[:] = [{"input_ids": [t for s in batch for t in s["input_ids"]],  # in place, like ms-swift
                 "labels": [t for s in batch for t in s["labels"]]}]
    return {"input_ids": torch.tensor([batch[0]["input_ids"]]), "labels": torch.tensor([batch[0]["labels"]])}


def expected_per_token(samples):
    """(dataset id, label) of every predicted token, sample by sample."""
    index = {"a": 0, "b": 1}
    return [(index.get(s["dataset_name"], 2), t) for s in samples for k, t in enumerate(s["labels"])
            if k > 0 and t != -100]


@pytest.mark.parametrize("inner", [pad_collator("right"), pad_collator("left"), padding_free_collator],
                         ids=["right", "left", "padding_free"])
def test_dataset_ids_survive_the_collator_and_line_up_with_the_loss(inner):
    collate = TelemetryCollator(inner, ("a", "b"), PIECES.__getitem__)
    batch = collate([dict(s) for s in SAMPLES])
    labels = batch["labels"]
    assert batch[DATASET_IDS_KEY].numel() == int((labels != -100).sum())
    ids = shifted_ids(labels, batch[DATASET_IDS_KEY])
    targets = labels[:, 1:][labels[:, 1:] != -100]
    assert list(zip(ids.tolist(), targets.tolist())) == expected_per_token(SAMPLES)
    types = shifted_ids(labels, batch[TOKEN_TYPES_KEY]).tolist()
    type_of = {1: 2, 2: 0, 3: 2, 4: 1, 5: 2, 6: 2}  # a -> desc, 7 -> coord, the rest structure
    assert types == [type_of[t] for t in targets.tolist()]


def test_shifted_ids_refuses_misaligned_ids():
    labels = torch.tensor([[-100, 1, 2]])
    assert shifted_ids(labels, torch.tensor([0])) is None


def token_ce(logits, labels):
    """Reference per-token cross entropy of the supervised shifted positions (row-major)."""
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), reduction="none",
                         ignore_index=-100).reshape(labels.shape[0], -1)
    return ce[labels[:, 1:] != -100]


class FakeSwiftTrainer:
    """Stands in for ms-swift's Seq2SeqTrainer: the model computes its loss through its loss hook,
    then ms-swift's token accuracy takes the argmax (_compute_acc); log() records."""

    task_type = "causal_lm"

    def __init__(self, logits_fn, collator):
        self.model = FakeCausalLM()
        self.argmax_calls = 0
        self.token_acc: list[bool] = []
        self.args = SimpleNamespace(device=torch.device("cpu"))
        self.template = SimpleNamespace(tokenizer=None)
        self.data_collator = collator
        self.logits_fn = logits_fn
        self.logged: list[dict] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        assert not any(k.startswith("telemetry") for k in inputs), "the model must not see telemetry keys"
        logits = self.logits_fn(inputs)
        labels = inputs["labels"]
        loss = self.model.loss_function(logits=logits, labels=labels, vocab_size=V)
        outputs = SimpleNamespace(logits=logits, loss=loss)
        self._compute_acc(outputs, labels)
        return (loss, outputs) if return_outputs else loss

    def _compute_acc(self, outputs, labels, cu_seqlens=None):
        preds = outputs.logits.argmax(dim=-1)
        self.argmax_calls += 1
        mask = labels[:, 1:] != -100
        self.token_acc += (preds[:, :-1][mask] == labels[:, 1:][mask]).tolist()

    def log(self, logs, *args, **kwargs):
        self.logged.append(dict(logs))


def random_logits(inputs):
    g = torch.Generator().manual_seed(int(inputs["input_ids"].sum()))
    return torch.randn(*inputs["labels"].shape, V, generator=g)


def test_mixin_logs_per_dataset_and_token_type_losses():
    trainer = FakeSwiftTrainer(random_logits, pad_collator("right"))
    install_telemetry(trainer, dataset_names=("a", "b"), per_dataset=True, per_token_type=True,
                      tokenizer=SimpleNamespace(decode=lambda ids, **kw: PIECES[ids[0]]))
    assert isinstance(trainer, TelemetryMixin) and isinstance(trainer, FakeSwiftTrainer)
    assert telemetry_class(FakeSwiftTrainer) is type(trainer) and telemetry_class(type(trainer)) is type(trainer)
    with pytest.raises(RuntimeError, match="already"):
        install_telemetry(trainer, dataset_names=(), per_dataset=True, per_token_type=False)
    batches = [trainer.data_collator([dict(s) for s in SAMPLES[:2]]),
               trainer.data_collator([dict(s) for s in SAMPLES[2:]])]
    per_token = []
    total = 0.0
    for batch in batches:
        loss = trainer.compute_loss(None, dict(batch))
        labels = batch["labels"]
        logits = random_logits(batch)
        assert torch.equal(loss, ForCausalLMLoss(logits, labels, V))  # the training loss is untouched
        n = int((labels[:, 1:] != -100).sum())
        total += float(loss) * n
        per_token += list(zip(shifted_ids(labels, batch[DATASET_IDS_KEY]).tolist(), token_ce(logits, labels).tolist()))
    assert trainer.argmax_calls == len(batches)  # one argmax per step: ms-swift's, shared with telemetry
    trainer.log({"loss": 0.0})
    logs = trainer.logged[-1]
    for k, name in enumerate(("a", "b", "unknown")):
        vals = [v for d, v in per_token if d == k]
        assert logs[f"loss/dataset/{name}"] == pytest.approx(sum(vals) / len(vals))
        assert logs[f"tokens/dataset/{name}"] == len(vals)
    assert sum(logs[f"tokens/token_type/{t}"] for t in ("desc", "coord", "structure")) == len(per_token)
    weighted = sum(logs[f"loss/token_type/{t}"] * logs[f"tokens/token_type/{t}"] for t in ("desc", "coord", "structure"))
    assert weighted / len(per_token) == pytest.approx(total / len(per_token), rel=1e-6)
    hits = sum(logs[f"acc/dataset/{d}"] * logs[f"tokens/dataset/{d}"] for d in ("a", "b", "unknown"))
    assert hits / len(per_token) == pytest.approx(sum(trainer.token_acc) / len(trainer.token_acc), abs=1e-9)
    # sums reset after each log; eval mode gets the eval_ prefix
    trainer.log({})
    assert not any(k.startswith("loss/") for k in trainer.logged[-1])
    trainer.model.training = False
    trainer.compute_loss(None, dict(batches[0]))
    trainer.log({})
    assert "eval_loss/dataset/a" in trainer.logged[-1] and "loss/dataset/a" not in trainer.logged[-1]


def test_alignment_survives_ms_swift_logits_to_keep():
    """ms-swift's prepare_logits_to_keep drops prompt positions; telemetry must agree with the full run."""
    from swift.trainers.mixin import SwiftMixin

    collate = TelemetryCollator(padding_free_collator, ("a", "b"), PIECES.__getitem__)
    batch = collate([dict(s) for s in SAMPLES])
    full_logits = random_logits(batch)

    def telemetry_of(inputs, logits):
        loss = token_ce(logits, inputs["labels"])
        return list(zip(shifted_ids(inputs["labels"], inputs[DATASET_IDS_KEY]).tolist(), loss.tolist()))

    reference = telemetry_of(batch, full_logits)
    fake = SimpleNamespace(template=SimpleNamespace(sequence_parallel_size=1),
                           args=SimpleNamespace(tuner_backend="peft"))
    kept = dict(batch)
    SwiftMixin.prepare_logits_to_keep(fake, kept)
    keep = kept["logits_to_keep"]
    assert isinstance(keep, torch.Tensor) and kept["labels"].shape[1] < batch["labels"].shape[1]
    got = telemetry_of(kept, full_logits[:, keep])
    assert [d for d, _ in got] == [d for d, _ in reference]
    assert [v for _, v in got] == pytest.approx([v for _, v in reference])


class PerTokenPathTrainer(FakeSwiftTrainer):
    """ms-swift's loss_scale path: labels kept from the model, outputs.loss = weighted per-position losses."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        logits, labels = self.logits_fn(inputs), inputs["labels"]
        scale = torch.where(labels == 6, 2.0, 1.0)  # <|im_end|> weighted twice
        per = F.cross_entropy(logits.view(-1, V), torch.roll(labels, -1, -1).view(-1), ignore_index=-100,
                              reduction="none") * torch.roll(scale, -1, -1).view(-1)
        loss = per.sum() / (labels != -100).sum()
        outputs = SimpleNamespace(logits=logits, loss=per)
        self._compute_acc(outputs, labels)
        return (loss, outputs) if return_outputs else loss


class FusedLossTrainer(FakeSwiftTrainer):
    """A fused linear cross entropy: a scalar loss, no logits, the model's loss hook never called."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = torch.tensor(1.0)
        outputs = SimpleNamespace(logits=None, loss=loss)
        return (loss, outputs) if return_outputs else loss


def _installed(cls):
    trainer = cls(random_logits, pad_collator("right"))
    return install_telemetry(trainer, dataset_names=("a", "b"), per_dataset=True, per_token_type=False)


def test_ms_swifts_own_per_token_path_feeds_telemetry_and_recombines():
    trainer = _installed(PerTokenPathTrainer)
    batch = trainer.data_collator([dict(s) for s in SAMPLES])
    loss = trainer.compute_loss(None, dict(batch))
    trainer.log({})
    logs = trainer.logged[-1]
    n = sum(logs[f"tokens/dataset/{d}"] for d in ("a", "b", "unknown"))
    weighted = sum(logs[f"loss/dataset/{d}"] * logs[f"tokens/dataset/{d}"] for d in ("a", "b", "unknown"))
    assert weighted / n == pytest.approx(float(loss), rel=1e-6)


def test_a_loss_path_without_per_token_values_is_an_error_not_silence():
    trainer = _installed(FusedLossTrainer)
    batch = trainer.data_collator([dict(s) for s in SAMPLES])
    with pytest.raises(RuntimeError, match="no per-token losses"):
        trainer.compute_loss(None, dict(batch))

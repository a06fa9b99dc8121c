"""Run-time guard on packed (padding-free) batches, against ms-swift's own Qwen3-VL packed rows."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from src.trainers.packing_guard import (
    PackedBatchError,
    PackedBatchGuard,
    check_packed_batch,
    install_packing_guard,
)

SIZES = [(64, 64), (96, 64), (64, 128)]


@pytest.fixture(scope="module")
def padding_free_template(tiny_model_dir):
    from swift import SftArguments

    from src.config import load_training_config
    from src.config.swift_args import build_swift_kwargs

    cfg = load_training_config("configs/smoke/sft_dense_tiny.yaml", [f"model.model={tiny_model_dir}"])
    args = SftArguments(**build_swift_kwargs(cfg))
    model, processor = args.get_model_processor()
    template = args.get_template(processor)
    template.set_mode("train")
    template.model = model  # m-RoPE positions come from the model's get_rope_index
    template.padding_free = True  # what template.padding_free=true sets (CPU runs lack flash attention)
    return template


def _sample(template, size, text):
    return template.encode({
        "messages": [{"role": "user", "content": "<image>Detect every object."},
                     {"role": "assistant", "content": text}],
        "images": [Image.new("RGB", size, (40, 90, 200))],
    }, return_length=True)


@pytest.fixture()
def packed(padding_free_template):
    samples = [_sample(padding_free_template, size, '{"objects": [' + '{"desc": "box"}, ' * i + "]}")
               for i, size in enumerate(SIZES)]
    batch = padding_free_template.data_collator(samples)
    assert batch["input_ids"].shape[0] == 1 and "cu_seq_lens_q" in batch  # one packed row, as on a GPU run
    return batch


def test_ms_swift_packed_rows_pass(packed):
    check_packed_batch(packed)
    bounds = packed["cu_seq_lens_q"].tolist()
    assert len(bounds) == len(SIZES) + 1 and bounds[-1] == packed["input_ids"].shape[1]


def test_unpacked_batches_pass_through():
    check_packed_batch({"input_ids": torch.ones(2, 5, dtype=torch.long), "labels": torch.ones(2, 5, dtype=torch.long),
                        "attention_mask": torch.tensor([[1, 1, 1, 0, 0], [1] * 5])})


def _broken(batch, **changes):
    out = dict(batch)
    out.update(changes)
    return out


def test_labels_shifted_by_one_token(packed):
    shifted = torch.roll(packed["labels"], 1, dims=-1)  # every label one token later: row start supervised
    with pytest.raises(PackedBatchError, match=r"segment 0 starts at token 0 with the supervised label \d+"):
        check_packed_batch(_broken(packed, labels=shifted))


def test_supervised_label_at_a_sample_start(packed):
    labels = packed["labels"].clone()
    start = packed["cu_seq_lens_q"][1].item()
    labels[0, start] = 7
    with pytest.raises(PackedBatchError, match=rf"misaligned packed batch: segment 1 starts at token {start} with "
                                               r"the supervised label 7: the last token of the previous sample"):
        check_packed_batch(_broken(packed, labels=labels))


def test_labels_truncated(packed):
    n = packed["input_ids"].shape[1]
    with pytest.raises(PackedBatchError, match=rf"{n - 1} labels for {n} input_ids.*set both to false"):
        check_packed_batch(_broken(packed, labels=packed["labels"][:, :-1]))


def test_boundaries_and_positions_disagree(packed):
    bounds = packed["cu_seq_lens_q"].clone()
    bounds[1] += 1
    with pytest.raises(PackedBatchError, match=r"segment 0 \(tokens 0\.\.\d+\): text position \d+ is 0, expected \d+"):
        check_packed_batch(_broken(packed, cu_seq_lens_q=bounds))


def test_positions_continue_across_a_boundary(packed):
    pos = packed["position_ids"].clone()
    start = packed["cu_seq_lens_q"][2].item()
    pos[..., start:] += 5
    with pytest.raises(PackedBatchError, match=rf"position_ids row 0 is 5 at the start of segment 2 \(token {start}\)"):
        check_packed_batch(_broken(packed, position_ids=pos))


def test_boundaries_must_cover_the_row(packed):
    bounds = packed["cu_seq_lens_q"][:-1]
    with pytest.raises(PackedBatchError, match=r"cu_seq_lens_q \[.*\] does not run from 0 to the row length"):
        check_packed_batch(_broken(packed, cu_seq_lens_q=bounds))


def test_masked_tokens_in_a_padding_free_row(packed):
    mask = torch.ones_like(packed["input_ids"])
    mask[0, -3:] = 0
    with pytest.raises(PackedBatchError, match=r"attention_mask has (\d+) of \d+ tokens on"):
        check_packed_batch(_broken(packed, attention_mask=mask))


def test_guard_wraps_the_collator_of_packing_trainers_only(padding_free_template, packed):
    class Trainer:
        def __init__(self, template):
            self.template = template
            self.data_collator = lambda batch: batch[0]

    trainer = Trainer(padding_free_template)
    padding_free_template.packing = False  # padding_free alone packs each batch
    install_packing_guard(trainer)
    assert isinstance(trainer.data_collator, PackedBatchGuard)
    assert trainer.data_collator([packed]) is packed
    with pytest.raises(PackedBatchError):
        trainer.data_collator([_broken(packed, labels=packed["labels"][:, 1:])])

    class Unpacked:
        padding_free = False
        packing = False

    class Packing(Unpacked):
        packing = True

    plain = Trainer(Unpacked())
    install_packing_guard(plain)
    assert not isinstance(plain.data_collator, PackedBatchGuard)
    binned = Trainer(Packing())
    install_packing_guard(binned)
    assert isinstance(binned.data_collator, PackedBatchGuard)


# --------------------------------------------------------- text-only rows (no cu_seq_lens), shapes, messages

def _text_row(text_positions, labels=None):
    n = len(text_positions)
    return {"input_ids": torch.arange(10, 10 + n)[None], "labels": torch.tensor(labels or [-100] * n)[None],
            "text_position_ids": torch.tensor(text_positions)[None], "position_ids": torch.tensor(text_positions)[None]}


def test_text_only_rows_take_their_boundaries_from_the_positions():
    check_packed_batch(_text_row([0, 1, 2, 0, 1], [-100, 5, 6, -100, 7]))
    with pytest.raises(PackedBatchError, match=r"segment 0 \(tokens 0\.\.2\): text position 2 is 5, expected 2"):
        check_packed_batch(_text_row([0, 1, 5, 0, 1]))
    with pytest.raises(PackedBatchError, match=r"segment 1 starts at token 3 with the supervised label 9"):
        check_packed_batch(_text_row([0, 1, 2, 0, 1], [-100, 5, 6, 9, 7]))
    check_packed_batch({k: v for k, v in _text_row([0, 1, 0]).items() if k != "labels"})  # no labels: eval


def test_lengths_and_shapes_are_named():
    row = _text_row([0, 1, 2, 0, 1])
    with pytest.raises(PackedBatchError, match=r"^misaligned packed batch: 4 text_position_ids for 5 input_ids\. "
                                               r"Packing would train on the wrong targets or attend across samples, "
                                               r"which changes the training objective\. Check that "
                                               r"template\.padding_free / data\.packing are used with a template "
                                               r"that supports them \(ms-swift's Qwen3-VL template\) and that no "
                                               r"custom collator reorders or truncates the packed row; set both to "
                                               r"false to train unpacked\.$"):
        check_packed_batch({**row, "text_position_ids": row["text_position_ids"][:, :4]})
    with pytest.raises(PackedBatchError, match=r"position_ids cover 4 tokens for 5 input_ids"):
        check_packed_batch({**row, "position_ids": torch.zeros(3, 1, 4, dtype=torch.long)})
    with pytest.raises(PackedBatchError, match=r"input_ids has shape \(2, 5\), expected one packed row \[1, T\]"):
        check_packed_batch({**row, "input_ids": torch.zeros(2, 5, dtype=torch.long)})
    with pytest.raises(PackedBatchError, match=r"labels has shape \(1, 1, 5\)"):
        check_packed_batch({**row, "labels": row["labels"][None]})


def test_boundaries_must_increase():
    row = {**_text_row([0, 1, 2, 0, 1]), "cu_seq_lens_q": torch.tensor([0, 3, 3, 5])}
    with pytest.raises(PackedBatchError, match=r"cu_seq_lens_q \[0, 3, 3, 5\] is not strictly increasing at segment 1"):
        check_packed_batch(row)
    check_packed_batch({**row, "cu_seq_lens_q": torch.tensor([0, 3, 5], dtype=torch.int32)})

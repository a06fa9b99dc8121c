"""GKD telemetry from GKD's own per-token terms: the JSD loss is ms-swift's, its terms add up to it,
and every completion token gets its dataset and token type (padded and packed batches)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from swift.rlhf_trainers import GKDTrainer
from swift.rlhf_trainers.gkd_loss import TeacherOutput
from telemetry_fakes import FakeCausalLM

from src.trainers.gkd_telemetry import gkd_flat_ids, sample_of_positions
from src.trainers.gkd_terms import GKDTermsMixin

V = 50


def _inputs(seed: int):
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(2, 30, V, generator=g) * 2
    teacher = torch.randn(2, 30, V, generator=g) * 2
    labels = torch.randint(0, V, (2, 30), generator=g)
    labels[:, :8] = -100
    labels[1, 20:] = -100
    return student, teacher, labels


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("topk", [None, 5])
def test_jsd_loss_is_ms_swifts_and_its_terms_add_up_to_it(beta, topk):
    student, teacher, labels = _inputs(int(beta * 10) + (topk or 0))
    trainer = SimpleNamespace(gkd_logits_topk=topk, beta=beta, temperature=0.9)
    ref = GKDTrainer._compute_jsd_loss(trainer, student, TeacherOutput(full_logits=teacher, labels=labels.clone()),
                                       labels)
    ours = GKDTermsMixin._compute_jsd_loss(trainer, student, TeacherOutput(full_logits=teacher, labels=labels.clone()),
                                           labels)
    assert torch.equal(ours, ref)
    terms = trainer._jsd_terms
    if topk is not None:
        assert terms is None  # the top-k path computes its KL without kl_div_fn (telemetry refuses it in config)
        return
    n = int((labels[:, 1:] != -100).sum())
    assert terms.shape == (n,) and (terms >= -1e-6).all()
    assert float(terms.mean()) == pytest.approx(float(ref), rel=1e-6)


def test_flat_ids_for_padded_rows_and_a_packed_row():
    pieces = {1: '{"desc": "', 2: "a", 3: '", "bbox_2d": [', 4: "7", 5: "]}"}
    rows = [[-100, -100, 1, 2, 3, 4, 5], [-100, 1, 2, 3, 4, 5, -100]]
    padded = torch.tensor(rows)
    owners = sample_of_positions(padded, 2, None)
    ds, types = gkd_flat_ids(padded, owners, [0, 3], pieces.__getitem__)
    assert ds.tolist() == [0] * 5 + [3] * 5
    assert types.tolist() == [2, 0, 2, 1, 2] * 2  # structure, desc, structure, coord, structure
    packed = torch.tensor([rows[0] + rows[1][:-1]])
    position_ids = torch.tensor([list(range(7)) + list(range(6))])
    owners = sample_of_positions(packed, 2, position_ids)
    assert gkd_flat_ids(packed, owners, [0, 3], None)[0].tolist() == [0] * 5 + [3] * 5
    with pytest.raises(RuntimeError, match="which of the 3 samples"):
        sample_of_positions(packed, 3, position_ids)


def test_telemetry_installs_over_the_monitor_and_the_jsd_still_runs_through_both():
    from src.trainers.gkd import GKDMonitorMixin, install_gkd_monitor
    from src.trainers.gkd_telemetry import GKDTelemetryMixin, install_gkd_telemetry

    trainer = object.__new__(GKDTrainer)  # the class ms-swift's TrainerFactory builds for gkd
    base_model = FakeCausalLM()
    trainer.model = SimpleNamespace(get_base_model=lambda: base_model)  # a PEFT wrapper
    install_gkd_monitor(trainer)
    install_gkd_telemetry(trainer, dataset_names=("a",), per_dataset=True, per_token_type=True,
                          tokenizer=SimpleNamespace(decode=lambda ids, **kw: "x"))
    mro = type(trainer).__mro__
    # telemetry outermost, the monitor's _compute_jsd_loss next, the per-token terms right above ms-swift's
    assert mro.index(GKDTelemetryMixin) < mro.index(GKDMonitorMixin) < mro.index(GKDTermsMixin) < mro.index(GKDTrainer)
    assert base_model.loss_function is trainer._telemetry.tap
    with pytest.raises(RuntimeError, match="already installed"):
        install_gkd_telemetry(trainer, dataset_names=(), per_dataset=True, per_token_type=False)

"""GRPO rows reach the reward functions the way ms-swift passes them, and score as they should."""

from __future__ import annotations

import pytest

from src.config import ConfigError, load_training_config
from src.datasets.records import DenseObject
from src.datasets.render import render_dense
from src.datasets.rl_rows import GT_COLUMNS, PREFIX_COLUMN, build_rl_datasets
from src.trainers.grpo import check_reward_funcs

DENSE_REWARDS = ("dense_format", "dense_parse", "dense_loc_fbeta", "dense_cat_f1")


@pytest.fixture(scope="module")
def cfg(easy_rl_data_dir):
    return load_training_config("configs/smoke/grpo_dense_tiny.yaml")


@pytest.fixture(scope="module")
def train(cfg):
    return build_rl_datasets(cfg, with_response=False)[0]


@pytest.fixture(scope="module")
def orms():
    from swift.rewards import orms

    from src.trainers.grpo import register_project_rewards

    assert register_project_rewards()
    return orms


def test_rows_are_prompts_with_ground_truth(train, easy_rl_data_dir):
    row = train[0]
    assert set(row) == {"messages", "images", "dataset_name", *GT_COLUMNS}
    assert [m["role"] for m in row["messages"]] == ["user"]
    assert row["messages"][0]["content"].startswith("<image>Detect every object")
    (image,) = row["images"]  # no augmentation in this preset: the file itself
    assert image.startswith(str(easy_rl_data_dir)) and image.endswith(".png")
    assert row["coord_format"] == "norm1000" and row["gt_objects"]
    assert all(len(set(o) - {"desc"}) == 1 for o in row["gt_objects"])


def _score(orms, name: str, rows: list[dict], completions: list[str]) -> list[float]:
    """What ms-swift's GRPOTrainer does: row -> sample (extra columns) -> reward kwargs."""
    from swift.dataset import RowPreprocessor
    from swift.rl_core.data import GRPOSample

    samples = []
    for row, completion in zip(rows, completions):
        sample = GRPOSample.from_row(row)
        sample.messages.append({"role": "assistant", "content": completion})
        samples.append(sample)
    kwargs = RowPreprocessor.rows_to_batched([s.to_reward_row() for s in samples])
    return orms[name]()([s.messages[-1]["content"] for s in samples], trainer_state=None, **kwargs)


def test_rewards_score_rows_through_the_ms_swift_path(orms, train):
    rows = [train[i] for i in range(3)]
    perfect = [render_dense([DenseObject.from_dict(o) for o in r["gt_objects"]], r["width"], r["height"],
                            r["coord_format"]) for r in rows]
    for name in DENSE_REWARDS:
        assert _score(orms, name, rows, perfect) == [1.0, 1.0, 1.0], name
        assert _score(orms, name, rows, ["garbage"] * 3) == [0.0, 0.0, 0.0], name
    # Another row's answer is well-formed but wrong: format full marks, localisation below 1.
    swapped = perfect[1:] + perfect[:1]
    assert _score(orms, "dense_format", rows, swapped) == [1.0, 1.0, 1.0]
    assert all(s < 1.0 for s in _score(orms, "dense_loc_fbeta", rows, swapped))


def test_smoke_rewards_are_registered(orms, cfg):
    check_reward_funcs(cfg, orms)


def test_unknown_reward_names_fail_naming_the_key(orms, easy_rl_data_dir):
    bad = load_training_config("configs/smoke/grpo_dense_tiny.yaml",
                               ["rlhf.reward_funcs=[dense_format,dense_fromat]", "rlhf.reward_weights=[1.0,1.0]"])
    with pytest.raises(ConfigError) as err:
        check_reward_funcs(bad, orms)
    assert "rlhf.reward_funcs (override:rlhf.reward_funcs=" in str(err.value)
    assert "dense_fromat" in str(err.value) and "dense_format" in str(err.value)


def test_an_assistant_prefix_reaches_the_rewards(orms, easy_rl_data_dir):
    cfg = load_training_config("configs/smoke/grpo_dense_tiny.yaml", ["custom.assistant_prefix_format=<DENSE>"])
    rows = [build_rl_datasets(cfg, with_response=False)[0][0]]
    assert rows[0][PREFIX_COLUMN] == "<DENSE>"
    r = rows[0]
    body = render_dense([DenseObject.from_dict(o) for o in r["gt_objects"]], r["width"], r["height"],
                        r["coord_format"])
    assert _score(orms, "dense_format", rows, ["<DENSE>\n" + body]) == [1.0]
    assert _score(orms, "dense_format", rows, [body]) != [1.0]  # the prefix line is expected

"""Trainers get our class in one place (src/trainers/trainer_class.py::adopt), relying on how ms-swift 4.6
constructs and hands over the trainer; a change upstream fails here first."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_only_adopt_assigns_a_class_in_src():
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\.__class__\s*=(?!=)", line):
                hits.append(f"{path.relative_to(SRC.parent)}:{lineno}")
    assert len(hits) == 1 and hits[0].startswith("src/trainers/trainer_class.py:"), hits


def test_ms_swift_constructs_the_factory_class_and_hands_the_instance_to_train():
    """``SwiftSft.run`` (also SwiftRLHF's: it does not override it) builds ``TrainerFactory.get_trainer_cls(args)``
    with no parameter for another class, then calls ``self.train(trainer)``, which LauncherPipeline overrides: the
    instance is ours to adopt before training, and nothing upstream holds its class in between."""
    from swift.pipelines.train.rlhf import SwiftRLHF
    from swift.pipelines.train.sft import SwiftSft

    assert "run" not in SwiftRLHF.__dict__
    body = inspect.getsource(SwiftSft.run)
    construct = body.index("trainer_cls = TrainerFactory.get_trainer_cls(args)")
    built = body.index("trainer = trainer_cls(", construct)
    handed = body.index("return self.train(trainer)", built)
    assert "trainer_cls" not in body[handed:]  # nothing else made of the class afterwards
    assert "trainer" not in body[built:handed].replace("trainer = trainer_cls(", "").replace("self._get_trainer_kwargs", "")


def test_declared_classes_are_reused_and_mixins_stack_outermost_first():
    from src.trainers.trainer_class import adopt, declare, trainer_class

    class Base:
        pass

    class AMixin:
        pass

    class BMixin:
        pass

    @declare
    class ABase(AMixin, Base):
        pass

    assert trainer_class(Base, (AMixin,)) is ABase
    assert trainer_class(ABase, (AMixin,)) is ABase  # already has it
    obj = adopt(Base(), AMixin)
    assert type(obj) is ABase
    adopt(obj, BMixin)
    assert type(obj).__mro__[:4] == (type(obj), BMixin, ABase, AMixin)
    assert trainer_class(ABase, (BMixin,)) is type(obj)  # built once per combination


def test_the_trainers_ms_swift_builds_become_the_declared_mode_classes():
    """TrainerFactory's classes for causal_lm and gkd, with our mixins, are the classes the recipes declare."""
    from swift.trainers import TrainerFactory

    from src.trainers.gkd import GKDMonitorMixin, GKDMonitorTrainer
    from src.trainers.stage2_ab import Stage2ABMixin, Stage2ABTrainer
    from src.trainers.trainer_class import trainer_class

    def factory_class(key: str) -> type:
        module, _, name = TrainerFactory.TRAINER_MAPPING[key].rpartition(".")
        return getattr(__import__(module, fromlist=[name]), name)

    assert trainer_class(factory_class("causal_lm"), (Stage2ABMixin,)) is Stage2ABTrainer
    assert trainer_class(factory_class("gkd"), (GKDMonitorMixin,)) is GKDMonitorTrainer


def test_grpo_rollouts_reach_log_rollout_after_scoring_with_the_ranks_samples():
    """RolloutHealthMixin counts in ``_log_rollout``: ms-swift calls it once per generation, after rollout and
    scoring, with the same samples it encoded (the rank's own, their completions and ``extra`` columns in place)."""
    from swift.rlhf_trainers import GRPOTrainer

    from src.trainers.grpo_health import GRPOHealthTrainer, RolloutHealthMixin
    from src.trainers.trainer_class import trainer_class

    body = inspect.getsource(GRPOTrainer._generate_and_score_completions)
    steps = [body.index(s) for s in ("samples = self._rollout_samples(inputs)",
                                     "samples = self._score_completions(samples)",
                                     "self._prepare_batch_inputs(samples)", "self._log_rollout(samples)")]
    assert steps == sorted(steps) and body.count("_log_rollout(") == 1
    assert "_generate_and_score_completions" not in GRPOTrainer.__dict__  # the shared RolloutTrainerMixin skeleton
    assert trainer_class(GRPOTrainer, (RolloutHealthMixin,)) is GRPOHealthTrainer

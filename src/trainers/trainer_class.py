"""The one place where a trainer ms-swift constructed becomes one of ours.

Each mode's trainer is a class: our mixins in front of the ms-swift trainer it extends
(``GKDMonitorTrainer(GKDMonitorMixin, GKDTrainer)``, ``Stage2ABTrainer(Stage2ABMixin,
Seq2SeqTrainer)``, with ``TelemetryMixin`` / ``DetectionEvalMixin`` in front when the config turns them
on). ms-swift 4.6 offers no seam to hand it that class: ``SwiftSft.run`` constructs
``TrainerFactory.get_trainer_cls(args)(model=..., args=..., template=..., ...)`` itself and passes
the instance straight to ``self.train(trainer)`` (pinned by tests/contracts/test_trainer_class_seam.py).
So :func:`adopt` gives that instance our class, before training starts; it is the only
``__class__`` assignment in src/. The mixins add no constructor state: each extension sets its own
state right after adopting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T", bound=type)
_CLASSES: dict[tuple[type, ...], type] = {}


def declare(cls: T) -> T:
    """Register a statically declared trainer class (``class X(Mixin, Base)``) as *the* class for its bases."""
    _CLASSES[cls.__bases__] = cls
    return cls


def trainer_class(base: type, mixins: Iterable[type]) -> type:
    """``mixins`` (outermost first) in front of ``base``; mixins ``base`` already has are skipped. Built once per
    combination (a declared class when one exists)."""
    missing = tuple(m for m in mixins if not issubclass(base, m))
    if not missing:
        return base
    bases = (*missing, base)
    if bases not in _CLASSES:
        name = "".join(m.__name__.removesuffix("Mixin") for m in missing) + base.__name__
        _CLASSES[bases] = type(name, bases, {"__module__": missing[0].__module__})
    return _CLASSES[bases]


def adopt(trainer: Any, *mixins: type) -> Any:
    """Give the trainer ms-swift constructed the class :func:`trainer_class` builds for it (see the module doc)."""
    trainer.__class__ = trainer_class(type(trainer), mixins)
    return trainer

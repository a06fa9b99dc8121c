"""The console filters of src/trainers/console.py on real log records (no ms-swift import)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from src.trainers.console import CONSOLE_SWIFT_INFO, _HarmlessFilter, _TiedHeadFilter, explain_tied_head


def _record(level: int, message: str, name: str = "swift") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_console_keeps_phase_lines_and_warnings_once_and_drops_the_known_harmless():
    f = _HarmlessFilter(CONSOLE_SWIFT_INFO)
    assert not f.filter(_record(logging.INFO, "args: SftArguments(acc_strategy=token, ...)"))
    assert f.filter(_record(logging.INFO, "Saving model checkpoint to /run/checkpoint-6"))
    assert not f.filter(_record(logging.WARNING, 'Please install the package: `pip install "decord" -U`.'))
    assert f.filter(_record(logging.WARNING, 'Please install the package: `pip install "flash_attn" -U`.'))
    assert f.filter(_record(logging.WARNING, "Loading model from x with trust_remote_code=True."))
    assert not f.filter(_record(logging.WARNING, "Loading model from x with trust_remote_code=True."))  # once
    assert f.filter(_record(logging.ERROR, "the run itself failed"))


def test_the_tied_lm_head_warning_is_replaced_only_for_a_tied_model(caplog):
    f = _TiedHeadFilter()
    with caplog.at_level(logging.INFO, logger="src.trainers.console"):
        assert not f.filter(_record(logging.WARNING, _TiedHeadFilter.MESSAGE, "transformers.trainer"))
    assert "ties it to the input embeddings" in caplog.text
    other = "There were missing keys in the checkpoint model loaded: ['lm_head.weight', 'model.norm.weight']."
    assert f.filter(_record(logging.WARNING, other, "transformers.trainer"))  # any other missing key still warns
    trainer_logger = logging.getLogger("transformers.trainer")
    before = list(trainer_logger.filters)
    untied = SimpleNamespace(config=SimpleNamespace(tie_word_embeddings=False))
    explain_tied_head(untied)
    assert trainer_logger.filters == before  # an untied model keeps transformers' warning
    explain_tied_head(SimpleNamespace(config=SimpleNamespace(tie_word_embeddings=True)))
    added = [f for f in trainer_logger.filters if f not in before]
    assert len(added) == 1 and isinstance(added[0], _TiedHeadFilter)
    trainer_logger.removeFilter(added[0])

"""What a training run prints, and its full log in the run directory.

The console gets the launcher's own lines (`src.*`: config, run directory, data, training plan,
checkpoints, the end), every warning of ms-swift and transformers except the known-harmless ones
below, ms-swift's progress bar and one line per logged step, and the few ms-swift INFO lines that
mark a phase (`CONSOLE_SWIFT_INFO`). Everything at INFO, ms-swift's `args: SftArguments(...)` dump
and the filtered warnings included, goes to `RUN_DIR/logs/train.log` (rank 0, appended on resume);
ms-swift also writes the arguments to `RUN_DIR/args.json`. `--verbose` restores ms-swift's full INFO
output on the console and drops the filters.

Only logging's own mechanisms are used: the handlers' levels and filters of the `swift` logger
(ms-swift's `get_logger()`, created when ms-swift is imported) and of the `transformers` logger, and
`warnings.filterwarnings`. The ms-swift messages matched here are pinned by
tests/contracts/test_upstream_surfaces.py::test_swift_log_messages_we_route_exist.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

LOG_FILE = "logs/train.log"
# ms-swift INFO lines worth a console line: the model's size, each checkpoint written, the end.
CONSOLE_SWIFT_INFO = ("model_parameter_info:", "Saving model checkpoint to", "last_model_checkpoint:")
# Known-harmless warnings of the pinned stack (ms-swift 4.6.0, transformers 5.19, torch 2.14), each with why.
HARMLESS_LOG_WARNINGS: dict[str, str] = {
    # ms-swift's qwen3_vl model entry lists decord (a video reader) as a requirement; image-only runs never
    # read a video (qwen_vl_utils decodes images with PIL), so nothing is missing for this launcher.
    'Please install the package: `pip install "decord" -U`.': "decord reads videos; this launcher trains on images",
    # ms-swift hands the dtype to from_pretrained as `torch_dtype`; transformers 5 renamed the keyword and
    # still honours the old one. Our config key is ms-swift's `model.torch_dtype`, nothing for a user to change.
    "`torch_dtype` is deprecated! Use `dtype` instead!": "ms-swift's keyword, still honoured by transformers",
}
HARMLESS_PY_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    # Raised while a library of the stack is imported (torch deprecates its own jit.script); not our call.
    (r"`torch\.jit\.script` is deprecated", FutureWarning, "a deprecation inside the pinned stack"),
    # The dataloader pins host memory for faster copies to a GPU; on a CPU-only machine pinning is skipped.
    (r"'pin_memory' argument is set as true but no accelerator is found", UserWarning, "CPU run: nothing to pin"),
)
_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


class _HarmlessFilter(logging.Filter):
    """Drops the known-harmless warnings and repeated identical warnings (each is shown once)."""

    def __init__(self, keep_info: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.keep_info = keep_info
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno < logging.WARNING:
            return message.startswith(self.keep_info)
        if any(message.startswith(known) for known in HARMLESS_LOG_WARNINGS) or message in self.seen:
            return False
        self.seen.add(message)
        return True


def quiet_progress_bars(verbose: bool) -> None:
    """Progress bars are for terminals: when stderr is not one (a log file, CI), the bars, which redraw
    themselves with carriage returns and blank lines, are off and ms-swift's one line per logged step
    stays. tqdm reads its TQDM_* variables when it is imported, so this runs before anything heavy. The
    trainer is then built with `disable_tqdm` (src/boundary/arguments.py), so it prints its log lines
    itself instead of through a progress bar."""
    if not verbose and not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")


def _console_handlers(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]


def route_logs(run_dir: Path | None, *, verbose: bool, write_file: bool) -> Path | None:
    """Set the console as described above; the full log to `run_dir/logs/train.log` when `write_file`."""
    from swift.utils import get_logger
    from transformers.utils import logging as hf_logging

    swift_logger = get_logger()  # ms-swift's one logger (named "swift"); its handlers exist from here on
    hf_logger = hf_logging.get_logger()  # transformers' library logger, its console handler set up now
    loggers = [logging.getLogger("src"), swift_logger, hf_logger]
    if not verbose:
        swift_logger.setLevel(logging.INFO)
        for handler in _console_handlers(swift_logger):
            handler.setLevel(logging.INFO)  # the filter lets INFO through only for CONSOLE_SWIFT_INFO
            handler.addFilter(_HarmlessFilter(CONSOLE_SWIFT_INFO))
        for handler in _console_handlers(hf_logger):
            handler.addFilter(_HarmlessFilter())
        for pattern, category, _why in HARMLESS_PY_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern, category=category)
    if run_dir is None or not write_file:
        return None
    path = run_dir / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    file_handler.setFormatter(_FORMAT)
    file_handler.setLevel(logging.INFO)
    for logger in loggers:
        logger.addHandler(file_handler)
    hf_logger.setLevel(min(hf_logger.getEffectiveLevel(), logging.INFO))
    for handler in _console_handlers(hf_logger):
        handler.setLevel(max(handler.level, logging.WARNING))  # transformers' INFO goes to the file only
    return path


def explain_tied_head(model: Any) -> None:
    """On resume, transformers warns that the checkpoint lacks `lm_head.weight` when the model ties it to
    the input embeddings (Qwen3-VL 2B/4B, the tiny model): the tied weight is restored with the embeddings.
    Replace that one warning by one line saying so; any other missing key still warns."""
    config = getattr(model, "config", None)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    if not getattr(text, "tie_word_embeddings", False) and not getattr(config, "tie_word_embeddings", False):
        return
    logging.getLogger("transformers.trainer").addFilter(_TiedHeadFilter())


class _TiedHeadFilter(logging.Filter):
    MESSAGE = "There were missing keys in the checkpoint model loaded: ['lm_head.weight']."

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != self.MESSAGE:
            return True
        logging.getLogger("src.trainers.console").info(
            "resume: the checkpoint holds no lm_head.weight because this model ties it to the input embeddings "
            "(tie_word_embeddings); it is restored with them (transformers' missing-keys warning is not shown)")
        return False

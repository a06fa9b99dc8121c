"""Chat-template / tokenizer drift detection: a fingerprint of the prompt ids of a fixed probe.

The rendered ids of :data:`PROBE` (system + user turn with one image + an assistant target with
dense JSON, in train mode so labels are included) decide the training objective: a changed chat
template, tokenizer merge table, special-token id or image processor changes them. The expected
fingerprints of the offline tiny models are committed in ``template_fingerprints.json`` (keyed by
model directory name); :func:`check_template_fingerprint` raises :class:`TemplateDriftError` with the
first differing position when they drift.

    python -m src.audit.template_fingerprint artifacts/tiny-qwen3-vl [--write]

prints (or records) the fingerprint of a model directory, through the same ms-swift template a
run uses (``SftArguments.get_template``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FINGERPRINTS_PATH = Path(__file__).with_name("template_fingerprints.json")
PROBE_IMAGE_SIZE = (64, 64)  # multiples of 32 and >= min_pixels of the tiny processor: no resize
PROBE: dict[str, Any] = {
    "messages": [
        {"role": "system", "content": "You are a careful annotator."},
        {"role": "user", "content": "<image>Detect every object. Answer with JSON."},
        {"role": "assistant", "content": '{"objects": [{"desc": "red box", "bbox_2d": [1, 2, 30, 31]}]}'},
    ],
}


class TemplateDriftError(RuntimeError):
    pass


def probe_inputs() -> dict[str, Any]:
    from PIL import Image

    return {**PROBE, "images": [Image.new("RGB", PROBE_IMAGE_SIZE, (200, 30, 30))]}


def _ids(value: Any) -> list[int]:
    if hasattr(value, "tolist"):
        value = value.tolist()
    return [int(v) for v in value]


def fingerprint_encoded(encoded: Mapping[str, Any]) -> dict[str, Any]:
    ids, labels = _ids(encoded["input_ids"]), _ids(encoded.get("labels") or [])
    digest = hashlib.sha256(json.dumps({"input_ids": ids, "labels": labels}).encode()).hexdigest()
    grid = encoded.get("image_grid_thw")
    return {"sha256": digest, "n_tokens": len(ids), "input_ids": ids, "labels": labels,
            "image_grid_thw": _ids(grid.reshape(-1)) if grid is not None else None}


def template_fingerprint(template: Any) -> dict[str, Any]:
    """The fingerprint of the probe under ``template`` (an ms-swift template in train mode)."""
    return fingerprint_encoded(template.encode(probe_inputs()))


def load_fingerprints(path: Path = FINGERPRINTS_PATH) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def compare(expected: Mapping[str, Any], actual: Mapping[str, Any], model: str, decode: Any = None) -> str | None:
    """None when equal, else an actionable description of the first difference."""
    if expected["sha256"] == actual["sha256"]:
        return None
    for key in ("input_ids", "labels"):
        a, b = list(expected[key]), list(actual[key])
        if a != b:
            pos = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            shown = f" (decoded {decode(b[max(0, pos - 3): pos + 3])!r})" if decode and pos < len(b) else ""
            return (f"template/tokenizer drift for model {model!r}: the probe conversation's {key} differ at "
                    f"position {pos}: expected {a[pos:pos + 6]}, got {b[pos:pos + 6]}{shown}; lengths "
                    f"{len(a)} -> {len(b)}. The chat template, tokenizer or image processor changed, which changes "
                    "the training objective. If intended, re-record with `python -m src.audit.template_fingerprint "
                    "<model dir> --write` and say why in the commit.")
    return f"template drift for model {model!r}: fingerprint {expected['sha256'][:12]} -> {actual['sha256'][:12]}"


def check_template_fingerprint(template: Any, model: str, expected: Mapping[str, Any] | None = None,
                               path: Path = FINGERPRINTS_PATH) -> dict[str, Any]:
    """Raise TemplateDriftError when ``template`` renders the probe differently from the recorded
    fingerprint of ``model`` (a model directory name); returns the actual fingerprint."""
    if expected is None:
        recorded = load_fingerprints(path)
        if model not in recorded:
            raise TemplateDriftError(f"no recorded template fingerprint for model {model!r} in {path}")
        expected = recorded[model]
    actual = _train_mode_fingerprint(template)
    tokenizer = getattr(template, "tokenizer", None)
    problem = compare(expected, actual, model, getattr(tokenizer, "decode", None))
    if problem:
        raise TemplateDriftError(problem)
    return actual


def _train_mode_fingerprint(template: Any) -> dict[str, Any]:
    """The probe's fingerprint in train mode (labels included), whatever mode the run's template is in."""
    mode = getattr(template, "mode", "train")
    if mode == "train":
        return template_fingerprint(template)
    template.set_mode("train")
    try:
        return template_fingerprint(template)
    finally:
        template.set_mode(mode)


def verify_run_template(template: Any, expected: str | None, model: str) -> dict[str, Any]:
    """The run-time guard (``custom.template_fingerprint``): fingerprint the run's template and compare.

    ``expected``: ``None`` (record only), ``"recorded"`` (the committed fingerprint of the model
    directory's name) or a sha256 hex digest / prefix (from a previous run's manifest). Raises
    :class:`TemplateDriftError` on a mismatch; returns the record written into the run manifest."""
    name = Path(str(model)).name
    if expected == "recorded":
        recorded = load_fingerprints()
        if name not in recorded:
            raise TemplateDriftError(
                f"custom.template_fingerprint: recorded, but no fingerprint is recorded for model {name!r} in "
                f"{FINGERPRINTS_PATH} (recorded: {', '.join(sorted(recorded)) or 'none'}). Record it with "
                f"`python -m src.audit.template_fingerprint {model} --write`, or pin the sha256 from a previous "
                "run's run_manifest.json (template_fingerprint.sha256).")
        actual = check_template_fingerprint(template, name, expected=recorded[name])
    else:
        actual = _train_mode_fingerprint(template)
        if expected is not None and not actual["sha256"].startswith(expected):
            raise TemplateDriftError(
                f"template/tokenizer drift for model {model!r}: custom.template_fingerprint pins {expected}, but "
                f"this run's template renders the probe conversation to {actual['sha256']} ({actual['n_tokens']} "
                "tokens). The chat template, tokenizer or image processor differs from the run the fingerprint came "
                "from, which changes the training objective. Compare the package versions and model files with that "
                "run's run_manifest.json; if the change is intended, set custom.template_fingerprint to the new value "
                "(or null to only record it).")
    logger.info("template fingerprint %s (%d probe tokens)%s", actual["sha256"][:12], actual["n_tokens"],
                "" if expected is None else f", matches custom.template_fingerprint={expected[:12]}")
    return {"sha256": actual["sha256"], "n_tokens": actual["n_tokens"], "image_grid_thw": actual["image_grid_thw"],
            "pinned": expected}


def build_template(model_dir: Path | str, config: str = "configs/smoke/sft_dense_tiny.yaml",
                   overrides: Sequence[str] = ()) -> Any:
    """The ms-swift train-mode template a run of ``config`` with ``model.model=model_dir`` builds
    (``SftArguments`` from ``build_swift_kwargs``; no weights loaded)."""
    from swift import SftArguments

    from src.config import load_training_config
    from src.config.swift_args import build_swift_kwargs

    cfg = load_training_config(config, [f"model.model={model_dir}", *overrides])
    args = SftArguments(**build_swift_kwargs(cfg))
    _, processor = args.get_model_processor(load_model=False)
    template = args.get_template(processor)
    template.set_mode("train")
    return template


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--write", action="store_true", help=f"record it in {FINGERPRINTS_PATH.name}")
    args = parser.parse_args(argv)
    fp = template_fingerprint(build_template(args.model_dir))
    print(json.dumps({k: fp[k] for k in ("sha256", "n_tokens", "image_grid_thw")}))
    if args.write:
        recorded = load_fingerprints()
        recorded[args.model_dir.resolve().name] = fp
        FINGERPRINTS_PATH.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

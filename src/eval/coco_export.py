"""`python -m src.eval ... --coco`: predictions in COCO's results format, next to predictions.jsonl.

One ``predictions_coco.json`` (``predictions_coco_<dataset>.json`` per fusion target when several
are evaluated): ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``, with the ids
``python -m src.datasets.convert to-coco`` gives the same split JSONL (category ids from the table
beside it, image ids from ``metadata.image_id`` or the 1-based record number), so ``COCOeval`` of
the pair reproduces ``bbox/map`` (docs/evaluation.md says when it cannot). A prediction matches a
category by normalised desc, as the metric does; one whose desc is no category of the split is
left out (in the metric it lowers no AP either) and counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from src.datasets.convert.to_coco import category_ids, image_id, jsonl_category_ids
from src.stage2.matching import normalize_desc


def _dataset_results(sources: Sequence[tuple[str, int, Any]], images: Sequence[Any]) -> tuple[list[dict], int]:
    records = [r for _, _, r in sources]
    jsonl = records[0].source.path if records[0].source is not None else None
    ids = jsonl_category_ids(Path(jsonl)) if jsonl else category_ids([o.desc for r in records for o in r.objects], {})
    by_name: dict[str, int] = {}
    for desc, cid in sorted(ids.items(), key=lambda kv: kv[1]):
        by_name.setdefault(normalize_desc(desc), cid)
    results, unmatched = [], 0
    for (_, index, record), im in zip(sources, images):
        iid = image_id(record, index)  # as to-coco numbers the split
        for p in im.preds:
            cid = by_name.get(normalize_desc(p.obj.desc))
            if cid is None:
                unmatched += 1
                continue
            x1, y1, x2, y2 = p.obj.bounds
            results.append({"image_id": iid, "category_id": cid, "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": float(p.score)})
    return results, unmatched


def write_coco_predictions(out_dir: Path, sources: Sequence[tuple[str, int, Any]],
                           images: Sequence[Any]) -> list[tuple[Path, int, int]]:
    """Write the COCO results file(s); ``(path, detections, left out)`` for each."""
    datasets = sorted({name for name, _, _ in sources})
    written = []
    for name in datasets:
        rows = [(s, im) for s, im in zip(sources, images) if s[0] == name]
        results, unmatched = _dataset_results([s for s, _ in rows], [im for _, im in rows])
        path = out_dir / ("predictions_coco.json" if len(datasets) == 1 else f"predictions_coco_{name}.json")
        path.write_text(json.dumps(results) + "\n", encoding="utf-8")
        written.append((path, len(results), unmatched))
    return written

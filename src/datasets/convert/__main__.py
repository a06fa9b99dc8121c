"""`python -m src.datasets.convert`: detection datasets -> our JSONL, and our JSONL -> COCO (docs/data.md).

    python -m src.datasets.convert coco    ANNOTATIONS.json --out DIR/train.jsonl [--images DIR]
    python -m src.datasets.convert lvis    ANNOTATIONS.json --out DIR/train.jsonl --images DIR
    python -m src.datasets.convert yolo    --images DIR --names data.yaml --out DIR/train.jsonl [--labels DIR]
    python -m src.datasets.convert voc     --annotations DIR --out DIR/train.jsonl [--images DIR]
    python -m src.datasets.convert labelme --annotations DIR --out DIR/train.jsonl
    python -m src.datasets.convert odvg    ROWS.jsonl --out DIR/train.jsonl [--images DIR] [--label-map FILE]
    python -m src.datasets.convert to-coco DIR/val.jsonl --out val_coco.json

Exit 0: written, clean. 1: written without the images that had bad items (--skip-bad; each listed).
2: nothing written (bad items without --skip-bad, an unreadable or malformed input, a bad option).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from src.datasets.records import RecordError
from src.datasets.validate import DataFileError, load_records

from .coco import read_coco
from .descmap import load_desc_map
from .labelme import read_labelme
from .model import ConvertError, Source
from .odvg import read_odvg
from .report import make_console, print_report
from .to_coco import category_table, records_to_coco
from .voc import read_voc
from .writer import WriteOptions, write_records
from .yolo import read_yolo

FORMATS = ("coco", "lvis", "yolo", "voc", "labelme", "odvg")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="the JSONL to write (image paths relative to it)")
    p.add_argument("--desc-map", type=Path, help="YAML: source category name -> desc, or null to drop it")
    p.add_argument("--drop-empty", action="store_true", help="leave out images without objects (default: negatives)")
    p.add_argument("--skip-bad", action="store_true",
                   help="write every image without a bad item and list the others (default: write nothing)")
    p.add_argument("--tolerance", type=float, default=1.0,
                   help="points at most this many px outside the image are clamped onto it (counted); default 1")
    p.add_argument("--report", type=Path, help="also write the report as JSON")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m src.datasets.convert", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 1)[1])
    sub = p.add_subparsers(dest="format", required=True)
    for name in ("coco", "lvis"):
        s = sub.add_parser(name, help=f"{name.upper()} instances JSON")
        s.add_argument("annotations", type=Path)
        s.add_argument("--images", type=Path, help="folder the file names are relative to (default: the JSON's)")
        s.add_argument("--geometry", choices=("poly", "bbox"), default="poly",
                       help="polygons as poly (default) or every object as its bbox")
        if name == "coco":
            s.add_argument("--crowd", choices=("skip", "box"), default="skip",
                           help="iscrowd regions: skipped and counted (default) or kept as boxes")
        _common(s)
    s = sub.add_parser("yolo", help="YOLO txt labels")
    s.add_argument("--images", type=Path, required=True)
    s.add_argument("--labels", type=Path, help="default: the images folder with images/ -> labels/")
    s.add_argument("--names", type=Path, required=True, help="data.yaml (names:) or a names file, one per line")
    _common(s)
    s = sub.add_parser("voc", help="Pascal VOC XML")
    s.add_argument("--annotations", type=Path, required=True)
    s.add_argument("--images", type=Path, help="default: JPEGImages beside the annotations folder")
    s.add_argument("--keep-difficult", action="store_true", help="keep difficult objects (default: skip, counted)")
    _common(s)
    s = sub.add_parser("labelme", help="LabelMe JSON")
    s.add_argument("--annotations", type=Path, required=True)
    _common(s)
    s = sub.add_parser("odvg", help="ODVG JSONL (detection rows)")
    s.add_argument("rows", type=Path)
    s.add_argument("--images", type=Path, help="folder the file names are relative to (default: the JSONL's)")
    s.add_argument("--label-map", type=Path, help="JSON {label id: name} for instances without a category")
    _common(s)
    s = sub.add_parser("to-coco", help="our JSONL -> COCO instances JSON")
    s.add_argument("jsonl", type=Path)
    s.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv)


def read_source(args: argparse.Namespace) -> Source:
    fmt = args.format
    if fmt in ("coco", "lvis"):
        return read_coco(args.annotations, args.images, lvis=fmt == "lvis", geometry=args.geometry,
                         crowd=getattr(args, "crowd", "skip"))
    if fmt == "yolo":
        return read_yolo(args.images, args.names, args.labels)
    if fmt == "voc":
        return read_voc(args.annotations, args.images, keep_difficult=args.keep_difficult)
    if fmt == "labelme":
        return read_labelme(args.annotations)
    return read_odvg(args.rows, args.images, args.label_map)


def _convert(args: argparse.Namespace) -> int:
    if args.tolerance < 0:
        raise ConvertError(f"--tolerance must be >= 0, got {args.tolerance}")
    options = WriteOptions(args.out, load_desc_map(args.desc_map), args.drop_empty, args.skip_bad, args.tolerance)
    source = read_source(args)
    err = make_console(stderr=True)
    if err.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn(f"converting {args.format}"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, transient=True) as bar:
            task = bar.add_task("images", total=source.total)
            report = write_records(args.format, source, options, advance=lambda: bar.advance(task))
    else:
        report = write_records(args.format, source, options)
    print_report(report)
    if args.report:
        args.report.write_text(json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return report.exit_code


def _to_coco(args: argparse.Namespace) -> int:
    try:
        records = load_records(args.jsonl)
    except DataFileError as e:
        raise ConvertError(str(e)) from None
    except RecordError as e:
        raise ConvertError(f"{args.jsonl} has records that break the contract:\n{e}") from None
    data = records_to_coco(records, category_table(args.jsonl))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    make_console().print(f"{args.out}: {len(data['images'])} images, {len(data['annotations'])} annotations, "
                     f"{len(data['categories'])} categories")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _to_coco(args) if args.format == "to-coco" else _convert(args)
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

"""Converters from the standard detection formats into the record contract, and back to COCO.

One reader per format (:mod:`.coco` for COCO and LVIS, :mod:`.yolo`, :mod:`.voc`, :mod:`.labelme`,
:mod:`.odvg`) yields :class:`.model.SourceImage` items in the contract's pixel frame
(:mod:`.frames` holds each format's convention); :mod:`.writer` checks them against the image
headers, maps categories (:mod:`.descmap`), writes the JSONL and its category table and runs the
validator; :mod:`.report` says what happened. :mod:`.to_coco` exports a JSONL as COCO.
CLI: ``python -m src.datasets.convert`` (docs/data.md).
"""

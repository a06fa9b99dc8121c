"""Trainer dispatch: one typed config in, the right ms-swift pipeline out."""

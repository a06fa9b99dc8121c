"""``--desc-map FILE.yaml``: rename, merge or drop categories on the way in.

The file is one mapping from a source category name to the ``desc`` written for it; ``null``
drops the category (its objects are counted as skipped). Several names mapped to one desc merge
them. Names the file does not list keep their own name::

    person: pedestrian
    rider: pedestrian        # merged with person
    traffic light: null      # dropped
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from src.config import ConfigError
from src.config.yaml_io import load_yaml_file

from .model import ConvertError

DROPPED = None


@dataclass(frozen=True)
class DescMap:
    """Source category name -> desc (None: dropped). Unlisted names map to themselves."""

    table: dict[str, str | None] = field(default_factory=dict)
    path: str | None = None

    def __call__(self, name: str) -> str | None:
        return self.table.get(name, name)

    def unused(self, seen: set[str]) -> list[str]:
        """Names the file lists that no category of the source has (a typo, usually)."""
        return sorted(set(self.table) - seen)


def load_desc_map(path: Path | None) -> DescMap:
    if path is None:
        return DescMap()
    try:
        doc = load_yaml_file(Path(path))
    except ConfigError as e:
        raise ConvertError(f"--desc-map {path}: {e}") from None
    table: dict[str, str | None] = {}
    for name, desc in doc.data.items():
        if desc is not None and (not isinstance(desc, str) or not desc.strip()):
            raise ConvertError(f"{doc.where(str(name))}: --desc-map maps {name!r} to {desc!r}; write a non-empty "
                               "desc (a string), or null to drop the category")
        table[str(name)] = desc.strip() if isinstance(desc, str) else DROPPED
    return DescMap(table, str(path))

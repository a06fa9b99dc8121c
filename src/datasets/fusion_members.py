"""What a fusion entry contributes beyond its JSONL: sample limits, object caps, chat members.

- `limited(records, n)`: the first `n` records (file order) of a sequence, lazily
  (`custom.train_sample_limit` / `custom.val_sample_limit`).
- `cap_objects(record, k)`: a record keeping its first `k` objects (a source's `max_objects_per_image`).
- Chat members (`dataset: chat`): each line is `{"messages": [{"role", "content"}, ...]}`, text only,
  ending with an assistant turn; `ChatRecords` validates a line when it is read (file:line errors)
  and `ChatEncoder` hands the messages to the template as written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping, Sequence
from typing import Any

from .conversation import IMAGE_PLACEHOLDER
from .jsonl_index import JsonlIndex
from .records import Problem, Record, RecordError

CHAT_ROLES = ("system", "user", "assistant")


class Limited(Sequence):
    """The first `limit` items of `items` (all of them when there are fewer)."""

    def __init__(self, items: Sequence[Any], limit: int) -> None:
        self.items = items
        self.limit = min(int(limit), len(items))

    def __len__(self) -> int:
        return self.limit

    def line_number(self, i: int) -> int:
        return self.items.line_number(i)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.limit))]
        if i < 0:
            i += self.limit
        if not 0 <= i < self.limit:
            raise IndexError(f"record {i} out of range for {self.limit} records (sample limit)")
        return self.items[i]


def limited(items: Sequence[Any], limit: int | None) -> Sequence[Any]:
    return items if limit is None else Limited(items, limit)


def cap_objects(record: Record, max_objects: int | None) -> Record:
    """`record` with at most `max_objects` objects: the first ones, in the record's order."""
    if max_objects is None or len(record.objects) <= max_objects:
        return record
    return dataclasses.replace(record, objects=tuple(record.objects[:max_objects]))


def chat_problems(data: Any) -> list[str]:
    """Why a parsed JSONL line is not a text-only chat record ([] when it is one)."""
    if not isinstance(data, dict):
        return [f"a chat record must be a JSON object, got {type(data).__name__}"]
    problems = [f"unexpected key {k!r} (a chat record has only `messages`)" for k in data if k != "messages"]
    if data.get("images") or data.get("objects"):
        problems = ["chat members are text-only: this record has images/objects; put it in a dense fusion entry"]
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        return problems + ["`messages` must be a non-empty list of {role, content} turns"]
    for n, turn in enumerate(messages):
        if not isinstance(turn, dict) or set(turn) != {"role", "content"}:
            problems.append(f"messages[{n}] must be an object with exactly `role` and `content`")
        elif turn["role"] not in CHAT_ROLES:
            problems.append(f"messages[{n}].role {turn['role']!r} is not one of {', '.join(CHAT_ROLES)}")
        elif not isinstance(turn["content"], str):
            problems.append(f"messages[{n}].content must be a string")
        elif IMAGE_PLACEHOLDER in turn["content"]:
            problems.append(f"messages[{n}].content has an {IMAGE_PLACEHOLDER} placeholder; chat records are text-only")
    if not problems and messages[-1]["role"] != "assistant":
        problems.append("the last turn must be the assistant's (the text the model learns)")
    return problems


class ChatRecords(Sequence):
    """The conversations of a chat-format JSONL, validated as they are read."""

    def __init__(self, index: JsonlIndex) -> None:
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def line_number(self, i: int) -> int:
        return self.index.line_number(i)

    def __getitem__(self, i):  # type: ignore[override]
        data = self.index.raw(i)
        problems = chat_problems(data)
        if problems:
            source = self.index.source(i)
            raise RecordError([Problem(source.path, source.line, p) for p in problems])
        return [dict(turn) for turn in data["messages"]]


class ChatEncoder:
    """(messages, context) -> the template's encoding of the conversation as written."""

    def __init__(self, template: Any) -> None:
        self.template = template

    def __call__(self, messages: list[dict[str, str]], ctx: Any = None) -> MutableMapping[str, Any]:
        return self.template.encode({"messages": messages})


class EncodedChats(Sequence):
    """A chat target's eval records, encoded in file order (carries the entry name like FusionDataset)."""

    def __init__(self, records: Sequence[Any], encoder: ChatEncoder, name: str) -> None:
        self.records, self.encoder, self.name = records, encoder, name

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):  # type: ignore[override]
        from .fusion_dataset import DATASET_NAME_KEY

        item = self.encoder(self.records[i])
        item[DATASET_NAME_KEY] = self.name
        return item


def entry_records(entry: Any, path: Any, limit: int | None) -> Sequence[Any]:
    """The records of a fusion entry's JSONL at `path`: chat conversations or dense records, cut to `limit`."""
    index = JsonlIndex(path)
    return limited(ChatRecords(index) if entry.is_chat else index, limit)

"""The config tools print text from files literally on a terminal too (rich with markup and emoji
off): a prompt holding `:smile:`, `:100:` or `[red]...[/red]` is shown as written, in the resolved
payload, in `--explain` lines and in diff tables."""

from __future__ import annotations

import re

import pytest

PROMPT = "Say :smile: at line :100: in [red]red[/red]"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def prompts(overlay):
    left = overlay("left.yaml", f"custom:\n  user_prompt: '{PROMPT}'\n")
    right = overlay("right.yaml", "custom:\n  user_prompt: 'a :100: [bold]x[/bold]'\n")
    return left, right


@pytest.mark.parametrize("args", [("inspect",), ("inspect", "--explain")], ids=["payload", "explain"])
def test_inspect_on_a_terminal_prints_file_text_literally(tool, prompts, args):
    result = tool(*args, "--config", prompts[0], "--color", "always")
    text = ANSI.sub("", result.out)
    assert result.code == 0 and PROMPT in text
    assert not any(ch in result.out for ch in "😄💯")


def test_diff_table_on_a_terminal_prints_file_text_literally(tool, prompts):
    result = tool("diff", "--left", prompts[0], "--right", prompts[1], "--color", "always")
    row = next(line for line in ANSI.sub("", result.out).splitlines() if "custom.user_prompt" in line)
    assert '"a :100: [bold]x[/bold]"' in row, row  # one table row, wide enough (soft_wrap)
    assert not any(ch in result.out for ch in "😄💯")

"""Relative links in README.md and docs/**/*.md point at files (and headings) that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^ *(`{3,}|~{3,})")


def markdown_files() -> list[Path]:
    return [REPO / "README.md"] + sorted((REPO / "docs").rglob("*.md"))


def prose_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of the lines outside fenced code blocks."""
    out, fence = [], None
    for no, line in enumerate(text.splitlines(), 1):
        m = _FENCE.match(line)
        if m and (fence is None or (m[1][0] == fence[0] and len(m[1]) >= len(fence))):
            fence = m[1] if fence is None else None
            continue
        if fence is None:
            out.append((no, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {
        slug(line.lstrip("#"))
        for _, line in prose_lines(path.read_text(encoding="utf-8"))
        if line.startswith("#")
    }


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    problems = []
    for no, line in prose_lines(path.read_text(encoding="utf-8")):
        for target in _LINK.findall(line):
            if re.match(r"^[a-z]+:", target):
                continue  # http:, https:, mailto:
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(root)}:{no}: {target}"
            if not dest.exists():
                problems.append(f"{where}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{where}: no heading #{anchor}")
    return problems


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(path: Path) -> None:
    assert broken_links(path) == []


def test_broken_links_are_found(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    (tmp_path / "b.md").write_text("# Training speed\n")
    doc.write_text(
        "[ok](b.md#training-speed) [gone](c.md) [bad](b.md#nope) [web](https://x.org/c.md)\n"
        "```\n[in code](nothing.md)\n```\n"
    )
    assert broken_links(doc, root=tmp_path) == [
        "a.md:1: c.md: no such file",
        "a.md:1: b.md#nope: no heading #nope",
    ]


def test_slug_matches_github() -> None:
    assert slug(" Generated data: `otmark synth`") == "generated-data-otmark-synth"
    assert slug("Multi-GPU") == "multi-gpu"

"""The code blocks of README.md and docs/**/*.md that are marked runnable are executed here.

A fenced block is runnable when the line right above its opening fence is the HTML comment
``<!-- runnable -->`` (invisible when the Markdown is rendered). ``<!-- runnable: requires onnx
onnxruntime -->`` runs it only when those modules can be imported, and skips it otherwise.

The info string picks the interpreter: ``bash``/``sh``/``shell`` blocks run with
``bash -euo pipefail``, ``python`` blocks with the Python running the tests. The runnable blocks
of one file run in order in one fresh temporary folder, so a block can use the files an earlier
block wrote; each block is its own process. ``otmark`` on the ``PATH`` and ``PYTHONPATH`` both
point at the package the tests import. A failure names the file and the line of the block's
opening fence. The convention is documented in docs/development.md.
"""

from __future__ import annotations

import importlib.util
import os
import re
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import otmark

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- runnable -->"
_MARKER = re.compile(r"^<!--\s*runnable(?::\s*requires\s+(?P<requires>[\w. ,]+?))?\s*-->$")
LANGUAGES = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python", "py": "python"}
#: seconds one block may run before it counts as failed
BLOCK_TIMEOUT = 300
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    """One runnable block: ``line`` is the 1-based line of its opening fence."""

    path: Path
    line: int
    language: str
    code: str
    requires: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        """Required modules that cannot be imported here."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


def _marker(line: str) -> re.Match | None:
    return _MARKER.match(line.strip())


class MarkdownError(ValueError):
    """A runnable marker that is not followed by a usable fenced block."""


def find_blocks(text: str, path: Path) -> list[Block]:
    """The runnable blocks of one Markdown text, in file order.

    Raises:
        MarkdownError: a marker not directly above a fence, a runnable block in a language
            that cannot be run, or an unclosed fence (naming ``path`` and the line).
    """
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        m = _FENCE.match(lines[i])
        if _marker(stripped):
            nxt = _FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
            if nxt is None:
                raise MarkdownError(f"{path}:{i + 1}: {MARKER} must be directly above a fence")
            i += 1
            continue
        if m is None:
            i += 1
            continue
        fence, indent = m["fence"], len(m["indent"])
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            close = _FENCE.match(lines[i])
            if close and close["fence"][0] == fence[0] and len(close["fence"]) >= len(fence):
                if not close["info"].strip():
                    break
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        else:
            raise MarkdownError(f"{path}:{start + 1}: fenced block is never closed")
        marker = _marker(lines[start - 1]) if start > 0 else None
        if marker:
            info = m["info"].strip().split()
            language = LANGUAGES.get(info[0].lower()) if info else None
            if language is None:
                raise MarkdownError(
                    f"{path}:{start + 1}: runnable block needs one of the info strings "
                    f"{', '.join(sorted(LANGUAGES))}, got {m['info'].strip()!r}"
                )
            requires = tuple(re.split(r"[ ,]+", marker["requires"])) if marker["requires"] else ()
            code = "\n".join(body) + "\n"
            blocks.append(Block(path, start + 1, language, code, requires))
        i += 1
    return blocks


def markdown_files(repo: Path = REPO) -> list[Path]:
    """README.md and every Markdown file under docs/, sorted."""
    files = [repo / "README.md"] if (repo / "README.md").is_file() else []
    return files + sorted((repo / "docs").rglob("*.md"))


def _environment(tmp: Path) -> dict[str, str]:
    """The tests' interpreter and otmark for the blocks: ``otmark`` on PATH, PYTHONPATH set."""
    bin_dir = tmp / ".bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "otmark"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m otmark "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    py_bin = Path(sys.executable).parent
    src = str(Path(otmark.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(bin_dir), str(py_bin), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")  # tiny examples; robust on a busy CPU
    env["MPLBACKEND"] = "Agg"
    return env


def run_block(block: Block, workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run one block in ``workdir`` (bash with ``-euo pipefail``, or a Python process)."""
    suffix = ".sh" if block.language == "bash" else ".py"
    script = workdir / f".block_{block.line}{suffix}"
    script.write_text(block.code)
    cmd = ["bash", "-euo", "pipefail", str(script)]
    if block.language == "python":
        cmd = [sys.executable, str(script)]
    try:
        return subprocess.run(
            cmd,
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return subprocess.CompletedProcess(cmd, 124, out, f"timed out after {BLOCK_TIMEOUT} s")


def run_file(path: Path, workdir: Path) -> None:
    """Run every runnable block of ``path`` in order in ``workdir``; fail at the first error."""
    env = _environment(workdir)
    for block in find_blocks(path.read_text(encoding="utf-8"), path):
        if block.missing():
            continue  # optional dependency absent: the block is documented, not run
        done = run_block(block, workdir, env)
        if done.returncode != 0:
            where = f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{block.line}"
            tail = (done.stdout + done.stderr)[-3000:]
            pytest.fail(
                f"runnable {block.language} block at {where} exited with {done.returncode}:\n"
                f"{textwrap.indent(block.code, '    ')}\noutput (tail):\n{tail}",
                pytrace=False,
            )


FILES_WITH_BLOCKS = [p for p in markdown_files() if find_blocks(p.read_text(encoding="utf-8"), p)]


@pytest.mark.parametrize(
    "path", FILES_WITH_BLOCKS, ids=[str(p.relative_to(REPO)) for p in FILES_WITH_BLOCKS]
)
def test_runnable_blocks(path: Path, tmp_path: Path) -> None:
    run_file(path, tmp_path)


def test_readme_has_runnable_blocks() -> None:
    """The README's tour is executed (the runner is not silently idle)."""
    readme = REPO / "README.md"
    blocks = find_blocks(readme.read_text(encoding="utf-8"), readme)
    assert {b.language for b in blocks} == {"bash", "python"}


def test_every_marker_parses() -> None:
    """Every marker in the docs sits above a fence in a runnable language (else an error)."""
    for path in markdown_files():
        find_blocks(path.read_text(encoding="utf-8"), path)


# --- the runner itself, on hand-written Markdown -------------------------------------------

DOC = """# title

```bash
exit 1
```

<!-- runnable -->
```bash
echo one > a.txt
```

text
<!-- runnable -->
```python
from pathlib import Path
assert Path("a.txt").read_text() == "one\\n"
print("```")
```

````markdown
<!-- runnable -->
```bash
exit 1
```
````
"""


def test_find_blocks_takes_marked_blocks_only() -> None:
    blocks = find_blocks(DOC, Path("doc.md"))
    assert [(b.line, b.language) for b in blocks] == [(8, "bash"), (14, "python")]
    assert blocks[0].code == "echo one > a.txt\n"
    assert blocks[1].code.splitlines()[-1] == 'print("```")'


def test_marker_errors_name_file_and_line() -> None:
    with pytest.raises(MarkdownError, match=r"doc\.md:2: .* directly above a fence"):
        find_blocks("x\n<!-- runnable -->\n\n```bash\ntrue\n```\n", Path("doc.md"))
    with pytest.raises(MarkdownError, match=r"doc\.md:2: runnable block needs"):
        find_blocks("<!-- runnable -->\n```text\nhi\n```\n", Path("doc.md"))
    with pytest.raises(MarkdownError, match=r"doc\.md:1: fenced block is never closed"):
        find_blocks("```bash\ntrue\n", Path("doc.md"))


def test_blocks_share_a_folder_and_run_in_order(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(DOC)
    work = tmp_path / "work"
    work.mkdir()
    run_file(doc, work)
    assert (work / "a.txt").read_text() == "one\n"


def test_failing_block_reports_file_and_line(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("intro\n\n<!-- runnable -->\n```bash\ntrue\nfalse\necho never\n```\n")
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(pytest.fail.Exception, match=r"doc\.md:4 exited with 1"):
        run_file(doc, work)


def test_requires_skips_blocks_whose_modules_are_missing(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "<!-- runnable: requires no_such_module_xyz -->\n```bash\nexit 1\n```\n"
        "<!-- runnable: requires json, os -->\n```bash\necho ran > ran.txt\n```\n"
    )
    blocks = find_blocks(doc.read_text(), doc)
    assert [b.requires for b in blocks] == [("no_such_module_xyz",), ("json", "os")]
    assert [b.missing() for b in blocks] == [["no_such_module_xyz"], []]
    run_file(doc, tmp_path)
    assert (tmp_path / "ran.txt").read_text() == "ran\n"


def test_bash_blocks_stop_on_pipeline_errors_and_see_otmark(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- runnable -->\n```bash\nfalse | cat\n```\n")
    with pytest.raises(pytest.fail.Exception, match=r"doc\.md:2 exited with 1"):
        run_file(doc, tmp_path)
    doc.write_text(
        "<!-- runnable -->\n```bash\notmark --help > help.txt\n```\n"
        "<!-- runnable -->\n```python\nimport otmark, pathlib\n"
        "assert 'synth' in pathlib.Path('help.txt').read_text()\n"
        f"assert otmark.__file__ == {otmark.__file__!r}\n```\n"
    )
    run_file(doc, tmp_path)

"""Source-package entries (``deb-src``) for the package archives this machine already uses.

Reads the machine's apt configuration (``/etc/apt/sources.list``, ``sources.list.d/*.list`` in
the one-line format, ``sources.list.d/*.sources`` in the deb822 format), keeps the enabled
``deb`` entries and turns each into a ``deb-src`` stanza with the same URIs, suites, components
and key options. No archive is named here: a private apt configuration built from these
stanzas fetches source packages from wherever the machine gets its binary packages.

    python benchmarks/apt_sources.py [--etc /etc/apt]   # prints the deb822 stanzas
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

#: one-line options kept (with their deb822 field names); the others concern binary packages
ONE_LINE_OPTIONS = {"signed-by": "Signed-By", "trusted": "Trusted"}


@dataclass(frozen=True)
class Entry:
    """One archive entry: ``uris`` (>= 1), ``suites`` (>= 1), ``components`` (empty for a flat
    repository, suite ending in ``/``) and kept options (deb822 field name -> value)."""

    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    options: tuple[tuple[str, str], ...] = ()


def parse_one_line(text: str, where: str) -> list[Entry]:
    """The ``deb`` lines of a one-line-format file (``deb [opt=v ...] URI SUITE [COMP ...]``);
    ``deb-src`` lines and comments are skipped. ``ValueError`` naming ``where`` and the line
    for a ``deb`` line without URI and suite."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb ") and not line.startswith("deb\t"):
            continue
        rest = line[3:].strip()
        options: dict[str, str] = {}
        if rest.startswith("["):
            inside, sep, rest = rest[1:].partition("]")
            if not sep:
                raise ValueError(f"{where}:{n}: unclosed '[' in {raw.strip()!r}")
            for item in inside.split():
                key, _, value = item.partition("=")
                if key.lower() in ONE_LINE_OPTIONS:
                    options[ONE_LINE_OPTIONS[key.lower()]] = value
        words = rest.split()
        if len(words) < 2:
            raise ValueError(f"{where}:{n}: a deb line needs a URI and a suite: {raw.strip()!r}")
        out.append(Entry((words[0],), (words[1],), tuple(words[2:]), tuple(options.items())))
    return out


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    """Field name (lower case) -> value of each stanza; continuation lines joined by ``\\n``."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = None
    for raw in text.splitlines() + [""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, key = {}, None
        elif raw[0] in " \t" and key is not None:
            current[key] = f"{current[key]}\n{raw.strip()}" if current[key] else raw.strip()
        else:
            name, _, value = raw.partition(":")
            key = name.strip().lower()
            current[key] = value.strip()
    return stanzas


def parse_deb822(text: str, where: str) -> list[Entry]:
    """The enabled stanzas of a deb822 ``.sources`` file whose ``Types`` include ``deb``.
    ``ValueError`` naming ``where`` for such a stanza without ``URIs`` or ``Suites``."""
    out = []
    for i, fields in enumerate(_deb822_stanzas(text), 1):
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").strip().lower() == "no":
            continue
        uris, suites = fields.get("uris", "").split(), fields.get("suites", "").split()
        if not uris or not suites:
            raise ValueError(f"{where}: stanza {i} has Types: deb but no URIs or no Suites")
        options = tuple(
            (name, fields[name.lower()])
            for name in ONE_LINE_OPTIONS.values()
            if fields.get(name.lower())
        )
        components = tuple(fields.get("components", "").split())
        out.append(Entry(tuple(uris), tuple(suites), components, options))
    return out


def machine_entries(etc_apt: Path = Path("/etc/apt")) -> list[Entry]:
    """The enabled ``deb`` entries of the apt configuration under ``etc_apt``, in apt's order
    (``sources.list``, then ``sources.list.d`` by name), without repeats."""
    files = [etc_apt / "sources.list"] + sorted((etc_apt / "sources.list.d").glob("*"))
    out: list[Entry] = []
    for path in files:
        if path.suffix == ".sources" and path.is_file():
            found = parse_deb822(path.read_text(encoding="utf-8"), str(path))
        elif (path.suffix == ".list" or path.name == "sources.list") and path.is_file():
            found = parse_one_line(path.read_text(encoding="utf-8"), str(path))
        else:
            continue
        out += [e for e in found if e not in out]
    return out


def deb_src_stanzas(entries: list[Entry]) -> str:
    """The deb822 text (``Types: deb-src``) of ``entries``, one stanza each."""
    stanzas = []
    for e in entries:
        lines = ["Types: deb-src", f"URIs: {' '.join(e.uris)}", f"Suites: {' '.join(e.suites)}"]
        if e.components:
            lines.append(f"Components: {' '.join(e.components)}")
        for name, value in e.options:  # a multi-line value (an inline key) starts on its own line
            if "\n" in value:
                lines += [f"{name}:"] + [f" {v}" for v in value.split("\n")]
            else:
                lines.append(f"{name}: {value}")
        stanzas.append("\n".join(lines) + "\n")
    return "\n".join(stanzas)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--etc", type=Path, default=Path("/etc/apt"), help="apt's etc folder")
    args = parser.parse_args(argv)
    entries = machine_entries(args.etc)
    if not entries:
        raise SystemExit(f"{args.etc}: no enabled deb entry in the apt sources")
    print(deb_src_stanzas(entries), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

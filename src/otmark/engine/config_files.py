"""Experiment-config files: reading the YAML, ``base:`` inheritance, the packaged names.

A config file is a YAML mapping (a key written twice in one mapping is an error, with both
lines: plain YAML keeps the last silently). ``base: PARENT`` or ``base: [PARENT, ...]`` merges
the file onto its parents, merged in order (a later parent's keys win, the file's own keys win
over all; sections merge key by key, ``kwargs`` mappings are replaced whole). A parent is a
path (relative to the citing file or the working directory) or a packaged name.

Packaged names (``otmark/configs/``):

* ``_hrnet_face`` (the HRNet recipe, which the schema defaults already are) and the dataset
  bases ``_<dataset>`` (:data:`PACKAGED_DATASETS`), files;
* ``_<setting>`` for each packaged setting of :mod:`otmark.settings` (``_w_s3_bc``): the
  setting's fragment (loss, sigma, decoder, CoordConv), generated from that table;
* ``<dataset>_<setting>`` (``300w_w_s3_bc``), the configs :func:`list_configs` lists: each is
  ``base: [_<dataset>, _<setting>]`` with a description naming both;
* any other ``*.yaml`` file there.

:func:`load_raw` gives the merged mapping (no validation; :mod:`otmark.engine.config` builds and
validates the schema).
"""

from __future__ import annotations

import difflib
import importlib.resources
from pathlib import Path
from typing import Any

import yaml

from otmark import settings


class ConfigError(ValueError):
    """A bad config: the message names the file (or ``--set``) and the offending key."""


#: the datasets with a packaged base ``_<dataset>.yaml``: with each packaged setting, a packaged
#: config ``<dataset>_<setting>``
PACKAGED_DATASETS = ("300vw", "300w", "aflw", "cofw", "wflw")


def packaged_config_dir() -> Path:
    """The folder of the configs shipped with otmark."""
    return Path(str(importlib.resources.files("otmark") / "configs"))


def _generated(stem: str) -> tuple[str | None, str] | None:
    """``(dataset, setting)`` of a generated packaged name: ``(None, "w_s3_bc")`` for the
    fragment ``_w_s3_bc``, ``("300w", "w_s3_bc")`` for ``300w_w_s3_bc``; None for others."""
    if stem.startswith("_") and stem[1:] in settings.PACKAGED:
        return None, stem[1:]
    dataset, _, name = stem.partition("_")
    if dataset in PACKAGED_DATASETS and name in settings.PACKAGED:
        return dataset, name
    return None


def _composed(stem: str) -> dict | None:
    """The YAML mapping a generated packaged name stands for (None for other names)."""
    parts = _generated(stem)
    if parts is None:
        return None
    dataset, name = parts
    setting = settings.PACKAGED[name]
    if dataset is None:
        return setting.config()
    return {
        "base": [f"_{dataset}", f"_{name}"],
        "description": f"{dataset.upper()}, {setting.description}",
    }


def _composed_at(path: Path) -> dict | None:
    """:func:`_composed` for a packaged path that has no file of its own."""
    if path.suffix != ".yaml" or path.parent.resolve() != packaged_config_dir().resolve():
        return None
    return None if path.is_file() else _composed(path.stem)


def list_configs() -> list[str]:
    """Names of the packaged experiment configs: every ``<dataset>_<setting>`` and any other
    packaged file (names starting with ``_``, the bases and setting fragments, excluded)."""
    files = {p.stem for p in packaged_config_dir().glob("*.yaml") if not p.stem.startswith("_")}
    composed = {f"{d}_{s}" for d in PACKAGED_DATASETS for s in settings.PACKAGED}
    return sorted(files | composed)


def resolve_config(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    """A config path from a path (absolute, relative to ``relative_to`` or the working
    directory) or a packaged name (with or without ``.yaml``). A generated packaged config
    (``300w_w_s3_bc``, ``_w_s3_bc``) has no file: its path is where the file would be, which
    :func:`load_raw` and :func:`config_source` recognise."""
    p = Path(name_or_path)
    candidates = []
    if relative_to is not None and not p.is_absolute():
        candidates.append(relative_to / p)
    candidates.append(p)
    stem = p.name[:-5] if p.name.endswith(".yaml") else p.name
    packaged = packaged_config_dir() / f"{stem}.yaml"
    if len(p.parts) == 1:
        candidates.append(packaged)
    for c in candidates:
        if c.is_file():
            return c
    if len(p.parts) == 1 and _composed(stem) is not None:
        return packaged
    names = list_configs()
    parents = [p.stem for p in packaged_config_dir().glob("_*.yaml")]
    parents += [f"_{s}" for s in settings.PACKAGED]
    hint = difflib.get_close_matches(stem, names + parents, n=1)
    more = f"; did you mean {hint[0]!r}?" if hint else ""
    raise ConfigError(
        f"{name_or_path}: no such config file or packaged config "
        f"(packaged: {', '.join(names) or 'none'}){more}"
    )


def config_source(path: Path) -> str:
    """How error messages name the config at ``path`` (from :func:`resolve_config`): the path,
    or for a generated packaged config its name and what it is composed of."""
    if _composed_at(path) is None:
        return str(path)
    dataset, name = _generated(path.stem) or (None, path.stem)
    base = f"_{dataset}.yaml + " if dataset is not None else ""
    return f"{path.name} (packaged: {base}setting {name})"


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _duplicate_keys(loader: yaml.SafeLoader, root: yaml.Node) -> list[tuple[int, int, Any]]:
    """``(line, first line, key)`` of every key written again in the same mapping of the
    composed document ``root`` (scalar keys; YAML merge keys ``<<`` excluded), in line order."""
    out = []
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                    key = loader.construct_object(key_node)
                    line = key_node.start_mark.line + 1
                    if key in first:
                        out.append((line, first[key], key))
                    else:
                        first[key] = line
                stack += [key_node, value_node]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    return sorted(out, key=lambda t: (t[0], t[1]))


def _base_lines(root: yaml.Node) -> list[int]:
    """The lines of the top-level ``base:`` entries (one per parent)."""
    if not isinstance(root, yaml.MappingNode):
        return []
    for key_node, value_node in root.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == "base":
            if isinstance(value_node, yaml.SequenceNode):
                return [n.start_mark.line + 1 for n in value_node.value]
            return [value_node.start_mark.line + 1]
    return []


def _read_document(path: Path) -> tuple[dict, list[int]]:
    """The mapping of the YAML file ``path`` and the lines of its ``base:`` entries.

    Raises:
        ConfigError: naming ``path`` (and the line): unreadable, invalid YAML, a key written
            twice in one mapping, or not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc})") from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        dups = [] if root is None else _duplicate_keys(loader, root)
        if dups:
            line, first, key = dups[0]
            more = "".join(f"; {k!r} again at line {ln} (first at {f})" for ln, f, k in dups[1:])
            raise ConfigError(
                f"{path}:{line}: duplicate key {key!r} (first at line {first}){more}; a key may "
                "appear once per mapping (YAML would keep the last one silently)"
            )
        data = None if root is None else loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from exc
    finally:
        loader.dispose()
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping, got {type(data).__name__}")
    return data, _base_lines(root)


def read_yaml(path: Path) -> dict:
    """The mapping of the YAML file ``path`` (as written: ``base:`` not resolved).

    Raises:
        ConfigError: see :func:`_read_document`.
    """
    return _read_document(path)[0]


def merge(base: dict, over: dict) -> dict:
    """``over`` merged onto ``base`` section by section (``kwargs`` mappings replaced whole)."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "kwargs":
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def _parents(base: Any, where: str) -> list[str]:
    if isinstance(base, str):
        return [base]
    if isinstance(base, list) and all(isinstance(b, str) for b in base):
        return list(base)
    raise ConfigError(
        f"{where}: base must be a config name or path, or a list of them; got {base!r}"
    )


def load_raw(path: Path, _seen: tuple[Path, ...] = ()) -> dict:
    """The config at ``path`` (from :func:`resolve_config`) merged onto its ``base:`` parents,
    recursively (no validation).

    Raises:
        ConfigError: naming the file: a ``base:`` chain that loops, a parent that does not
            exist (with the line that cites it), or what :func:`read_yaml` refuses.
    """
    path = path.resolve()
    if path in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path))
        raise ConfigError(f"{path}: 'base' chain loops back to itself ({chain})")
    composed = _composed_at(path)
    if composed is not None:
        data, lines, source = dict(composed), [], config_source(path)
    else:
        data, lines = _read_document(path)
        source = str(path)
    base = data.pop("base", None)
    parents = [] if base is None else _parents(base, source)
    raw: dict = {}
    for i, parent in enumerate(parents):
        where = f"{source}:{lines[i]}" if i < len(lines) else source
        try:
            parent_path = resolve_config(parent, relative_to=path.parent)
        except ConfigError as exc:
            raise ConfigError(f"{where}: base {exc}") from None
        raw = merge(raw, load_raw(parent_path, _seen + (path,)))
    return merge(raw, data)

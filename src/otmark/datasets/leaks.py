"""Leaks between a training split and a test split, and duplicate samples inside a split.

A **leak** is the same face in a training split and in a test split of one dataset: the same
image, found by its file (``os.path.realpath``, so links count) or by its content (the sha256
of the file's bytes; of the decoded pixels for an image stored inside a container file, COFW's
``.mat``), with landmark boxes overlapping by at least :data:`SAME_FACE_IOU` (another face of
the same photograph is not a leak). A video is one image for this purpose: the same video
(file or content) in both splits is one leak whatever its frames. A leak is an **error**.

A **duplicate** is a sample repeated inside one split: the same image (file or content, and
the same frame) with the same landmarks (to :data:`DUPLICATE_DECIMALS` decimals), e.g. a list
line written twice. A duplicate is a **warning** (it weighs one face twice).

Entries are named by their annotation (:func:`entry_names`): a list or csv file and line
(WFLW, 300W csv, AFLW), a ``.pts`` file (300W, 300VW) or a ``.mat`` cell (COFW), with the split.

:func:`find_leaks` and :func:`find_duplicates` work on any sample lists; :func:`leak_pairs`
gives the official training/test pairs of a dataset (``otmark check-data``);
:func:`screen_leaks` is the check before training (leaks raise
:class:`~otmark.datasets.errors.DatasetError`, duplicates are logged).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from otmark.datasets.aflw import FILES
from otmark.datasets.check import sample_location
from otmark.datasets.errors import DatasetError
from otmark.datasets.hrnet_csv import W300_FILES
from otmark.datasets.records import Sample
from otmark.datasets.wflw import list_path

#: smallest IoU of the landmark boxes for two samples of one image to be the same face
SAME_FACE_IOU = 0.5
#: landmarks equal after rounding to this many decimals (pixels) make a duplicate
DUPLICATE_DECIMALS = 2

#: dataset -> the training split (every other split is a test split)
TRAINING_SPLIT: dict[str, str] = {
    "300w": "train",
    "300w-csv": "train",
    "wflw": "train",
    "cofw": "train",
    "aflw": "train",
    "300vw": "train",
}
#: dataset -> split -> the split that contains it (checking the container covers it)
PART_OF: dict[str, dict[str, str]] = {
    "300w": {"common": "full", "challenge": "full"},
    "300w-csv": {"common": "full", "challenge": "full"},
    "wflw": {
        f"test_{a}": "test"
        for a in ("pose", "expression", "illumination", "makeup", "occlusion", "blur")
    },
    "aflw": {"frontal": "full"},
    "300vw": {"test1": "test", "test2": "test", "test3": "test"},
}

LEAK = "leak"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Finding:
    """One leak or duplicate.

    Attributes:
        kind: :data:`LEAK` (an error) or :data:`DUPLICATE` (a warning).
        entries: the entries involved, each ``"<split> <annotation>"`` (a leak: the training
            entry, then the test entry; a duplicate: the first entry, then its repeats).
        reason: what they share, e.g. ``"same image file x.jpg"``.
    """

    kind: str
    entries: tuple[str, ...]
    reason: str

    @property
    def message(self) -> str:
        """One line naming every entry."""
        if self.kind == LEAK:
            return (
                f"leak: the same face is in {self.entries[0]} and in {self.entries[1]} "
                f"({self.reason})"
            )
        return (
            f"duplicate sample: {' repeated as '.join(self.entries[:2])}"
            + (f" and {len(self.entries) - 2} more" if len(self.entries) > 2 else "")
            + f" ({self.reason})"
        )


# --- naming entries ---------------------------------------------------------------------------


def _line_of(sample: Sample) -> str | None:
    """The 1-based list/csv line from an id ``"<image>@<line>"``."""
    tail = sample.id.rsplit("@", 1)[-1] if "@" in sample.id else ""
    return tail if tail.isdigit() else None


def _annotation(dataset: str | None, root: Path | None, split: str, sample: Sample) -> str | None:
    """Where the sample's annotation is: ``file:line``, a ``.pts`` file, or None (unknown)."""
    if dataset is None or root is None:
        return None
    line = _line_of(sample)
    if dataset == "wflw" and line:
        return f"{list_path(root, 'train' if split == 'train' else 'test')}:{line}"
    if dataset in ("300w-csv", "aflw") and line:
        files = W300_FILES if dataset == "300w-csv" else FILES
        return f"{root / files[split]}:{line}" if split in files else None
    if dataset == "300w" and sample.id:
        return str(root / f"{sample.id}.pts")
    if dataset == "300vw" and "video" in sample.attributes:
        number = int(sample.attributes.get("frame_number", 0))
        return str(root / str(sample.attributes["video"]) / "annot" / f"{number:06d}.pts")
    return None


def entry_names(
    samples: Sequence[Sample],
    split: str,
    dataset: str | None = None,
    root: str | os.PathLike | None = None,
) -> list[str]:
    """``"<split> <annotation> (image <file>)"`` of each sample; without ``dataset`` and
    ``root`` (or for COFW) the image location (:func:`otmark.datasets.check.sample_location`
    with the id) stands for the annotation."""
    base = Path(root) if root is not None else None
    out = []
    for s in samples:
        where = _annotation(dataset, base, split, s)
        image = sample_location(s, with_id=where is None)
        if where and base is not None and image.startswith(f"{base}{os.sep}"):
            image = image[len(str(base)) + 1 :]
        out.append(f"{split} {where} (image {image})" if where else f"{split} {image}")
    return out


# --- identity of an image ---------------------------------------------------------------------


def _is_video(sample: Sample) -> bool:
    return sample.image.frame is not None and sample.image.member is None


def _file_key(sample: Sample) -> tuple:
    """The image by file: the resolved path, plus the index inside a container file."""
    ref = sample.image
    path = os.path.realpath(ref.path)
    if ref.member is not None:
        return (path, ref.member, int(ref.frame or 0))
    return (path,)


#: ``(resolved path, size, mtime_ns) -> sha256``: each file is read once per process (a split
#: is compared with itself for duplicates and with the other splits for leaks)
_DIGESTS: dict[tuple[str, int, int], str] = {}


def _sha256_file(path: str) -> str | None:
    try:
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns)
        if key in _DIGESTS:
            return _DIGESTS[key]
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None  # a missing or unreadable file: the per-sample check names it
    _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def _sha256_member(sample: Sample) -> str | None:
    try:
        pixels = np.ascontiguousarray(sample.load_image())
    except Exception:  # noqa: BLE001 -- an unreadable cell: the per-sample check names it
        return None
    h = hashlib.sha256(str(pixels.shape).encode())
    h.update(pixels.tobytes())
    return h.hexdigest()


def content_keys(samples: Sequence[Sample], workers: int | None = None) -> list[tuple | None]:
    """The image of each sample by content: ``(sha256,)`` of its file (each file read once, on
    ``workers`` threads), ``(sha256 of the pixels,)`` for an image inside a container file;
    None when it cannot be read."""
    files = sorted({_file_key(s)[0] for s in samples if s.image.member is None})
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        digest = dict(zip(files, pool.map(_sha256_file, files), strict=True))
    out: list[tuple | None] = []
    for s in samples:
        if s.image.member is not None:
            d = _sha256_member(s)
        else:
            d = digest[_file_key(s)[0]]
        out.append(None if d is None else (d,))
    return out


def _landmark_box(lm: np.ndarray) -> np.ndarray | None:
    pts = np.asarray(lm, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if not len(pts):
        return None
    return np.concatenate([pts.min(axis=0), pts.max(axis=0)])


def same_face(a: Sample, b: Sample, min_iou: float = SAME_FACE_IOU) -> bool:
    """Whether two samples of one image are the same face: IoU of their landmark boxes
    ``>= min_iou`` (boxes of zero area: equal boxes)."""
    ba, bb = _landmark_box(a.landmarks), _landmark_box(b.landmarks)
    if ba is None or bb is None:
        return False
    w = min(ba[2], bb[2]) - max(ba[0], bb[0])
    h = min(ba[3], bb[3]) - max(ba[1], bb[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = np.prod(ba[2:] - ba[:2]) + np.prod(bb[2:] - bb[:2]) - inter
    if union <= 0:
        return bool(np.allclose(ba, bb))
    return inter / union >= min_iou


def _short(digest: str) -> str:
    return digest[:12]


# --- leaks ------------------------------------------------------------------------------------


def find_leaks(
    train: Sequence[Sample],
    test: Sequence[Sample],
    train_names: Sequence[str] | None = None,
    test_names: Sequence[str] | None = None,
    *,
    content: bool = True,
    workers: int | None = None,
) -> list[Finding]:
    """Faces of ``train`` that are also in ``test`` (see the module docstring).

    Args:
        train, test: the two splits.
        train_names, test_names: entry names (:func:`entry_names`; default: the image
            locations).
        content: also compare the images' content (reads every file; otherwise by file only).
    Returns:
        one :data:`LEAK` finding per shared face (per shared video), in training order.
    """
    train_names = list(train_names or entry_names(train, "train"))
    test_names = list(test_names or entry_names(test, "test"))
    keys = _keys(list(train) + list(test), content, workers)
    n = len(train)
    index: dict[tuple, list[int]] = {}
    for j in _first_of_each_video(test):
        for key in keys[n + j]:
            index.setdefault(key, []).append(j)
    found: list[Finding] = []
    seen_videos: set[tuple[str, str]] = set()
    for i in _first_of_each_video(train):
        s = train[i]
        hits: dict[int, tuple] = {}
        for key in keys[i]:
            for j in index.get(key, ()):
                hits.setdefault(j, key)
        for j, key in sorted(hits.items()):
            t = test[j]
            if _is_video(s) or _is_video(t):
                pair = (str(s.image.path), str(t.image.path))
                if pair in seen_videos:
                    continue
                seen_videos.add(pair)
                frames = sum(1 for u in train if str(u.image.path) == pair[0])
                why = _reason(key, s, t, "video") + f", {frames} annotated training frame(s)"
            elif not same_face(s, t):
                continue
            else:
                why = _reason(key, s, t, "image")
            found.append(Finding(LEAK, (train_names[i], test_names[j]), why))
    return found


def _first_of_each_video(samples: Sequence[Sample]) -> list[int]:
    """Indices of ``samples`` keeping one frame per video (a video leaks as a whole)."""
    seen: set[str] = set()
    out = []
    for i, s in enumerate(samples):
        if _is_video(s):
            path = str(s.image.path)
            if path in seen:
                continue
            seen.add(path)
        out.append(i)
    return out


def _keys(samples: Sequence[Sample], content: bool, workers: int | None) -> list[list[tuple]]:
    """Identity keys of each sample's image: by file, and by content when ``content``.

    Video frames are keyed by their video only (a leak is the video, whatever its frames).
    """
    by_content = content_keys(samples, workers) if content else [None] * len(samples)
    out = []
    for s, c in zip(samples, by_content, strict=True):
        keys = [("file",) + _file_key(s)]
        if c is not None:
            keys.append(("content",) + c)
        out.append(keys)
    return out


def _reason(key: tuple, a: Sample, b: Sample, what: str) -> str:
    """What two samples share (``key``: the identity key they have in common)."""
    if key[0] == "file":
        linked = str(a.image.path) != str(b.image.path)
        return f"same {what} file" + (f", both are {key[1]}" if linked else "")
    return f"same {what} content, sha256 {_short(key[1])}"


# --- duplicates -------------------------------------------------------------------------------


def find_duplicates(
    samples: Sequence[Sample],
    names: Sequence[str] | None = None,
    *,
    content: bool = True,
    workers: int | None = None,
) -> list[Finding]:
    """Samples repeated inside one split (see the module docstring): one :data:`DUPLICATE`
    finding per group of equal samples, naming the first and its repeats."""
    names = list(names or entry_names(samples, "split"))
    keys = _keys(samples, content, workers)
    parent = list(range(len(samples)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    how: dict[int, tuple] = {}
    first: dict[tuple, int] = {}
    for i, s in enumerate(samples):
        lm = np.round(np.asarray(s.landmarks, dtype=np.float64), DUPLICATE_DECIMALS)
        face = (lm.shape, lm.tobytes(), s.image.frame if _is_video(s) else None)
        for key in keys[i]:
            j = first.setdefault(key + face, i)
            if j != i and root(i) != root(j):
                a, b = sorted((root(i), root(j)))
                parent[b] = a
                how.setdefault(a, key)
    groups: dict[int, list[int]] = {}
    for i in range(len(samples)):
        groups.setdefault(root(i), []).append(i)
    found = []
    for r, members in sorted(groups.items()):
        if len(members) < 2:
            continue
        what = "video frame" if _is_video(samples[r]) else "image"
        why = _reason(how[r], samples[r], samples[members[1]], what) + " and landmarks"
        found.append(Finding(DUPLICATE, tuple(names[i] for i in members), why))
    return found


# --- the official splits of a dataset ---------------------------------------------------------


def covered_splits(dataset: str, splits: Iterable[str]) -> list[str]:
    """``splits`` without those contained in another of them (e.g. WFLW's ``test_pose`` when
    ``test`` is there): checking the container covers them."""
    chosen = list(splits)
    parts = PART_OF.get(dataset, {})
    return [s for s in chosen if parts.get(s) not in chosen]


def leak_pairs(dataset: str, splits: Iterable[str]) -> list[tuple[str, str]]:
    """``(training split, test split)`` pairs to check among ``splits`` (the training split
    against each test split that no other of ``splits`` contains)."""
    chosen = covered_splits(dataset, splits)
    train = TRAINING_SPLIT.get(dataset, "train")
    if train not in chosen:
        return []
    return [(train, s) for s in chosen if s != train]


def screen_leaks(
    train: Sequence[Sample],
    val: Sequence[Sample] | None,
    *,
    train_split: str = "train",
    val_split: str | None = None,
    dataset: str | None = None,
    root: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    content: bool = True,
) -> list[Finding]:
    """The check before training: duplicates of the training split are logged (``warning:``
    lines); a face of the training split that is also in the validation split raises
    :class:`DatasetError` naming both entries (skipped when both are the same split).

    Returns the duplicate findings.
    """
    names = entry_names(train, train_split, dataset, root)
    duplicates = find_duplicates(train, names, content=content)
    for finding in duplicates:
        log(f"warning: {finding.message}")
    if val is not None and val_split != train_split:
        val_names = entry_names(val, val_split or "validation", dataset, root)
        leaks = find_leaks(train, val, names, val_names, content=content)
        if leaks:
            more = f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""
            raise DatasetError(
                str(root or "training data"),
                f"{leaks[0].message}{more}: the validation split {val_split!r} shares "
                f"{len(leaks)} face(s) with the training split {train_split!r}; "
                "remove them from one of the splits",
            )
    return duplicates


def screen_data_leaks(
    train: Sequence[Sample], val: Sequence[Sample] | None, data, log: Callable[[str], None]
) -> list[Finding]:
    """:func:`screen_leaks` with the splits, dataset and root of a training config's ``data``
    section (attributes ``train_split``, ``val_split``, ``dataset``, ``root``)."""
    return screen_leaks(
        train,
        val,
        train_split=data.train_split,
        val_split=data.val_split,
        dataset=data.dataset,
        root=data.root,
        log=log,
    )

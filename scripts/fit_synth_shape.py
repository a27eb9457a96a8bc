"""Fit the face model's base proportions to real 68-point annotations and compare the variation.

    python scripts/fit_synth_shape.py --faces DIR [--write]

``DIR`` holds dlib's ``examples/faces`` folder (``training_with_face_landmarks.xml`` and
``testing_with_face_landmarks.xml``: 43 faces in PASCAL VOC photographs with 68 iBUG-scheme
points from dlib's shape predictor). It is fetched from Debian's ``dlib`` source package (see
docs/synth.md) and never committed. The script

1. aligns the real shapes (generalised Procrustes: similarity transforms to their mean, outer eye
   corners at (-0.5, 0) and (0.5, 0)), and symmetrises the mean with the scheme's flip pairs;
2. fits the fields of :class:`otmark.synth.face_model.Proportions` (all but the scale
   ``eye_outer`` and the unobservable ``brow_thick``) by least squares, so that the frontal
   face, projected and similarity-aligned, matches that mean; the real faces' mean expression
   (mouths are often open or smiling) is fitted jointly as ``mouth_open`` and ``smile`` and
   not stored;
3. prints the fitted values (``--write`` prints them as the Python literal to paste into
   ``PROPORTIONS``), the NME of the neutral face to the real mean before and after, per region;
4. compares the variation: PCA eigenvalues of the aligned real shapes next to those of
   generated 300W-domain faces, and the head poses of the real faces (``cv2.solvePnP`` with the
   fitted 3-D neutral face) next to the 300W domain's pose distribution.

No landmark of any real face is written anywhere; only these summary numbers are printed.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from dataclasses import asdict, fields, replace
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import least_squares

from otmark.schemes import get_scheme
from otmark.synth.camera import Camera, Pose, project
from otmark.synth.domains import get_domain
from otmark.synth.face_model import (
    PROPORTIONS,
    Expression,
    Face,
    Identity,
    Proportions,
    sample_scheme,
)
from otmark.synth.generate import sample_scene

XMLS = ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml")
FIXED = ("eye_outer", "brow_thick")
REGIONS = {
    "jaw": range(0, 17),
    "brows": range(17, 27),
    "nose": range(27, 36),
    "eyes": range(36, 48),
    "mouth": range(48, 68),
}


def load_faces(folder: Path) -> np.ndarray:
    """``(N, 68, 2)`` landmarks of every box of dlib's two landmark XML files."""
    shapes = []
    for name in XMLS:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (dlib's examples/faces, see docs/synth.md)")
        for box in ET.parse(path).getroot().iter("box"):
            parts = sorted((int(p.get("name")), float(p.get("x")), float(p.get("y"))) for p in box)
            if len(parts) != 68:
                raise ValueError(f"{path}: a box with {len(parts)} parts instead of 68")
            shapes.append([[x, y] for _, x, y in parts])
    return np.asarray(shapes, dtype=np.float64)


def to_eye_frame(s: np.ndarray) -> np.ndarray:
    """Similarity transform putting the outer eye corners (36, 45) at (-0.5, 0), (0.5, 0)."""
    a, b = s[36], s[45]
    d = b - a
    ang = -np.arctan2(d[1], d[0])
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    return (s - (a + b) / 2) @ rot.T / np.linalg.norm(d)


def align(s: np.ndarray, ref: np.ndarray, idx=None) -> np.ndarray:
    """``s`` similarity-aligned to ``ref`` (least squares over the points ``idx``)."""
    idx = np.arange(len(s)) if idx is None else np.asarray(idx)
    ms, mr = s[idx].mean(0), ref[idx].mean(0)
    a, b = s[idx] - ms, ref[idx] - mr
    u, sig, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, d]) @ vt
    scale = (sig * np.array([1.0, d])).sum() / (a**2).sum()
    return (s - ms) @ rot * scale + mr


def procrustes_mean(shapes: np.ndarray, iters: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Generalised Procrustes: ``(mean (68, 2), aligned (N, 68, 2))``, mean in the eye frame."""
    ref = to_eye_frame(shapes[0])
    for _ in range(iters):
        aligned = np.array([align(s, ref) for s in shapes])
        ref = to_eye_frame(aligned.mean(0))
    return ref, np.array([align(s, ref) for s in shapes])


def symmetrise(mean: np.ndarray) -> np.ndarray:
    perm = get_scheme("300w").flip_permutation
    mirrored = mean[perm] * np.array([-1.0, 1.0])
    return to_eye_frame(0.5 * (mean + mirrored))


def neutral_2d(prop: Proportions, expression: Expression | None = None) -> np.ndarray:
    """Frontal 68 points of the average identity (neutral unless ``expression``), projected
    (eye frame)."""
    cam = Camera(focal=1000.0, cx=0.0, cy=0.0, distance=9.5)
    pts = sample_scheme(Face(Identity(), expression or Expression(), prop), "300w")
    return to_eye_frame(project(pts, Pose(), cam))


def nme(a: np.ndarray, b: np.ndarray, idx=None) -> float:
    """Mean point distance over ``idx`` in units of the outer-eye-corner distance of ``b``."""
    idx = np.arange(len(a)) if idx is None else np.asarray(idx)
    iod = np.linalg.norm(b[36] - b[45])
    return float(np.linalg.norm(a[idx] - b[idx], axis=1).mean() / iod)


def fit(target: np.ndarray, start: Proportions) -> tuple[Proportions, Expression]:
    """Least-squares fit of the proportions, jointly with the real set's mean expression
    (``mouth_open`` and ``smile``: a nuisance, not stored), to the aligned ``target (68, 2)``."""
    names = [f.name for f in fields(Proportions) if f.name not in FIXED]
    x0 = np.array([getattr(start, n) for n in names] + [0.1, 0.1])
    scale = np.maximum(np.abs(x0), 0.02)

    def make(x):
        prop = replace(start, **dict(zip(names, (float(v) for v in x[:-2]))))
        return prop, Expression(mouth_open=float(x[-2]), smile=float(x[-1]))

    def residual(x):
        g = align(neutral_2d(*make(x)), target)
        reg = 0.02 * (x - x0) / scale  # a weak pull to the start where the data says little
        return np.concatenate([(g - target).ravel(), reg[:-2]])

    lo = np.where(x0 > 0, 0.4 * x0, x0 - 0.3)
    hi = np.where(x0 > 0, 2.0 * x0 + 0.02, x0 + 0.3)
    k = names.index("jaw_power")
    lo[k], hi[k] = 1.2, 4.0
    lo[-2:], hi[-2:] = (0.0, -0.5), (1.0, 1.0)
    res = least_squares(residual, x0, bounds=(lo, hi), x_scale=scale)
    return make(res.x)


def pca_eigenvalues(aligned: np.ndarray, mean: np.ndarray, n: int = 6) -> np.ndarray:
    x = (aligned - mean).reshape(len(aligned), -1)
    x = x - x.mean(0)
    return np.linalg.svd(x, compute_uv=False)[:n] ** 2 / max(len(aligned) - 1, 1)


def generated_shapes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` generated 300W-domain 68-point shapes ``(n, 68, 2)`` and their poses ``(n, 3)``."""
    from otmark.synth.camera import annotate

    rng = np.random.default_rng(seed)
    dom = get_domain("300w")
    shapes, poses = [], []
    for _ in range(n):
        sc = sample_scene(dom, rng, "300w", (256, 256))
        uv, _ = annotate(sc.face, "300w", sc.pose, sc.camera)
        shapes.append(uv)
        poses.append([sc.pose.yaw, sc.pose.pitch, sc.pose.roll])
    return np.array(shapes), np.array(poses)


def head_poses(shapes: np.ndarray, prop: Proportions) -> np.ndarray:
    """``(N, 3)`` yaw, pitch, roll (degrees, otmark's signs) of each real shape from
    ``cv2.solvePnP`` with the neutral 3-D face (focal = 4 x the face width, a typical photo)."""
    model = sample_scheme(Face(Identity(), Expression(), prop), "300w")
    # camera frame of otmark: X right, Y down, Z away from the camera (z flips)
    obj = model * np.array([1.0, 1.0, -1.0])
    out = []
    for s in shapes:
        w = np.ptp(s[:, 0])
        k = np.array([[4 * w, 0, s[:, 0].mean()], [0, 4 * w, s[:, 1].mean()], [0, 0, 1]])
        ok, rvec, _ = cv2.solvePnP(obj, s, k, None, flags=cv2.SOLVEPNP_ITERATIVE)
        if not ok:
            continue
        r, _ = cv2.Rodrigues(rvec)
        # otmark applies R = Rz(roll) Rx(pitch) Ry(yaw) to head points, then flips z: the
        # camera-frame rotation is M R M with M = diag(1, 1, -1)
        m = np.diag([1.0, 1.0, -1.0])
        rh = m @ r @ m
        yaw = np.degrees(np.arcsin(np.clip(-rh[2, 0] / np.cos(np.arcsin(rh[2, 1])), -1, 1)))
        pitch = np.degrees(np.arcsin(np.clip(-rh[2, 1], -1, 1)))
        roll = np.degrees(np.arctan2(-rh[0, 1], rh[1, 1]))
        out.append([yaw, pitch, roll])
    return np.array(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=Path, required=True, help="dlib's examples/faces folder")
    ap.add_argument("--start", choices=["current", "defaults"], default="defaults")
    ap.add_argument("--write", action="store_true", help="print the fitted PROPORTIONS literal")
    args = ap.parse_args(argv)
    np.set_printoptions(precision=4, suppress=True)

    shapes = load_faces(args.faces)
    mean, aligned = procrustes_mean(shapes)
    target = symmetrise(mean)
    start = Proportions() if args.start == "defaults" else PROPORTIONS
    fitted, mean_expr = fit(target, start)
    print(f"{len(shapes)} real faces; NME of the frontal average face to the real mean shape")
    print(f"(real set's fitted mean expression: mouth_open {mean_expr.mouth_open:.3f}, ")
    print(f" smile {mean_expr.smile:.3f}; 'neutral' columns use the neutral expression)")
    cols = [
        ("start", start, mean_expr),
        ("fitted", fitted, mean_expr),
        ("current", PROPORTIONS, mean_expr),
        ("start-n", start, None),
        ("fitted-n", fitted, None),
    ]
    print(f"{'region':<8} " + " ".join(f"{c[0]:>9}" for c in cols))
    rows = {"all 68": None, **{k: list(v) for k, v in REGIONS.items()}}
    for name, idx in rows.items():
        vals = [nme(align(neutral_2d(p, e), target), target, idx) for _, p, e in cols]
        print(f"{name:<8} " + " ".join(f"{100 * v:>8.2f}%" for v in vals))

    print("\nfitted proportions (start -> fitted):")
    for f in fields(Proportions):
        a, b = getattr(start, f.name), getattr(fitted, f.name)
        print(f"  {f.name:<15} {a:>8.4f} -> {b:>8.4f}")
    if args.write:
        body = ", ".join(f"{k}={round(v, 4)}" for k, v in asdict(fitted).items())
        print(f"\nPROPORTIONS = Proportions({body})")

    gen, gen_pose = generated_shapes(300)
    gen_mean, gen_aligned = procrustes_mean(gen)
    print("\nvariation: PCA eigenvalues of aligned shapes (eye-frame units^2, x 1e-3)")
    print("  real      ", 1e3 * pca_eigenvalues(aligned, mean))
    print("  generated ", 1e3 * pca_eigenvalues(gen_aligned, gen_mean))
    tot_r = ((aligned - mean) ** 2).sum((1, 2)).mean()
    tot_g = ((gen_aligned - gen_mean) ** 2).sum((1, 2)).mean()
    print(f"  total variance: real {tot_r:.4f}, generated {tot_g:.4f} (ratio {tot_g / tot_r:.2f})")
    print(f"  NME generated 300W mean vs real mean: {100 * nme(gen_mean, target):.2f}%")

    poses = head_poses(shapes, fitted)
    print("\nhead pose (degrees): sd and max |angle|     yaw    pitch   roll")
    print("  real (solvePnP)    sd ", np.std(poses, axis=0), " max ", np.abs(poses).max(0))
    print("  generated 300W     sd ", np.std(gen_pose, axis=0), " max ", np.abs(gen_pose).max(0))
    return 0


if __name__ == "__main__":
    sys.exit(main())

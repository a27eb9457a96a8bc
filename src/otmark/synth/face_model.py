"""A parametric 3-D face made of named curves, and the sampling of every landmark scheme from it.

Head frame (units: roughly the outer-eye-corner distance = 1): ``x`` points to the image's right
on a frontal face (so the subject's **right** side has ``x < 0``), ``y`` points down, ``z`` points
towards the camera. The origin is between the eyes, on the eye line.

Every curve is a function ``t -> (x, y, z)`` with ``t`` in ``[0, 1]`` running **from the image's
left to its right** on a frontal face (from the subject's right to their left). Names use the
subject's sides, as :mod:`otmark.schemes` does (``right_*`` = image left):

===================  ============================================================================
curve                what it is
===================  ============================================================================
``jaw``              face contour from the right ear level, through the chin (t=0.5), to the left
``forehead``         upper outline from the left temple over the top to the right one (render only)
``{s}_brow_upper``   upper brow contour (shares both end points with the lower contour)
``{s}_brow_lower``   lower brow contour
``{s}_eye_upper``    upper lid, corner to corner (the outer corner of the right eye is t=0)
``{s}_eye_lower``    lower lid, same end points
``nose_bridge``      nasion (t=0) to nose tip (t=1)
``nose_base``        right wing (t=0), subnasale (t=0.5), left wing (t=1)
``lip_outer_upper``  outer upper-lip contour, mouth corner to mouth corner
``lip_outer_lower``  outer lower-lip contour
``lip_inner_upper``  inner upper-lip contour, inner corner to inner corner
``lip_inner_lower``  inner lower-lip contour
===================  ============================================================================

Points: ``{s}_pupil`` (``s`` in ``right``/``left``).

Scheme sampling goes by the schemes' **point names** (:mod:`otmark.schemes`), so a point that
two schemes share (e.g. ``right_eye_outer``) is the very same 3-D point in both. Where two schemes
give one name different positions, the position follows each scheme's published meaning:

* eyelids: a scheme with three points per lid (``*_eye_upper_mid`` exists, WFLW) samples them at
  1/4, 1/2, 3/4 of the lid; a scheme with two (iBUG-68) at 1/3, 2/3; COFW's single
  ``*_eye_upper``/``*_eye_lower`` at 1/2. This is the documented difference between the 98->68
  eyelid selection and a true 68-point annotation (``docs/conventions.md`` §5).
* ``*_brow_centre``: AFLW's brow centre is the middle of the brow (between the contours); in the
  paper's 17-point scheme, a selection of iBUG-68, it is the upper-contour midpoint (68's 19/24).
* ``mouth_centre``: AFLW's is the midpoint between the inner lips; the 17-point scheme's is the
  inner lower-lip midpoint (68's 66).
* ``*_eye_centre`` (AFLW) is the pupil.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import numpy as np

from otmark.schemes import get_scheme

SIDES = ("right", "left")


@dataclass(frozen=True)
class Identity:
    """Shape of one person (1.0 = average; ranges in :meth:`sample`)."""

    face_width: float = 1.0
    face_length: float = 1.0
    jaw_square: float = 0.4  # 0 = round (ellipse), 1 = square jaw
    eye_size: float = 1.0
    eye_spacing: float = 1.0
    eye_height: float = 1.0
    eye_tilt: float = 0.0  # canthal tilt: > 0 raises the outer corners
    nose_length: float = 1.0
    nose_width: float = 1.0
    nose_depth: float = 1.0
    mouth_width: float = 1.0
    lip_thickness: float = 1.0
    brow_height: float = 1.0
    brow_thickness: float = 1.0
    asym: float = 0.0  # left/right asymmetry: shifts the left eye and brow vertically

    @staticmethod
    def sample(rng: np.random.Generator, spread: float = 1.0) -> Identity:
        """A random identity; ``spread`` scales every deviation from the average."""

        def u(lo: float, hi: float, mid: float = 1.0) -> float:
            return float(mid + spread * (rng.uniform(lo, hi) - mid))

        return Identity(
            face_width=u(0.86, 1.14),
            face_length=u(0.88, 1.14),
            jaw_square=float(np.clip(0.4 + spread * (rng.uniform(0.0, 1.0) - 0.4), 0, 1)),
            eye_size=u(0.85, 1.15),
            eye_spacing=u(0.92, 1.08),
            eye_height=u(0.8, 1.2),
            eye_tilt=u(-0.6, 1.0, 0.0),
            nose_length=u(0.86, 1.14),
            nose_width=u(0.85, 1.25),
            nose_depth=u(0.8, 1.2),
            mouth_width=u(0.85, 1.15),
            lip_thickness=u(0.7, 1.35),
            brow_height=u(0.85, 1.2),
            brow_thickness=u(0.7, 1.5),
            asym=u(-1.0, 1.0, 0.0),
        )


@dataclass(frozen=True)
class Expression:
    """Facial expression; the neutral face is all zeros.

    ``mouth_open`` in [0, 1]; ``smile`` in [-0.5, 1] (negative: corners down); ``brow_raise`` in
    [-1, 1] (negative: frown); ``eye_closure_*`` in [0, 1] (1 = closed); ``gaze_x``/``gaze_y`` in
    [-1, 1] (pupil offset, image directions).
    """

    mouth_open: float = 0.0
    smile: float = 0.0
    brow_raise: float = 0.0
    eye_closure_right: float = 0.0
    eye_closure_left: float = 0.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0

    @staticmethod
    def sample(rng: np.random.Generator, strength: float = 1.0) -> Expression:
        """A random expression; ``strength`` in [0, 1] scales how far from neutral it goes."""
        s = float(strength)
        closure = s * rng.beta(0.6, 3.0)
        wink = rng.random() < 0.08 * s
        return Expression(
            mouth_open=float(s * rng.beta(0.7, 2.0)),
            smile=float(s * rng.uniform(-0.5, 1.0)),
            brow_raise=float(s * rng.uniform(-1.0, 1.0)),
            eye_closure_right=float(1.0 if wink else closure),
            eye_closure_left=float(closure),
            gaze_x=float(rng.uniform(-0.7, 0.7)),
            gaze_y=float(rng.uniform(-0.4, 0.4)),
        )

    def lerp(self, other: Expression, a: float) -> Expression:
        """Linear blend ``(1 - a) * self + a * other``."""
        d0, d1 = asdict(self), asdict(other)
        return Expression(**{k: (1 - a) * d0[k] + a * d1[k] for k in d0})


@dataclass(frozen=True)
class Proportions:
    """Base measurements of the average face (head units), before identity and expression.

    The values of :data:`PROPORTIONS` are fitted to real 68-point annotations (see
    :data:`PROPORTIONS`); :class:`Face` takes another instance only for fitting and tests.
    ``eye_outer`` (the outer eye corner's ``|x|``) fixes the scale and is not fitted.
    """

    eye_outer: float = 0.47  # |x| of the outer eye corner (scale: corners ~0.94 apart)
    eye_hw: float = 0.15  # half width of the eye opening
    eye_hu: float = 0.062  # upper-lid height above the corner line
    eye_hl: float = 0.040  # lower-lid depth below the corner line
    eye_inner_dy: float = 0.012  # inner corner below the outer corner
    nasion_y: float = -0.02  # top of the nose bridge
    nose_tip_y: float = 0.42
    nose_base_y: float = 0.50
    nose_hw: float = 0.13  # half width at the wings
    nose_wing_lift: float = 0.035  # wings above the subnasale
    mouth_gap: float = 0.25  # subnasale -> mouth line
    mouth_hw: float = 0.27
    lip_upper: float = 0.07  # upper-lip height at its middle
    lip_lower: float = 0.085  # lower-lip height at its middle
    jaw_hw: float = 0.80  # half width of the face at the jaw's top
    jaw_top_y: float = -0.02  # height of the jaw contour's end points
    chin_gap: float = 0.44  # mouth line -> chin
    jaw_power: float = 2.0  # superellipse exponent of a round jaw (jaw_square = 0)
    chin_narrow: float = 0.18  # how much the chin is narrower than the superellipse
    brow_outer_x: float = 0.58
    brow_inner_x: float = 0.12
    brow_y: float = -0.20  # brow line height at the outer end
    brow_inner_dy: float = 0.03  # inner end below the outer end
    brow_arch: float = 0.055
    brow_thick: float = 0.05


#: Base proportions fitted by ``python scripts/fit_synth_shape.py --faces DIR --write`` (start:
#: the class defaults) to the generalised-Procrustes mean of dlib's 43 ``examples/faces``
#: shapes (68 points, symmetrised), with that set's mean expression fitted jointly as a
#: nuisance (mouth_open 0.53, smile -0.43). NME of the average face to the real mean (outer
#: eye corners): 5.33 % before -> 2.03 % after (3.74 % for the neutral expression). Only these
#: summary constants are stored, no real landmarks.
PROPORTIONS = Proportions(
    eye_outer=0.47,
    eye_hw=0.1319,
    eye_hu=0.0506,
    eye_hl=0.0231,
    eye_inner_dy=0.007,
    nasion_y=-0.0288,
    nose_tip_y=0.3531,
    nose_base_y=0.4745,
    nose_hw=0.1583,
    nose_wing_lift=0.0448,
    mouth_gap=0.2093,
    mouth_hw=0.3012,
    lip_upper=0.0565,
    lip_lower=0.0865,
    jaw_hw=0.8856,
    jaw_top_y=-0.0109,
    chin_gap=0.495,
    jaw_power=1.281,
    chin_narrow=0.072,
    brow_outer_x=0.65,
    brow_inner_x=0.1463,
    brow_y=-0.1924,
    brow_inner_dy=0.012,
    brow_arch=0.0831,
    brow_thick=0.05,
)


def _sin(t: np.ndarray) -> np.ndarray:
    return np.sin(np.pi * np.clip(t, 0.0, 1.0))


def _stack(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1).astype(np.float64)


def _cheek_depth(x: np.ndarray) -> np.ndarray:
    """Depth of the face surface across the eye/mouth lines (the face is curved sideways)."""
    return -0.32 * x**2


class Face:
    """One face (identity + expression) as named 3-D curves.

    ``face.curve(name, t)`` returns ``(len(t), 3)`` head-frame points; ``face.point(name)`` a
    ``(3,)`` point. All measurements below are in head units (see the module docstring).
    """

    def __init__(
        self,
        identity: Identity,
        expression: Expression | None = None,
        proportions: Proportions = PROPORTIONS,
    ) -> None:
        self.identity = identity
        self.expression = expression if expression is not None else Expression()
        self.prop = pr = proportions
        i, e = self.identity, self.expression
        # key measurements
        self.eye_cx = (pr.eye_outer - pr.eye_hw) * i.eye_spacing
        self.eye_hw = pr.eye_hw * i.eye_size
        self.eye_hu = pr.eye_hu * i.eye_size * i.eye_height
        self.eye_hl = pr.eye_hl * i.eye_size * i.eye_height
        self.iris_r = 0.41 * pr.eye_hw * i.eye_size
        self.nose_tip_y = pr.nose_tip_y * i.nose_length
        self.nose_base_y = pr.nose_base_y * i.nose_length
        self.nose_hw = pr.nose_hw * i.nose_width
        self.mouth_y = self.nose_base_y + pr.mouth_gap * i.face_length
        self.mouth_hw = pr.mouth_hw * i.mouth_width * (1 + 0.12 * max(e.smile, 0.0))
        self.open_drop = 0.24 * e.mouth_open
        self.jaw_hw = pr.jaw_hw * i.face_width
        self.jaw_top_y = pr.jaw_top_y
        self.chin_y = self.mouth_y + pr.chin_gap * i.face_length + 0.6 * self.open_drop
        self.head_top_y = -1.0 * (0.9 + 0.1 * i.face_length)
        self._points: dict[str, np.ndarray] = {}
        self._curves: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "jaw": self._jaw,
            "forehead": self._forehead,
            "nose_bridge": self._nose_bridge,
            "nose_base": self._nose_base,
            "lip_outer_upper": lambda t: self._lip(t, "outer_upper"),
            "lip_outer_lower": lambda t: self._lip(t, "outer_lower"),
            "lip_inner_upper": lambda t: self._lip(t, "inner_upper"),
            "lip_inner_lower": lambda t: self._lip(t, "inner_lower"),
        }
        for side in SIDES:
            for part in ("upper", "lower"):
                self._curves[f"{side}_brow_{part}"] = self._make(self._brow, side, part)
                self._curves[f"{side}_eye_{part}"] = self._make(self._eye, side, part)

    @staticmethod
    def _make(fn, side: str, part: str) -> Callable[[np.ndarray], np.ndarray]:
        return lambda t: fn(t, side, part)

    # -- public -------------------------------------------------------------------------------
    @property
    def curve_names(self) -> tuple[str, ...]:
        return tuple(self._curves)

    def curve(self, name: str, t) -> np.ndarray:
        """Points of curve ``name`` at parameters ``t``: ``(n,)`` -> ``(n, 3)``."""
        try:
            fn = self._curves[name]
        except KeyError:
            raise KeyError(
                f"unknown face curve {name!r}; known: {', '.join(self._curves)}"
            ) from None
        return fn(np.atleast_1d(np.asarray(t, dtype=np.float64)))

    def point(self, name: str) -> np.ndarray:
        """A named single point: ``{side}_pupil``, ``nose_tip``, ``chin`` -> ``(3,)``."""
        if name not in self._points:
            p = self._point(name)
            p.setflags(write=False)
            self._points[name] = p
        return self._points[name]

    def _point(self, name: str) -> np.ndarray:
        if name.endswith("_pupil"):
            return self._pupil(name.split("_")[0])
        if name == "nose_tip":
            return self.curve("nose_bridge", [1.0])[0]
        if name == "chin":
            return self.curve("jaw", [0.5])[0]
        raise KeyError(f"unknown face point {name!r}")

    def eye_openness(self, side: str) -> float:
        e = self.expression
        return 1.0 - float(e.eye_closure_right if side == "right" else e.eye_closure_left)

    # -- curves -------------------------------------------------------------------------------
    def _side_sign(self, side: str) -> float:
        return -1.0 if side == "right" else 1.0

    def _side_dy(self, side: str) -> float:
        return 0.012 * self.identity.asym * (1.0 if side == "left" else -1.0)

    def _jaw(self, t: np.ndarray) -> np.ndarray:
        i = self.identity
        p = self.prop.jaw_power + 2.2 * i.jaw_square
        phi = np.pi * t
        c, s = np.cos(phi), np.abs(np.sin(phi))
        x = -self.jaw_hw * np.sign(c) * np.abs(c) ** (2 / p)
        yr = s ** (2 / p)
        chin0 = self.chin_y - 0.6 * self.open_drop
        y = self.jaw_top_y + (chin0 - self.jaw_top_y) * yr + 0.6 * self.open_drop * yr**3
        # the chin is narrower than the superellipse: pull the lower part inwards
        x = x * (1 - self.prop.chin_narrow * yr**4)
        z = -0.58 + 0.64 * yr**1.6
        return _stack(x, y, z)

    def _forehead(self, t: np.ndarray) -> np.ndarray:
        a = np.pi * t  # 0: subject's right temple (x<0) ... 1: left temple
        x = -self.jaw_hw * 1.02 * np.cos(a)
        y = self.jaw_top_y + (self.head_top_y - self.jaw_top_y) * np.sin(a) ** 0.8
        z = -0.58 + 0.42 * np.sin(a)
        return _stack(x, y, z)

    def _brow(self, t: np.ndarray, side: str, part: str) -> np.ndarray:
        i, e, pr = self.identity, self.expression, self.prop
        sg = self._side_sign(side)
        s = t if side == "right" else 1.0 - t  # 0 at the outer end, 1 at the inner end
        x_out = sg * (pr.brow_outer_x * i.eye_spacing + 0.04 * (i.face_width - 1))
        x_in = sg * pr.brow_inner_x * i.eye_spacing
        x = x_out + (x_in - x_out) * s
        raise_ = 0.075 * e.brow_raise
        frown = 0.05 * max(-e.brow_raise, 0.0) * s
        base = (
            pr.brow_y * i.brow_height - raise_ + frown + self._side_dy(side) + pr.brow_inner_dy * s
        )
        y = base - pr.brow_arch * np.sin(np.pi * np.clip(s, 0, 1) ** 0.75)
        if part == "lower":
            th = pr.brow_thick * i.brow_thickness * (0.6 + 0.4 * s)
            y = y + th * _sin(s) ** 0.6
        z = 0.05 + _cheek_depth(x) + 0.02 * _sin(s)
        return _stack(x, y, z)

    def _eye(self, t: np.ndarray, side: str, part: str) -> np.ndarray:
        i = self.identity
        sg = self._side_sign(side)
        s = t if side == "right" else 1.0 - t  # 0 at the outer corner, 1 at the inner corner
        cx = sg * self.eye_cx
        x_out, x_in = cx + sg * self.eye_hw, cx - sg * self.eye_hw
        x = x_out + (x_in - x_out) * s
        y_out = -0.025 * i.eye_tilt + self._side_dy(side)
        y_in = self.prop.eye_inner_dy + self._side_dy(side)
        base = y_out + (y_in - y_out) * s
        smile_push = 0.012 * max(self.expression.smile, 0.0)
        lower = base + (self.eye_hl - smile_push) * _sin(s**1.1)
        if part == "lower":
            y = lower
        else:
            op = self.eye_openness(side)
            y = lower - (self.eye_hl - smile_push + self.eye_hu) * op * _sin(s**0.9) ** 0.85
        z = 0.0 + _cheek_depth(x) + 0.035 * _sin(s)
        return _stack(x, y, z)

    def _pupil(self, side: str) -> np.ndarray:
        e = self.expression
        sg = self._side_sign(side)
        x = sg * self.eye_cx + e.gaze_x * 0.35 * self.eye_hw
        upper = self._eye(np.array([0.5]), side, "upper")[0]
        lower = self._eye(np.array([0.5]), side, "lower")[0]
        y = 0.5 * (upper[1] + lower[1]) + e.gaze_y * 0.25 * self.eye_hu
        z = 0.05 + _cheek_depth(x)
        return np.array([x, y, z], dtype=np.float64)

    def _nose_bridge(self, t: np.ndarray) -> np.ndarray:
        i = self.identity
        y0 = self.prop.nasion_y
        y = y0 + (self.nose_tip_y - y0) * t
        z = 0.05 + 0.25 * i.nose_depth * t**1.3 + 0.02 * _sin(t)
        return _stack(np.zeros_like(t), y, z)

    def _nose_base(self, t: np.ndarray) -> np.ndarray:
        i = self.identity
        u = 2.0 * t - 1.0  # -1 right wing, 0 subnasale, 1 left wing
        x = self.nose_hw * u
        y = self.nose_base_y - self.prop.nose_wing_lift * i.nose_length * u**2 + 0.015
        z = 0.17 * i.nose_depth - 0.08 * i.nose_depth * u**2
        return _stack(x, y, z)

    def _lip(self, t: np.ndarray, part: str) -> np.ndarray:
        i, e = self.identity, self.expression
        hw = self.mouth_hw * (0.9 if part.startswith("inner") else 1.0)
        x = hw * (2.0 * t - 1.0)
        s = _sin(t)
        corner_lift = (0.05 * e.smile) * (1 - s**0.5)
        y0 = self.mouth_y - corner_lift
        lt = i.lip_thickness
        open_ = self.open_drop
        if part == "outer_upper":
            bow = 0.014 * lt * np.exp(-(((t - 0.5) / 0.09) ** 2))
            y = y0 - self.prop.lip_upper * lt * s**0.55 + bow - 0.12 * open_ * s
        elif part == "inner_upper":
            y = y0 - 0.004 * s - 0.12 * open_ * s
        elif part == "inner_lower":
            y = y0 + 0.004 * s + open_ * s**0.8
        else:  # outer_lower
            y = y0 + self.prop.lip_lower * lt * s**0.7 + open_ * s**0.8
        z = 0.11 + _cheek_depth(x) * 1.3 + 0.035 * s
        return _stack(x, y, z)


# -- scheme sampling ----------------------------------------------------------------------------

#: a point spec: the mean of one or more ``(curve name, t)`` or ``(point name, None)`` references
PointSpec = tuple[tuple[str, float | None], ...]


def _brow_t(side: str, s: float) -> float:
    """Curve parameter of the brow point at fraction ``s`` from the outer end."""
    return s if side == "right" else 1.0 - s


def _eye_t(side: str, s: float) -> float:
    """Curve parameter of the eyelid point at fraction ``s`` from the outer corner."""
    return s if side == "right" else 1.0 - s


def point_spec(name: str, scheme) -> PointSpec:
    """Where point ``name`` of ``scheme`` lies on the face model (see the module docstring).

    Args:
        name: a point name of ``scheme`` (``otmark.schemes`` naming).
        scheme: the :class:`otmark.schemes.LandmarkScheme` (its other points decide, e.g., how
            many points share an eyelid, and how many the contour has).
    Raises:
        KeyError naming the scheme and point when the face model has no such point.
    """
    names = scheme.point_names
    has = set(names)
    parts = name.split("_")
    side = parts[0] if parts[0] in SIDES else None

    if name == "chin":
        return (("jaw", 0.5),)
    if name.startswith("jaw_"):
        contour = [n for n in names if n.startswith("jaw_") or n == "chin"]
        k = contour.index(name)
        return (("jaw", k / (len(contour) - 1)),)
    if side is not None and name.endswith("_pupil"):
        return ((f"{side}_pupil", None),)
    if side is not None and parts[1] == "brow":
        rest = "_".join(parts[2:])
        up, lo = f"{side}_brow_upper", f"{side}_brow_lower"
        fixed = {"outer": 0.0, "outer_mid": 0.25, "top": 0.5, "inner_mid": 0.75, "inner": 1.0}
        if rest in fixed:
            return ((up, _brow_t(side, fixed[rest])),)
        if rest == "bottom":
            return ((lo, _brow_t(side, 0.5)),)
        if rest == "centre":
            if scheme.name == "17":  # a selection of iBUG-68: the upper-contour midpoint
                return ((up, _brow_t(side, 0.5)),)
            return ((up, _brow_t(side, 0.5)), (lo, _brow_t(side, 0.5)))
        if parts[2] in ("upper", "lower") and parts[3].isdigit():
            k = int(parts[3])
            n_up = sum(1 for n in names if n.startswith(f"{side}_brow_upper_"))
            n_lo = sum(1 for n in names if n.startswith(f"{side}_brow_lower_"))
            if parts[2] == "upper":
                return ((up, _brow_t(side, k / (n_up - 1))),)
            return ((lo, _brow_t(side, (k + 1) / (n_lo + 1))),)
    if side is not None and parts[1] == "eye":
        rest = "_".join(parts[2:])
        up, lo = f"{side}_eye_upper", f"{side}_eye_lower"
        three = f"{side}_eye_upper_mid" in has
        a, b = (0.25, 0.75) if three else (1 / 3, 2 / 3)
        table = {
            "outer": ((up, _eye_t(side, 0.0)),),
            "inner": ((up, _eye_t(side, 1.0)),),
            "upper_outer": ((up, _eye_t(side, a)),),
            "upper_mid": ((up, _eye_t(side, 0.5)),),
            "upper_inner": ((up, _eye_t(side, b)),),
            "lower_outer": ((lo, _eye_t(side, a)),),
            "lower_mid": ((lo, _eye_t(side, 0.5)),),
            "lower_inner": ((lo, _eye_t(side, b)),),
            "upper": ((up, _eye_t(side, 0.5)),),
            "lower": ((lo, _eye_t(side, 0.5)),),
            "centre": ((f"{side}_pupil", None),),
        }
        if rest in table:
            return table[rest]
    nose = {
        "nose_bridge_0": 0.0,
        "nose_bridge_1": 1 / 3,
        "nose_bridge_2": 2 / 3,
        "nose_tip": 1.0,
    }
    if name in nose:
        return (("nose_bridge", nose[name]),)
    base = {
        "right_nose_wing": 0.0,
        "right_nostril": 0.25,
        "nose_bottom": 0.5,
        "left_nostril": 0.75,
        "left_nose_wing": 1.0,
    }
    if name in base:
        return (("nose_base", base[name]),)
    lips = {
        "right_mouth_corner": ("lip_outer_upper", 0.0),
        "right_upper_lip_outer": ("lip_outer_upper", 1 / 6),
        "right_upper_lip_peak": ("lip_outer_upper", 2 / 6),
        "upper_lip_top": ("lip_outer_upper", 0.5),
        "left_upper_lip_peak": ("lip_outer_upper", 4 / 6),
        "left_upper_lip_outer": ("lip_outer_upper", 5 / 6),
        "left_mouth_corner": ("lip_outer_upper", 1.0),
        "left_lower_lip_outer": ("lip_outer_lower", 5 / 6),
        "left_lower_lip_mid": ("lip_outer_lower", 4 / 6),
        "lower_lip_bottom": ("lip_outer_lower", 0.5),
        "right_lower_lip_mid": ("lip_outer_lower", 2 / 6),
        "right_lower_lip_outer": ("lip_outer_lower", 1 / 6),
        "right_mouth_inner_corner": ("lip_inner_upper", 0.0),
        "right_upper_lip_inner": ("lip_inner_upper", 0.25),
        "upper_lip_inner": ("lip_inner_upper", 0.5),
        "left_upper_lip_inner": ("lip_inner_upper", 0.75),
        "left_mouth_inner_corner": ("lip_inner_upper", 1.0),
        "left_lower_lip_inner": ("lip_inner_lower", 0.75),
        "lower_lip_inner": ("lip_inner_lower", 0.5),
        "right_lower_lip_inner": ("lip_inner_lower", 0.25),
    }
    if name in lips:
        return (lips[name],)
    if name == "mouth_centre":
        if scheme.name == "17":  # a selection of iBUG-68: the inner lower-lip midpoint (66)
            return (("lip_inner_lower", 0.5),)
        return (("lip_inner_upper", 0.5), ("lip_inner_lower", 0.5))
    raise KeyError(f"face model has no point {name!r} (scheme {scheme.name})")


@functools.lru_cache(maxsize=32)
def scheme_specs(scheme) -> tuple[PointSpec, ...]:
    """``(K,)`` point specs of a scheme (a hashable ``LandmarkScheme``), in its point order."""
    return tuple(point_spec(n, scheme) for n in scheme.point_names)


@functools.lru_cache(maxsize=64)
def _plan(specs: tuple[PointSpec, ...]):
    """Evaluation plan of ``specs``: per curve the parameters to evaluate, and the ``(K, R)``
    averaging matrix from the ``R`` evaluated references to the ``K`` points."""
    refs: dict[tuple[str, float | None], int] = {}
    for spec in specs:
        for ref in spec:
            refs.setdefault(ref, len(refs))
    by_curve: dict[str, list[tuple[float | None, int]]] = {}
    for (name, t), col in refs.items():
        by_curve.setdefault(name, []).append((t, col))
    groups = tuple(
        (
            name,
            None if items[0][0] is None else np.array([t for t, _ in items]),
            [c for _, c in items],
        )
        for name, items in by_curve.items()
    )
    weights = np.zeros((len(specs), len(refs)))
    for k, spec in enumerate(specs):
        for ref in spec:
            weights[k, refs[ref]] += 1.0 / len(spec)
    return groups, weights


def evaluate_specs(face: Face, specs: tuple[PointSpec, ...]) -> np.ndarray:
    """3-D head-frame positions of point specs: ``(K, 3)``."""
    groups, weights = _plan(specs)
    values = np.empty((weights.shape[1], 3))
    for name, ts, cols in groups:
        values[cols] = face.point(name)[None] if ts is None else face.curve(name, ts)
    return weights @ values


def sample_scheme(face: Face, scheme) -> np.ndarray:
    """3-D landmarks of ``face`` in ``scheme`` (a name or a LandmarkScheme): ``(K, 3)``."""
    sch = get_scheme(scheme)
    return evaluate_specs(face, scheme_specs(sch))


# -- surface normals (for self-occlusion) ---------------------------------------------------------

#: centre and semi-axes of the ellipsoid that approximates the head surface
_HEAD_CENTRE = np.array([0.0, 0.25, -0.95])
_HEAD_AXES = np.array([0.86, 1.3, 1.0])


def surface_normals(face: Face, points: np.ndarray, specs: tuple[PointSpec, ...]) -> np.ndarray:
    """Outward unit normals ``(K, 3)`` of landmarks ``points: (K, 3)`` with their ``specs``.

    The head is an ellipsoid (width scaled by the identity); nose points have their own
    normals: the bridge and tip face forwards, the wings face sideways at 55 degrees, the
    nostrils at 30 degrees, and the subnasale faces forwards-down.
    """
    axes = _HEAD_AXES * np.array([face.identity.face_width, 1.0, 1.0])
    n = (points - _HEAD_CENTRE) / axes**2
    for k, spec in enumerate(specs):
        ref, t = spec[0]
        if ref == "nose_bridge":
            n[k] = (0.0, -0.35 + 0.5 * t, 1.0)
        elif ref == "nose_base":
            u = 2.0 * t - 1.0
            n[k] = (np.tan(np.radians(55.0)) * u, 0.5, 1.0)
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def nose_points(face: Face) -> np.ndarray:
    """3-D points ``(M, 3)`` whose projected convex hull is the nose occluder (front view)."""
    i = face.identity
    mid_y = 0.6 * face.nose_tip_y
    mid_z = 0.05 + 0.25 * i.nose_depth * 0.6**1.3
    hw = 0.07 * i.nose_width
    extra = np.array(
        [[-0.045, 0.0, 0.04], [0.045, 0.0, 0.04], [-hw, mid_y, mid_z], [hw, mid_y, mid_z]]
    )
    return np.vstack(
        [
            face.curve("nose_base", np.linspace(0, 1, 9)),
            face.curve("nose_bridge", np.linspace(0, 1, 5)),
            extra,
        ]
    )


def face_box_points(face: Face) -> np.ndarray:
    """3-D points ``(M, 3)`` whose projected bounding box is the face box (a face-detector-like
    box: jaw contour, brows and the forehead up to a standard hairline height)."""
    t = np.linspace(0, 1, 17)
    top = face.curve("forehead", np.linspace(0.25, 0.75, 5))
    top[:, 1] = -0.55
    return np.vstack(
        [
            face.curve("jaw", t),
            face.curve("right_brow_upper", t),
            face.curve("left_brow_upper", t),
            top,
        ]
    )


def identity_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Identity))


__all__ = [
    "Expression",
    "Face",
    "Identity",
    "PROPORTIONS",
    "Proportions",
    "evaluate_specs",
    "face_box_points",
    "identity_fields",
    "nose_points",
    "point_spec",
    "sample_scheme",
    "scheme_specs",
    "surface_normals",
]

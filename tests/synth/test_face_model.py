import numpy as np
import pytest

from otmark.schemes import (
    SCHEMES,
    TABLES,
    approximate_points,
    conversion_matrix,
    get_scheme,
)
from otmark.synth.face_model import (
    Expression,
    Face,
    Identity,
    point_spec,
    sample_scheme,
    scheme_specs,
)

#: documented bound (head units; the outer-eye-corner distance is about 0.94) on how far the
#: schemes' *approximate* conversion points lie from the generator's own sampling
APPROX_TOLERANCE = {
    ("wflw", "300w"): 0.05,  # eyelids: 98 samples lids at 1/4, 3/4; 68 at 1/3, 2/3
    ("300w", "aflw"): 0.08,  # eye centre = mean of 6 eye points vs the pupil; brow top vs centre
    ("aflw", "17"): 0.15,  # mouth centre between the lips vs the lower inner lip (open mouth)
    # the generator defines AFLW's brow, eye and mouth centres exactly as these COFW means
    ("cofw", "aflw"): 1e-9,
}


def random_faces(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Face(Identity.sample(rng), Expression.sample(rng)) for _ in range(n)]


@pytest.mark.parametrize("name", SCHEMES)
def test_every_scheme_samples_its_point_count(name):
    face = random_faces(1)[0]
    pts = sample_scheme(face, name)
    assert pts.shape == (get_scheme(name).num_points, 3)
    assert np.all(np.isfinite(pts))


@pytest.mark.parametrize("pair", sorted(TABLES))
def test_conversion_tables_agree_with_the_generator(pair):
    src, dst = pair
    m = conversion_matrix(src, dst)
    approx = approximate_points(src, dst)
    for face in random_faces(25, seed=1):
        converted = m @ sample_scheme(face, src)
        direct = sample_scheme(face, dst)
        err = np.linalg.norm(converted - direct, axis=1)
        # exact points of a table are the very same 3-D points of the face model
        np.testing.assert_allclose(err[~approx], 0.0, atol=1e-12)
        if approx.any():
            assert err[approx].max() < APPROX_TOLERANCE[pair]


def test_wflw_eyelids_are_the_documented_approximation():
    # a neutral face: 98's upper lid point 61 (at 1/4) differs from 68's 37 (at 1/3), but both
    # lie on the same upper lid between the same corners
    face = Face(Identity(), Expression())
    p98, p68 = sample_scheme(face, "wflw"), sample_scheme(face, "300w")
    w, i = get_scheme("wflw"), get_scheme("300w")
    a = p98[w.index("right_eye_upper_outer")]
    b = p68[i.index("right_eye_upper_outer")]
    outer = p68[i.index("right_eye_outer")]
    inner = p68[i.index("right_eye_inner")]
    assert 0 < np.linalg.norm(a - b) < 0.05
    # 1/4 vs 1/3 of the way from the outer to the inner corner along x
    frac = lambda p: (p[0] - outer[0]) / (inner[0] - outer[0])  # noqa: E731
    assert frac(a) == pytest.approx(0.25, abs=1e-9)
    assert frac(b) == pytest.approx(1 / 3, abs=1e-9)


@pytest.mark.parametrize("name", SCHEMES)
def test_symmetric_face_is_flip_consistent(name):
    # mirror x of a symmetric face, permute by the scheme's flip pairs -> the same face
    face = Face(Identity(asym=0.0), Expression(smile=0.3, mouth_open=0.4))
    pts = sample_scheme(face, name)
    mirrored = pts * np.array([-1.0, 1.0, 1.0])
    perm = get_scheme(name).flip_permutation
    np.testing.assert_allclose(mirrored[perm], pts, atol=1e-9)


def test_subject_right_is_image_left():
    pts = sample_scheme(Face(Identity()), "300w")
    s = get_scheme("300w")
    x = {n: pts[s.index(n)][0] for n in s.point_names}
    assert (
        x["right_eye_outer"] < x["right_eye_inner"] < 0 < x["left_eye_inner"] < x["left_eye_outer"]
    )
    assert x["jaw_right_00"] < x["right_mouth_corner"] < x["left_mouth_corner"] < x["jaw_left_00"]
    y = {n: pts[s.index(n)][1] for n in s.point_names}
    assert y["right_brow_top"] < y["right_eye_upper_outer"] < y["nose_tip"] < y["upper_lip_top"]
    assert y["upper_lip_top"] < y["lower_lip_bottom"] < y["chin"]


def test_expression_moves_the_right_points():
    idt = Identity()
    s = get_scheme("300w")

    def get(e, name):
        return sample_scheme(Face(idt, e), "300w")[s.index(name)]

    gap = lambda e: get(e, "lower_lip_inner")[1] - get(e, "upper_lip_inner")[1]  # noqa: E731
    assert gap(Expression(mouth_open=1.0)) > gap(Expression()) + 0.2
    lid = lambda e: get(e, "right_eye_lower_outer")[1] - get(e, "right_eye_upper_outer")[1]  # noqa: E731
    assert lid(Expression()) > 0.05
    assert abs(lid(Expression(eye_closure_right=1.0))) < 1e-9
    assert (
        get(Expression(brow_raise=1.0), "left_brow_top")[1]
        < get(Expression(), "left_brow_top")[1] - 0.05
    )
    corner = lambda e: get(e, "left_mouth_corner")[1]  # noqa: E731
    assert corner(Expression(smile=1.0)) < corner(Expression()) - 0.03


def test_identity_scales_the_face():
    s = get_scheme("300w")
    narrow = sample_scheme(Face(Identity(face_width=0.9)), "300w")
    wide = sample_scheme(Face(Identity(face_width=1.1)), "300w")
    w = lambda p: p[s.index("jaw_left_00")][0] - p[s.index("jaw_right_00")][0]  # noqa: E731
    assert w(wide) / w(narrow) == pytest.approx(1.1 / 0.9, rel=1e-9)


def test_unknown_point_names_are_refused():
    class Fake:
        name = "fake"
        point_names = ("third_eye",)

    with pytest.raises(KeyError, match="third_eye"):
        point_spec("third_eye", Fake())


def test_specs_are_pure_functions_of_the_scheme():
    assert scheme_specs(get_scheme("wflw")) == scheme_specs(get_scheme("wflw"))

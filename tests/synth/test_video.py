import numpy as np
import pytest

from otmark.schemes import get_scheme
from otmark.synth.video import MOTION, nose_speed, render_video


@pytest.fixture(scope="module")
def videos():
    return {c: render_video(c, np.random.default_rng(11), 12, (96, 96)) for c in (1, 3)}


def test_frames_are_annotated_and_consistent(videos):
    k = get_scheme("300vw").num_points
    for frames in videos.values():
        assert len(frames) == 12
        for r in frames:
            assert r.image.shape == (96, 96, 3)
            assert r.landmarks["300vw"].shape == (k, 2)
        # one person per video: the identity is the same in every frame, the expression moves
        assert all(r.scene.face.identity == frames[0].scene.face.identity for r in frames)
        assert len({r.scene.face.expression for r in frames}) > 1


def test_motion_is_smooth(videos):
    for frames in videos.values():
        pts = np.array([r.landmarks["300vw"] for r in frames])
        step = np.linalg.norm(np.diff(pts, axis=0), axis=2).mean(axis=1)
        # no jumps: the largest step is within a few times the typical one
        assert step.max() < 4 * np.median(step) + 1.0


def test_category_3_is_fast_blurred_and_occluded(videos):
    nose = get_scheme("300vw").index("nose_tip")
    slow, fast = nose_speed(videos[1]), nose_speed(videos[3])
    assert fast > 2 * slow
    # motion blur along the nose tip's motion between t-1 and t+1, half-frame exposure
    r = videos[3][5]
    a = videos[3][4].landmarks["300vw"][nose]
    b = videos[3][6].landmarks["300vw"][nose]
    np.testing.assert_allclose(r.scene.effects.motion, 0.25 * (b - a), atol=1e-9)
    assert all(r.scene.effects.motion == (0.0, 0.0) for r in videos[1])
    assert MOTION[3].occlusion and not MOTION[1].occlusion
    assert any(r.scene.occluders for r in videos[3])


def test_bad_category_is_refused():
    with pytest.raises(ValueError, match="category"):
        render_video(4, np.random.default_rng(0), 2)

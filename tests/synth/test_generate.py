from dataclasses import replace

import numpy as np

from otmark.synth.camera import Pose, project
from otmark.synth.domains import get_domain
from otmark.synth.effects import Effects
from otmark.synth.face_model import Expression, Face, Identity, face_box_points
from otmark.synth.generate import fit_camera, synth_face, wflw_attributes
from otmark.synth.writers import sample_rng


def test_fit_camera_frames_the_face_box_exactly():
    face = Face(Identity(), Expression())
    for pose in (Pose(), Pose(40, -10, 15)):
        cam = fit_camera(face, pose, (200, 300), 120.0, (170.0, 90.0), 9.0)
        uv = project(face_box_points(face), pose, cam)
        lo, hi = uv.min(0), uv.max(0)
        assert abs(max(hi - lo) - 120.0) < 1e-9
        np.testing.assert_allclose((lo + hi) / 2, [170.0, 90.0], atol=1e-9)


def test_wflw_flags_follow_the_parameters():
    r = synth_face(get_domain("300w"), np.random.default_rng(2), ("wflw",), (64, 64))
    calm = replace(
        r.scene,
        pose=Pose(5, 0, 0),
        face=Face(Identity(), Expression()),
        effects=Effects(),
        style=replace(r.scene.style, ambient=0.7, makeup=0.0),
    )
    r.scene = calm
    r.occluded["wflw"] = r.self_occluded["wflw"].copy()
    assert wflw_attributes(r) == dict.fromkeys(
        ("pose", "expression", "illumination", "makeup", "occlusion", "blur"), 0
    )
    r.scene = replace(
        calm,
        pose=Pose(60, 0, 0),
        face=Face(Identity(), Expression(mouth_open=0.9)),
        effects=Effects(blur=2.0, gain=0.5),
        style=replace(calm.style, makeup=0.5),
    )
    r.occluded["wflw"] = np.ones_like(r.occluded["wflw"])
    assert set(wflw_attributes(r).values()) == {1}


def test_every_wflw_subset_is_populated_but_not_everything():
    rates = np.mean(
        [
            list(
                wflw_attributes(
                    synth_face(
                        get_domain("wflw"), sample_rng(0, "wflw", "t", i), ("wflw",), (64, 64)
                    )
                ).values()
            )
            for i in range(60)
        ],
        axis=0,
    )
    assert (rates > 0.05).all() and (rates < 0.6).all()

"""Closed forms of the per-pixel shading, the texture bank, photographic backgrounds and the
provenance file."""

import json

import numpy as np
import pytest

from otmark.synth import background as bgmod
from otmark.synth.render import bank_texture, blinn_phong


def sphere_normals(n=65):
    """Unit normals of a sphere seen from the front (view frame, z towards the viewer) and the
    mask of the disc."""
    y, x = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    inside = x**2 + y**2 < 1
    z = np.sqrt(np.clip(1 - x**2 - y**2, 0, 1))
    return np.stack([x, y, z], -1), inside


def test_lambert_on_a_sphere_is_the_cosine_to_the_light():
    n, inside = sphere_normals()
    light = np.array([0.6, -0.0, 0.8])
    diffuse, spec = blinn_phong(n, light, ambient=0.2)
    cos = np.clip(n @ light, 0, 1)
    np.testing.assert_allclose(diffuse[inside], 0.2 + 0.8 * cos[inside], atol=1e-6)
    assert (spec == 0).all()
    # brightest where the normal is the light direction, ambient on the far side
    k = np.unravel_index(np.argmax(np.where(inside, diffuse, -1)), diffuse.shape)
    np.testing.assert_allclose(n[k], light, atol=0.05)
    assert diffuse[32, 1] == pytest.approx(0.2, abs=1e-6)  # x = -1: facing away


def test_wrap_lighting_softens_the_terminator_and_highlight_is_at_the_half_vector():
    n, inside = sphere_normals(129)
    light = np.array([0.0, 0.0, 1.0])
    d0, _ = blinn_phong(n, light, 0.0)
    dw, _ = blinn_phong(n, light, 0.0, wrap=0.5)
    # at 90 degrees from the light: Lambert gives 0, wrap gives wrap / (1 + wrap)
    edge = np.array([[1.0, 0.0, 0.0]])
    assert blinn_phong(edge, light, 0.0)[0][0] == pytest.approx(0.0)
    assert blinn_phong(edge, light, 0.0, wrap=0.5)[0][0] == pytest.approx(1 / 3)
    assert (dw[inside] >= d0[inside] - 1e-6).all()
    # the specular peak: light from the side, viewer in front -> the half vector
    side = np.array([np.sin(np.radians(60)), 0.0, np.cos(np.radians(60))])
    _, spec = blinn_phong(n, side, 0.3, specular=1.0, shininess=50)
    k = np.unravel_index(np.argmax(spec), spec.shape)
    half = (side + [0, 0, 1]) / np.linalg.norm(side + [0, 0, 1])
    np.testing.assert_allclose(n[k], half, atol=0.03)
    assert spec.max() == pytest.approx(1.0, abs=2e-3)


def test_texture_crops_are_deterministic_and_zero_mean():
    a, b = bank_texture(5, 1, 40, 60), bank_texture(5, 1, 40, 60)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (40, 60) and not np.array_equal(a, bank_texture(6, 1, 40, 60))
    big = bank_texture(1, 0, 600, 700)  # larger than the bank: resized crop
    assert big.shape == (600, 700)
    assert abs(float(bank_texture(3, 2, 480, 480).mean())) < 0.3


def test_photo_backgrounds_are_deterministic_or_refused(monkeypatch):
    if bgmod.photo_library():
        a = bgmod.render_background(np.random.default_rng(3), 70, 90, 0.5, photos=True)
        b = bgmod.render_background(np.random.default_rng(3), 70, 90, 0.5, photos=True)
        assert a.shape == (70, 90, 3) and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
        assert bgmod.background_source().startswith("skimage ")
    monkeypatch.setattr(bgmod, "photo_library", lambda: ())
    assert bgmod.background_source() == "procedural"
    with pytest.raises(RuntimeError, match="scikit-image"):
        bgmod.render_background(np.random.default_rng(3), 70, 90, 0.5, photos=True)
    c = bgmod.render_background(np.random.default_rng(3), 70, 90, 0.5)
    d = bgmod.render_background(np.random.default_rng(3), 70, 90, 0.5, photos=False)
    np.testing.assert_array_equal(c, d)  # without photographs: the procedural backgrounds


def test_photographs_hold_no_face():
    # the two scikit-image photographs of people (astronaut, camera) are not used
    assert "astronaut" not in bgmod.PHOTOS and "camera" not in bgmod.PHOTOS


def test_provenance_names_the_background_source(tmp_path):
    from otmark.synth.writers import PROVENANCE, synthesize

    synthesize("wflw", tmp_path, 1, seed=2, size=64)
    info = json.loads((tmp_path / PROVENANCE).read_text())
    assert info["backgrounds"] == bgmod.background_source()
    assert (info["dataset"], info["num"], info["seed"], info["size"]) == ("wflw", 1, 2, 64)

"""Generated datasets go through the real writers and come back through the real readers."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from otmark.datasets import load
from otmark.schemes import get_scheme
from otmark.synth.domains import get_domain
from otmark.synth.generate import synth_face, wflw_attributes
from otmark.synth.writers import proportional, sample_rng, synthesize

SIZE = 96


def regenerate(dataset, folder, index, domain, scheme, seed=3):
    rng = sample_rng(seed, dataset, folder, index)
    return synth_face(get_domain(domain), rng, (scheme,), (SIZE, SIZE))


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_proportional_split_sizes():
    assert proportional(3148, {"a": 554, "b": 135}, 3148) == {"a": 554, "b": 135}
    assert proportional(10, {"a": 554, "b": 135}, 3148) == {"a": 2, "b": 1}


def test_300w_layout_and_round_trip(tmp_path):
    counts = synthesize("300w", tmp_path, 8, seed=3, size=SIZE)
    assert counts["ibug"] == 1 and counts["helen/trainset"] == 5
    train = load("300w", tmp_path, "train")
    assert len(train) == counts["lfpw/trainset"] + counts["helen/trainset"] + counts["afw"]
    for split in ("common", "challenge", "full", "test"):
        assert len(load("300w", tmp_path, split)) >= 1
    # the .pts written for helen/trainset #1 is the generator's annotation (1-based on disk,
    # 0-based after reading; the .pts keeps at least 3 decimals)
    s = next(x for x in train if x.id.endswith("helen_00001"))
    ref = regenerate("300w", "helen/trainset", 1, "300w", "300w")
    np.testing.assert_allclose(s.landmarks, ref.landmarks["300w"], atol=1e-3)
    img = s.load_image()
    assert img.shape == (SIZE, SIZE, 3)
    # JPEG on disk: close to the rendered pixels, not equal
    assert np.abs(img.astype(float) - ref.image).mean() < 6


def test_wflw_lists_and_attribute_flags(tmp_path):
    synthesize("wflw", tmp_path, 6, seed=3, size=SIZE)
    train, test = load("wflw", tmp_path, "train"), load("wflw", tmp_path, "test")
    assert (len(train), len(test)) == (6, 2)
    for i, s in enumerate(train):
        ref = regenerate("wflw", "train", i, "wflw", "wflw")
        np.testing.assert_allclose(s.landmarks, ref.landmarks["wflw"], atol=1e-6)
        for name, flag in wflw_attributes(ref).items():
            assert int(s.attributes[name]) == flag
        assert s.landmarks.shape == (get_scheme("wflw").num_points, 2)


def test_cofw_mat_keeps_occlusion_flags(tmp_path):
    synthesize("cofw", tmp_path, 4, seed=3, size=SIZE)
    train = load("cofw", tmp_path, "train")
    assert len(train) == 4 and len(load("cofw", tmp_path, "test")) == 2
    flags = []
    for i, s in enumerate(train):
        ref = regenerate("cofw", "train", i, "cofw", "cofw")
        np.testing.assert_allclose(s.landmarks, ref.landmarks["cofw"], atol=1e-9)
        np.testing.assert_array_equal(np.asarray(s.occluded, bool), ref.occluded["cofw"])
        np.testing.assert_array_equal(s.load_image(), ref.image)  # raw pixels in the .mat
        flags.append(ref.occluded["cofw"].mean())
    assert max(flags) > 0  # heavy-occlusion domain


def test_aflw_box_size_and_frontal_subset(tmp_path):
    counts = synthesize("aflw", tmp_path, 40, seed=3, size=SIZE)
    full, frontal = load("aflw", tmp_path, "full"), load("aflw", tmp_path, "frontal")
    assert len(full) == counts["full"] == 9 and len(frontal) == counts["frontal"]
    expected = []
    for i, s in enumerate(full):
        ref = regenerate("aflw", "full", i, "aflw", "aflw")
        np.testing.assert_allclose(s.landmarks, ref.landmarks["aflw"], atol=1e-9)
        if not ref.self_occluded["aflw"].any():
            expected.append(s.id.split("@")[0])
        assert s.attributes["box_size"] > 0.5 * np.ptp(s.landmarks[:, 0])
    assert [s.id.split("@")[0] for s in frontal] == expected
    assert 0 < len(expected) < len(full)  # extreme poses: some faces are not frontal


def test_300vw_videos_round_trip(tmp_path):
    counts = synthesize("300vw", tmp_path, 1, seed=3, size=SIZE, frames=5)
    assert counts == {"train": 1, "test1": 1, "test2": 1, "test3": 1}
    for split in ("train", "test1", "test2", "test3"):
        samples = load("300vw", tmp_path, split)
        assert len(samples) == 5
        frame = samples[4].load_image()
        assert frame.shape == (SIZE, SIZE, 3)
        assert samples[4].attributes["frame_number"] == 5


def test_same_seed_gives_byte_identical_files(tmp_path):
    for dataset in ("300w", "wflw", "cofw", "aflw", "300vw"):
        a, b, c = tmp_path / f"{dataset}_a", tmp_path / f"{dataset}_b", tmp_path / f"{dataset}_c"
        for root, seed in ((a, 5), (b, 5), (c, 6)):
            synthesize(dataset, root, 1 if dataset == "300vw" else 2, seed=seed, size=64, frames=3)
        da, db, dc = digest(a), digest(b), digest(c)
        assert da == db, dataset
        assert da.keys() == dc.keys() and da != dc


def test_unknown_dataset_is_refused(tmp_path):
    with pytest.raises(KeyError, match="known"):
        synthesize("lfw", tmp_path, 1)

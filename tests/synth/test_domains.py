import numpy as np

from otmark.synth.domains import DOMAINS, get_domain, sample_effects, sample_pose


def poses(name, n=400):
    rng = np.random.default_rng(0)
    return np.array(
        [[p.yaw, p.pitch, p.roll] for p in (sample_pose(get_domain(name), rng) for _ in range(n))]
    )


def test_poses_respect_the_limits_and_the_issue_ranges():
    for name, d in DOMAINS.items():
        p = poses(name, 200)
        assert (np.abs(p[:, 0]) <= d.yaw_max).all() and d.yaw_max <= 75
        assert (np.abs(p[:, 1]) <= d.pitch_max).all() and d.pitch_max <= 35
        assert (np.abs(p[:, 2]) <= d.roll_max).all() and d.roll_max <= 40


def test_domains_are_ordered_by_difficulty():
    spread = {n: np.abs(poses(n)[:, 0]).mean() for n in ("300w", "300w-challenge", "wflw", "aflw")}
    assert spread["300w"] < spread["wflw"] < spread["aflw"]
    assert spread["300w"] < spread["300w-challenge"]
    rng = np.random.default_rng(1)
    blur = {
        n: np.mean([sample_effects(get_domain(n), rng).blur > 0 for _ in range(300)])
        for n in ("300w", "wflw")
    }
    assert blur["300w"] < blur["wflw"]
    assert (
        get_domain("cofw").occluders["hand_or_object"]
        > get_domain("wflw").occluders["hand_or_object"]
    )


def test_unknown_domain_names_the_known_ones():
    import pytest

    with pytest.raises(KeyError, match="300w"):
        get_domain("celeba")

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from otmark.study.stats import (
    at_matched_clean,
    bootstrap_mean_ci,
    common_clean_target,
    degradation,
    hierarchical_bootstrap_ci,
    interpolate_at_clean,
    paired_differences,
    per_seed_wins,
    video_of,
)

# four images, hand-worked: A - B = [1, 0, 2, -1], mean 0.5
A4 = np.array([5.0, 6.0, 7.0, 8.0])
B4 = np.array([4.0, 6.0, 5.0, 9.0])


def test_paired_differences_hand_worked():
    d = paired_differences(A4, B4)
    assert d.tolist() == [1.0, 0.0, 2.0, -1.0]
    assert d.mean() == 0.5
    ci = bootstrap_mean_ci(d, rng=0, n_resamples=2000)
    assert ci.estimate == 0.5
    assert ci.low < 0.5 < ci.high


def test_bootstrap_is_degenerate_when_every_resample_is_equal():
    d = paired_differences(A4 + 0.5, A4)  # 0.5 on every image
    ci = bootstrap_mean_ci(d, rng=np.random.default_rng(1), n_resamples=500)
    assert (ci.estimate, ci.low, ci.high) == (0.5, 0.5, 0.5)
    assert ci.excludes_zero()


def test_bootstrap_two_images_exact_distribution():
    # differences [0, 1]: resampled means 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so the
    # 2.5 % and 97.5 % quantiles are 0 and 1, and the 30 % and 70 % quantiles are both 0.5
    d = np.array([0.0, 1.0])
    ci = bootstrap_mean_ci(d, rng=3, n_resamples=20_000)
    assert (ci.low, ci.high) == (0.0, 1.0)
    mid = bootstrap_mean_ci(d, rng=3, n_resamples=20_000, level=0.4)
    assert (mid.low, mid.high) == (0.5, 0.5)


def test_bootstrap_matches_scipy_percentile_interval():
    d = np.random.default_rng(7).normal(0.3, 1.0, size=60)
    ours = bootstrap_mean_ci(d, rng=11, n_resamples=40_000)
    ref = sps.bootstrap(
        (d,), np.mean, n_resamples=40_000, method="percentile", rng=np.random.default_rng(12)
    ).confidence_interval
    width = ref.high - ref.low
    assert ours.low == pytest.approx(ref.low, abs=0.03 * width)
    assert ours.high == pytest.approx(ref.high, abs=0.03 * width)


def test_bootstrap_is_reproducible_with_a_seed():
    d = np.random.default_rng(0).normal(size=30)
    assert bootstrap_mean_ci(d, 5) == bootstrap_mean_ci(d, 5)
    assert bootstrap_mean_ci(d, 5) != bootstrap_mean_ci(d, 6)


def test_bootstrap_over_images_keeps_seeds_together_pairs_do_not():
    # 2 seeds x 2 images: every image's column averages 2, so drawing images always gives 2;
    # drawing the 4 (seed, image) values {1, 1, 3, 3} gives 1 + k/2 with k ~ Bin(4, 1/2):
    # P(1) = P(3) = 1/16 > 2.5 %, so the 95 % interval is [1, 3]
    d = np.array([[1.0, 1.0], [3.0, 3.0]])
    by_image = bootstrap_mean_ci(d, rng=0, n_resamples=5000, unit="image")
    assert (by_image.estimate, by_image.low, by_image.high) == (2.0, 2.0, 2.0)
    by_pair = bootstrap_mean_ci(d, rng=0, n_resamples=5000, unit="pair")
    assert (by_pair.low, by_pair.high) == (1.0, 3.0)
    assert by_pair.to_dict()["unit"] == "pair"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(unit="seed"), "unit"),
        (dict(level=1.0), "level"),
        (dict(n_resamples=0), "n_resamples"),
    ],
)
def test_bootstrap_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_mean_ci(np.zeros(3), 0, **kwargs)


def test_paired_differences_refuse_mismatch_and_nan():
    with pytest.raises(ValueError, match="shapes"):
        paired_differences(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        paired_differences(np.array([1.0, np.nan]), np.zeros(2))
    with pytest.raises(ValueError, match="finite"):
        bootstrap_mean_ci(np.array([1.0, np.inf]), 0)


def test_per_seed_wins_hand_worked():
    # seed means: A 2, 4, 3; B 3, 4, 1 -> A wins seed 0, ties seed 1, loses seed 2
    a = np.array([[1.0, 3.0], [4.0, 4.0], [2.0, 4.0]])
    b = np.array([[3.0, 3.0], [5.0, 3.0], [1.0, 1.0]])
    w = per_seed_wins(a, b)
    assert (w.wins, w.ties, w.losses) == (1, 1, 1)
    assert w.diffs == (-1.0, 0.0, 2.0)
    assert str(w) == "1/3"
    assert per_seed_wins(np.array([1.0, 2.0]), np.array([3.0, 4.0])).wins == 2


def test_degradation_on_the_same_images():
    clean = {"a": 2.0, "b": 3.0, "c": 4.0}
    perturbed = {"c": 4.5, "a": 5.0}
    ids, diff = degradation(clean, perturbed)
    assert ids == ["a", "c"]
    assert diff.tolist() == [3.0, 0.5]
    with pytest.raises(ValueError, match="no clean counterpart.*x, y"):
        degradation(clean, {"a": 1.0, "x": 1.0, "y": 1.0})


# a run's checkpoints: clean NME falls then rises again; perturbed NME alongside
CLEAN = [10.0, 6.0, 4.0, 5.0]
PERTURBED = [20.0, 14.0, 9.0, 10.0]


def test_interpolation_hand_computed():
    # 8 lies on the segment 10 -> 6 at t = 0.5: 20 + 0.5 * (14 - 20) = 17
    assert interpolate_at_clean(CLEAN, PERTURBED, 8.0) == 17.0
    # 5 is crossed twice: first on 6 -> 4 at t = 0.5 (14 + 0.5 * (9 - 14) = 11.5), last at
    # the final checkpoint (10)
    assert interpolate_at_clean(CLEAN, PERTURBED, 5.0) == 11.5
    assert interpolate_at_clean(CLEAN, PERTURBED, 5.0, crossing="last") == 10.0
    assert interpolate_at_clean(CLEAN, PERTURBED, 10.0) == 20.0
    assert math.isnan(interpolate_at_clean(CLEAN, PERTURBED, 3.0))
    assert math.isnan(interpolate_at_clean(CLEAN, PERTURBED, 12.0))
    assert interpolate_at_clean([4.0], [7.0], 4.0) == 7.0
    assert math.isnan(interpolate_at_clean([4.0], [7.0], 5.0))
    # a flat segment at the target gives its first (or last) perturbed value
    assert interpolate_at_clean([6.0, 5.0, 5.0], [9.0, 8.0, 7.0], 5.0) == 8.0
    assert interpolate_at_clean([6.0, 5.0, 5.0], [9.0, 8.0, 7.0], 5.0, crossing="last") == 7.0


def test_matched_clean_nme_over_runs():
    run_a = (CLEAN, PERTURBED)  # best clean 4
    run_b = ([12.0, 7.0, 4.5], [15.0, 10.0, 8.0])  # best clean 4.5
    run_c = ([3.0, 2.0], [5.0, 4.0])  # never as high as 4.5
    assert common_clean_target([run_a[0], run_b[0]]) == 4.5
    m = at_matched_clean([run_a, run_b])
    assert m.target == 4.5
    # run a: 6 -> 4 at t = 0.75: 14 + 0.75 * (9 - 14) = 10.25; run b: its last point, 8
    assert m.perturbed.tolist() == [10.25, 8.0]
    assert math.isnan(common_clean_target([run_a[0], run_c[0]]))
    explicit = at_matched_clean([run_a, run_c], target=4.0)
    assert explicit.perturbed[0] == 9.0 and math.isnan(explicit.perturbed[1])


# hierarchical bootstrap: seeds, then images or whole videos


def test_hierarchical_with_equal_seeds_and_one_frame_per_video_is_the_image_bootstrap():
    # differences [0, 1] on two images: resampled means 0, 0.5, 1 with probabilities 1/4,
    # 1/2, 1/4 (as in the image bootstrap above); three equal seeds change nothing
    d = np.array([[0.0, 1.0]] * 3)
    ids = ["v0/000001", "v1/000001"]
    for unit in ("seeds+images", "seeds+videos"):
        ci = hierarchical_bootstrap_ci(d, rng=3, unit=unit, ids=ids, n_resamples=20_000)
        assert (ci.estimate, ci.low, ci.high, ci.unit) == (0.5, 0.0, 1.0, unit)
        mid = hierarchical_bootstrap_ci(d, 3, unit, ids, n_resamples=20_000, level=0.4)
        assert (mid.low, mid.high) == (0.5, 0.5)
    # on many images it agrees with the image bootstrap of bootstrap_mean_ci
    x = np.random.default_rng(7).normal(0.3, 1.0, size=80)
    ours = hierarchical_bootstrap_ci(np.stack([x, x]), rng=1, n_resamples=20_000)
    ref = bootstrap_mean_ci(x, rng=2, n_resamples=20_000)
    width = ref.high - ref.low
    assert ours.low == pytest.approx(ref.low, abs=0.04 * width)
    assert ours.high == pytest.approx(ref.high, abs=0.04 * width)


def test_hierarchical_without_within_seed_variance_is_the_seed_mean_bootstrap():
    # seed means 0, 1, 5 (the same on every image): the mean of 3 drawn seeds takes the
    # values k0 * 0 + k1 * 1 + k5 * 5 over 3, (k0, k1, k5) ~ Multinomial(3; 1/3 each);
    # P(mean <= 1/3) = P(0,0,0 or two 0s and a 1) = (1 + 3) / 27 = 14.8 %, P(mean = 0) = 3.7 %,
    # so the 10 % quantile is 1/3; P(mean >= 11/3) = P(two 5s and a 0 or 1, or three 5s) =
    # (3 + 3 + 1) / 27 = 25.9 %, P(mean = 5) = 3.7 %, so the 90 % quantile is 11/3
    d = np.repeat(np.array([[0.0], [1.0], [5.0]]), 4, axis=1)
    ci = hierarchical_bootstrap_ci(d, rng=0, n_resamples=40_000, level=0.8)
    assert ci.estimate == 2.0
    assert ci.low == pytest.approx(1 / 3) and ci.high == pytest.approx(11 / 3)
    ref = bootstrap_mean_ci(np.array([0.0, 1.0, 5.0]), rng=0, n_resamples=40_000, level=0.8)
    assert (ref.low, ref.high) == pytest.approx((ci.low, ci.high))


def test_hierarchical_two_seeds_two_videos_against_enumeration():
    # seeds x frames; video v0 has two frames, v1 one. Enumerate the 2^2 seed draws x 2^2
    # video draws (16 equally likely resamples): the mean over drawn seeds x drawn frames
    ids = ["v0/1", "v0/2", "v1/1"]
    d = np.array([[0.0, 2.0, 7.0], [3.0, 5.0, 1.0]])
    frames = {"v0": [0, 1], "v1": [2]}
    outcomes = np.sort(
        [
            d[list(seeds)][:, [f for v in videos for f in frames[v]]].mean()
            for seeds in itertools.product([0, 1], repeat=2)
            for videos in itertools.product(frames, repeat=2)
        ]
    )
    # 1 (x2), 2.5 (x2), 3 (x8), 4 (x3), 7: the 20 % quantile is 2.5, the 80 % one 4
    assert outcomes.tolist() == [1, 1, 2.5, 2.5] + [3] * 8 + [4, 4, 4, 7]

    def exact(q: float) -> float:  # the smallest outcome whose CDF reaches q
        return float(outcomes[int(np.ceil(q * outcomes.size)) - 1])

    for level in (0.6, 0.8):
        ci = hierarchical_bootstrap_ci(d, 0, "seeds+videos", ids, n_resamples=40_000, level=level)
        assert (ci.low, ci.high) == (exact((1 - level) / 2), exact((1 + level) / 2))
        assert ci.high - ci.low == exact((1 + level) / 2) - exact((1 - level) / 2)
    # frames drawn one by one ignore that v0's frames go together: another distribution
    by_image = hierarchical_bootstrap_ci(d, 0, "seeds+images", n_resamples=40_000, level=0.6)
    assert (by_image.low, by_image.high) != (2.5, 4.0)


def test_hierarchical_is_reproducible_and_checks_its_input():
    d = np.random.default_rng(0).normal(size=(2, 30))
    ids = [f"{i // 10}/{i % 10:06d}" for i in range(30)]
    assert hierarchical_bootstrap_ci(d, 5, "seeds+videos", ids) == hierarchical_bootstrap_ci(
        d, np.random.default_rng(5), "seeds+videos", ids
    )
    assert video_of("516/000001") == "516"
    with pytest.raises(ValueError, match="unit"):
        hierarchical_bootstrap_ci(d, 0, "videos")
    with pytest.raises(ValueError, match="one id per image"):
        hierarchical_bootstrap_ci(d, 0, "seeds+videos", ids[:3])
    with pytest.raises(ValueError, match="'frame7' is not '<video>/<frame>'"):
        hierarchical_bootstrap_ci(d, 0, "seeds+videos", ["frame7"] + ids[1:])
    with pytest.raises(ValueError, match="finite"):
        hierarchical_bootstrap_ci(np.array([[1.0, np.nan]]), 0)

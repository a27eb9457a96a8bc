import numpy as np
import pytest

from otmark.metrics import COLUMNS, auc, ced, failure_rate, markdown_table, summary


def _outlier_example():
    # 4 images x 5 landmarks: every landmark error 0.02 except one outlier landmark per image
    # on images 0 and 1 with error 0.30.
    e = np.full((4, 5), 0.02)
    e[0, 3] = 0.30
    e[1, 3] = 0.30
    return e


def test_fr_image_vs_landmark_on_one_outlier_landmark():
    e = _outlier_example()
    # per-image NME of images 0,1 = (4*0.02 + 0.30)/5 = 0.076 <= 0.08 -> FR^I_0.08 = 0
    assert failure_rate(e, 0.08, per="image") == 0.0
    # landmark 3 fails on 2 of 4 images (0.5), the other 4 landmarks never fail:
    # FR^L_0.08 = mean(0, 0, 0, 0.5, 0) = 0.1
    assert failure_rate(e, 0.08, per="landmark") == pytest.approx(0.1)
    # at theta 0.07 both outlier images fail per image: FR^I = 2/4
    assert failure_rate(e, 0.07, per="image") == pytest.approx(0.5)


def test_fr_landmark_is_mean_over_landmarks_of_per_landmark_rates():
    rng = np.random.default_rng(1)
    e = rng.exponential(0.05, (37, 11))
    per_landmark = (e > 0.1).mean(axis=0)  # independent definition, loop-free
    assert failure_rate(e, 0.1, per="landmark") == pytest.approx(per_landmark.mean())


def test_failure_is_strictly_greater_than_theta():
    e = np.array([[0.1], [0.1], [0.2]])
    assert failure_rate(e, 0.1) == pytest.approx(1 / 3)
    np.testing.assert_allclose(ced(e, [0.0, 0.1, 0.15, 0.2]), [0, 2 / 3, 2 / 3, 1])


def test_ced_hand_worked_and_complement_of_fr():
    # per-image NMEs 0.01, 0.05, 0.05, 0.2 (one landmark each)
    e = np.array([[0.01], [0.05], [0.05], [0.2]])
    np.testing.assert_allclose(
        ced(e, [0.0, 0.01, 0.04, 0.05, 0.1, 1.0]), [0, 0.25, 0.25, 0.75, 0.75, 1]
    )
    for t in (0.03, 0.08, 0.3):
        assert ced(e, [t])[0] == pytest.approx(1 - failure_rate(e, t))


def test_auc_hand_worked():
    # values 0.0, 0.05, 0.1 with theta_max 0.1: the CED is 1/3 on [0,0.05), 2/3 on [0.05,0.1)
    # area = 0.05/3 + 0.05*2/3 = 0.05; normalised: 0.5
    e = np.array([[0.0], [0.05], [0.1]])
    assert auc(e, 0.1) == pytest.approx(0.5)
    assert auc(np.zeros((3, 2)), 0.1) == pytest.approx(1.0)
    assert auc(np.full((3, 2), 0.5), 0.1) == 0.0


@pytest.mark.parametrize("per", ["image", "landmark"])
def test_auc_matches_fine_numeric_integration(per):
    rng = np.random.default_rng(2)
    e = rng.gamma(2.0, 0.03, (50, 7))
    t = np.linspace(0.0, 0.1, 200_001)
    numeric = np.trapezoid(ced(e, t, per=per), t) / 0.1
    assert auc(e, 0.1, per=per) == pytest.approx(numeric, abs=1e-5)


def test_summary_columns_and_units():
    e = _outlier_example()
    s = summary(e)
    assert list(s) == [c[0] for c in COLUMNS]
    # NME = (18 * 0.02 + 2 * 0.30) / 20 = 0.048
    assert s["NME"] == pytest.approx(4.8)
    assert s["FR^I_0.08"] == 0.0
    assert s["FR^L_0.08"] == pytest.approx(10.0)
    assert s["FR^L_0.2"] == pytest.approx(10.0)
    # AUC: values 0.02 (x2) and 0.076 (x2): mean(0.08, 0.08, 0.024, 0.024)/0.1 = 0.52
    assert s["AUC^I_0.1"] == pytest.approx(52.0)
    f = summary(e, percent=False)
    assert f["NME"] == pytest.approx(s["NME"] / 100)
    table = markdown_table({"model": s})
    assert table.splitlines()[0].startswith("| | NME (%) | FR^I_0.08 (%)")
    assert "| model | 4.80 | 0.00 |" in table


def test_bad_inputs():
    with pytest.raises(ValueError, match="per must be"):
        failure_rate(np.zeros((2, 2)), 0.1, per="pixel")
    with pytest.raises(ValueError, match="NaN"):
        ced(np.array([[np.nan]]), [0.1])
    with pytest.raises(ValueError, match="theta_max"):
        auc(np.zeros((1, 1)), 0.0)

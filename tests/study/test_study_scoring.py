import numpy as np
import pytest
import torch

from otmark.datasets import load
from otmark.study.scoring import (
    evaluate_mean_shape,
    evaluate_model,
    load_protocols,
    score_predictions,
)
from otmark.synth.writers import synthesize


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("bench")
    synthesize("300w", base / "300W", 8, seed=3, size=64)
    synthesize("wflw", base / "WFLW", 3, seed=4, size=64)
    return {"300w": base / "300W", "wflw": base / "WFLW"}


def test_wflw_17_scores_a_shift_by_the_outer_eye_corner_distance(roots):
    p = load_protocols(["wflw-17"], roots)["wflw-17"]
    gt = np.stack([s.landmarks for s in p.samples])  # (N, 98, 2)
    exact = score_predictions(p, gt, "wflw")
    assert exact.errors.shape == (len(p), 17)
    assert exact.summary["NME"] == pytest.approx(0.0, abs=1e-9)
    # every point shifted by (3, 4): 5 px / outer-eye-corner distance (WFLW points 60 and 72)
    shifted = score_predictions(p, gt + np.array([3.0, 4.0]), "wflw")
    iod = np.linalg.norm(gt[:, 60] - gt[:, 72], axis=-1)
    np.testing.assert_allclose(shifted.errors, np.repeat(5.0 / iod[:, None], 17, axis=1))
    # a 68-point model is scored on the same 17 points
    from otmark.schemes import convert

    as68 = convert(gt + np.array([3.0, 4.0]), "wflw", "300w")
    np.testing.assert_allclose(score_predictions(p, as68, "300w").errors, shifted.errors)


def test_mean_shape_matches_the_baseline_by_hand(roots):
    from otmark.baselines.mean_shape import tight_boxes

    train = list(load("300w", roots["300w"], "train"))
    protos = load_protocols(["300w-test"], roots)
    ev = evaluate_mean_shape(train, protos)["300w-test"]
    # by hand: mean of the shapes in their tight-box unit squares, placed in each test box
    lm = np.stack([s.landmarks for s in train])
    b = tight_boxes(lm)
    unit = ((lm - b[:, None, :2]) / (b[:, None, 2:] - b[:, None, :2])).mean(axis=0)
    test = protos["300w-test"].samples
    gt = np.stack([s.landmarks for s in test])
    tb = tight_boxes(gt)
    pred = tb[:, None, :2] + unit * (tb[:, None, 2:] - tb[:, None, :2])
    iod = np.linalg.norm(gt[:, 36] - gt[:, 45], axis=-1)
    expected = np.linalg.norm(pred - gt, axis=-1).mean(axis=1) / iod
    assert ev.summary["NME"] == pytest.approx(100 * expected.mean())


class _Oracle(torch.nn.Module):
    """Outputs one-hot logits at fixed heatmap points (a model whose answer is known)."""

    def __init__(self, points: torch.Tensor, size: int) -> None:
        super().__init__()
        self.points, self.size = points, size

    def forward(self, x):
        b, k = x.shape[0], self.points.shape[0]
        out = torch.full((b, k, self.size, self.size), -30.0)
        for j, (u, v) in enumerate(self.points.long().tolist()):
            out[:, j, v, u] = 30.0
        return out


def test_evaluate_model_maps_heatmap_points_back_through_the_crop(roots):
    # every landmark at heatmap pixel (8, 8) of 16: the centre of the 64-px crop = box centre
    protos = load_protocols(["300w-test"], roots)
    model = _Oracle(torch.full((68, 2), 8.0), 16)
    codec = {"input_size": 64, "heatmap_size": 16, "decoder": "get_bc", "softmax": True}
    ev = evaluate_model(model, "300w", codec, protos)["300w-test"]
    p = protos["300w-test"]
    for i, sid in enumerate(p.ids):
        box = p.box(i)
        centre = (box[:2] + box[2:]) / 2
        # heatmap pixel 8 of 16 (centres at integers) is input pixel 8 * 4 + 1.5 = 33.5 of 64,
        # i.e. 1.5 px past the crop centre 31.5, scaled by the crop side / 64
        side = 1.25 * max(box[2] - box[0], box[3] - box[1])
        expected = centre + 2.0 * side / 64
        np.testing.assert_allclose(
            ev.predictions.landmarks[sid], np.tile(expected, (68, 1)), atol=0.2
        )


def test_clean_counterparts_are_the_same_images_unperturbed(roots):
    from otmark.study.config import CED_THETAS
    from otmark.study.scoring import evaluation_record, with_clean_counterparts

    protos = load_protocols(["300w-full", "occlusion-medium", "occlusion-large"], roots)
    both = with_clean_counterparts(protos)
    assert set(both) == set(protos) | {"occlusion-medium:clean", "occlusion-large:clean"}
    clean = both["occlusion-large:clean"]
    assert clean is both["occlusion-medium:clean"]  # one object: scored once
    assert clean.spec.perturbation is None and clean.ids == protos["occlusion-large"].ids
    for i in range(len(clean)):
        # the unperturbed image of the occlusion protocol is the clean protocol's image
        np.testing.assert_array_equal(clean.input_image(i), protos["300w-full"].input_image(i))
        np.testing.assert_array_equal(clean.box(i), protos["occlusion-large"].box(i))
    assert any(
        not np.array_equal(clean.input_image(i), protos["occlusion-large"].input_image(i))
        for i in range(len(clean))
    )
    # the per-image record: ids, NME per image (%) whose mean is the summary's NME
    gt = np.stack([s.landmarks for s in clean.samples])
    shift = np.zeros_like(gt)
    shift[:, ::2, 0] = 3.0  # every other point 3 px off, the rest exact
    ev = score_predictions(clean, gt + shift, "300w")
    rec = evaluation_record(ev, CED_THETAS)
    assert rec["ids"] == clean.ids and len(rec["nme_per_image"]) == len(clean)
    np.testing.assert_allclose(rec["nme_per_image"], 100 * ev.errors.mean(axis=1), atol=1e-5)
    assert np.mean(rec["nme_per_image"]) == pytest.approx(rec["summary"]["NME"], abs=1e-4)
    # FR^L_0.05: the share of points with an error above 0.05
    assert rec["summary"]["FR^L_0.05"] == pytest.approx(100 * np.mean(ev.errors > 0.05))
    # ... and per image: its terms, whose mean is that share (equal point counts)
    np.testing.assert_allclose(rec["frl05_per_image"], 100 * np.mean(ev.errors > 0.05, axis=1))
    assert np.mean(rec["frl05_per_image"]) == pytest.approx(rec["summary"]["FR^L_0.05"])
    assert 0 < rec["summary"]["FR^L_0.05"] <= 50  # only the shifted points can fail

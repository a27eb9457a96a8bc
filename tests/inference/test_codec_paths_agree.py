"""One checkpoint, every reading path: training validation (``otmark.engine.predict`` and
``evaluate``), ``otmark evaluate``, ``Detector`` and its ONNX runtime decode through the
checkpoint's codec to the same image coordinates.

The checkpoint is a real ``hrnet_tiny`` written by the engine's checkpoint writer, with a codec
that differs from every field default where it can: ``get_bc`` on a Wasserstein (logit) model.
"""

import json

import cv2
import numpy as np
import pytest
import torch

from otmark.engine import (
    EpochSampler,
    build_dataset,
    build_loader,
    build_model,
    config_from_dict,
    evaluate,
    model_kwargs,
    predict,
    save_checkpoint,
)
from otmark.heatmaps import HeatmapCodec
from otmark.inference import Detector
from otmark.models import load_model_from_checkpoint
from otmark.schemes import get_scheme

SIZE = 64  # image side; the crops are 64 px with 16 px heatmaps
N_IMAGES = 3
# float32 graph / BatchNorm folding differences move a softmax barycenter by ~1e-5 px
ATOL = 1e-3


def _write_faces(root):
    """Three 300W iBUG images with their ``.pts`` (the ``300w-challenge`` protocol)."""
    from otmark.datasets import ImageRef, Sample
    from otmark.datasets.w300 import write_300w

    k = get_scheme("300w").num_points
    rng = np.random.default_rng(0)
    template = rng.uniform(-1, 1, (k, 2))
    samples, images = [], []
    for i in range(N_IMAGES):
        lm = SIZE / 2 + rng.uniform(-3, 3, 2) + template * SIZE * 0.28 * rng.uniform(0.9, 1.1)
        img = rng.integers(0, 60, (SIZE, SIZE, 3), dtype=np.uint8)
        for x, y in lm:
            cv2.circle(img, (round(x), round(y)), 1, (255, 220, 200), -1)
        samples.append(Sample(ImageRef(root / f"v{i}.png"), lm, "300w", id=f"v{i}"))
        images.append(img)
    write_300w(root, "ibug", samples, images, names=[f"v{i}.png" for i in range(N_IMAGES)])


def _config(root, out):
    return config_from_dict(
        {
            "name": "codec-paths",
            "data": {"dataset": "300w", "root": str(root), "num_workers": 0},
            "model": {"name": "hrnet_tiny"},
            "codec": {"input_size": 64, "heatmap_size": 16, "sigma": 1.0, "decoder": "get_bc"},
            "loss": {"name": "wasserstein"},
            "train": {"output_dir": str(out), "device": "cpu"},
        }
    )


def _calibrate(model):
    """Trained-like weights (unit-gain convolutions, BatchNorm statistics of one batch), so
    that the heatmap logits are O(1) and the decoded points differ between landmarks (HRNet's
    init gives ~1e-20 logits, which every decoder reads as the heatmap centre)."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, 64, 64))
    return model.eval()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("codec_paths")
    root = tmp / "300W"
    _write_faces(root)
    cfg = _config(root, tmp / "run")
    k = get_scheme("300w").num_points
    ckpt = save_checkpoint(
        tmp / "model.pt",
        model=_calibrate(build_model(cfg, k)),
        model_name=cfg.model.name,
        model_kwargs=model_kwargs(cfg, k),
        scheme="300w",
        codec=cfg.codec.to_dict(),
        config=cfg.to_dict(),
    )
    return tmp, root, cfg, ckpt


@pytest.fixture(scope="module")
def validated(setup):
    """Training validation's predictions ``(N, K, 2)`` (ids sorted), metrics, model, loader."""
    from otmark import datasets

    _, root, cfg, ckpt = setup
    samples = datasets.load("300w", root, "challenge")
    ds = build_dataset(cfg, samples, train=False)
    loader = build_loader(ds, EpochSampler(len(ds), shuffle=False), batch_size=2)
    model, _ = load_model_from_checkpoint(ckpt)
    idx, pred = predict(model, loader, torch.device("cpu"))  # the dataset's codec: cfg.codec
    metrics = evaluate(model, loader, torch.device("cpu"), codec=cfg.codec)  # as the trainer
    by_id = {samples[i].id: p for i, p in zip(idx, pred)}
    ids = sorted(by_id)
    return ids, np.stack([by_id[i] for i in ids]), metrics, model, loader


@pytest.fixture(scope="module")
def protocol_inputs(setup, validated):
    """The ``300w-challenge`` images and boxes, in the order of the validated ids."""
    from otmark.protocols import build_protocol

    protocol = build_protocol("300w-challenge", setup[1])
    order = [protocol.ids.index(i) for i in validated[0]]
    return [protocol.input_image(j) for j in order], [protocol.box(j)[None] for j in order]


def test_validation_decodes_with_the_checkpoint_codec(setup, validated):
    _, _, cfg, ckpt = setup
    _, want, metrics, model, loader = validated
    assert (cfg.codec.decoder, cfg.codec.softmax) == ("get_bc", True)  # not the field defaults
    assert (HeatmapCodec().decoder, HeatmapCodec().softmax) == ("get_max", False)
    _, meta = load_model_from_checkpoint(ckpt)
    assert HeatmapCodec.from_dict(meta["codec"]) == cfg.codec
    assert want.shape == (N_IMAGES, 68, 2) and np.isfinite(want).all()
    assert np.ptp(want[0], axis=0).min() > 1.0  # the points spread out: not a constant model
    assert np.isfinite(metrics["NME"])
    # the comparisons below have teeth: any other decoder setting moves the points
    for other in (HeatmapCodec(64, 16), HeatmapCodec(64, 16, decoder="get_bc")):
        _, moved = predict(model, loader, torch.device("cpu"), codec=other)
        assert np.abs(moved - want).max() > 0.1


def test_otmark_evaluate_gives_the_validation_coordinates(setup, validated, tmp_path, monkeypatch):
    from otmark.cli.main import main
    from otmark.protocols import read_predictions

    _, root, _, ckpt = setup
    ids, want, metrics, _, _ = validated
    # one prediction per face: the detector's re-crops from its predicted landmarks
    # (passes > 1) move the crop, not the decoding; validation crops once, at the ground truth
    from_checkpoint = Detector.from_checkpoint.__func__
    monkeypatch.setattr(
        Detector,
        "from_checkpoint",
        classmethod(lambda cls, *args, **kw: from_checkpoint(cls, *args, **{**kw, "passes": 1})),
    )
    out = tmp_path / "eval"
    argv = ["evaluate", "--data-root", str(root), "--protocol", "300w-challenge"]
    argv += ["--checkpoint", str(ckpt), "--out", str(out), "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    got = read_predictions(out / "predictions.json").for_ids(ids)
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)
    results = json.loads((out / "results.json").read_text())
    assert results["summary"]["NME"] == pytest.approx(metrics["NME"], abs=1e-3)


def test_detector_gives_the_validation_coordinates(setup, validated, protocol_inputs):
    cfg, ckpt = setup[2], setup[3]
    det = Detector.from_checkpoint(ckpt, device="cpu", passes=1)
    assert det.codec == cfg.codec
    got = np.stack([p[0] for p in det.predict_many(*protocol_inputs)])
    np.testing.assert_allclose(got, validated[1], atol=ATOL, rtol=0)


def test_onnx_model_gives_the_validation_coordinates(setup, validated, protocol_inputs, tmp_path):
    pytest.importorskip("onnxruntime")
    from otmark.export import export_checkpoint

    cfg, ckpt = setup[2], setup[3]
    onnx_path = tmp_path / "model.onnx"
    export_checkpoint(ckpt, onnx_path, verify_batch=0)
    det = Detector.from_onnx(onnx_path, device="cpu", passes=1)
    assert det.codec == cfg.codec
    got = np.stack([p[0] for p in det.predict_many(*protocol_inputs)])
    np.testing.assert_allclose(got, validated[1], atol=ATOL, rtol=0)


def test_metadata_softmax_comes_from_the_loss_and_old_files_read_as_before():
    from otmark.inference import codec_from_meta

    sizes = {"input_size": 64, "heatmap_size": 16}
    assert codec_from_meta({**sizes, "loss": "l2"}) == HeatmapCodec(64, 16, decoder="get_bc")
    assert codec_from_meta({**sizes, "loss": "js", "softmax": True}).softmax
    with pytest.raises(ValueError, match="disagrees with loss 'l2'"):
        codec_from_meta({**sizes, "loss": "l2", "softmax": True})
    # files from before the codec stored every field: GET_BC on logits, sigma's field default
    assert codec_from_meta(sizes) == HeatmapCodec(64, 16, 1.0, "get_bc", True)

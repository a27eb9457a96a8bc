"""Detector from real checkpoints and ONNX files; whole runs over folders and videos."""

import json

import cv2
import numpy as np
import pytest
import torch

from otmark.inference import (
    Detector,
    fixed_boxes,
    read_results_csv,
    read_results_json,
    run_detection,
    table_boxes,
)
from otmark.inference.onnx import read_onnx_meta, sidecar_paths
from otmark.models import create_model
from otmark.schemes import get_scheme

SCHEME = "cofw"
CODEC = {"input_size": 64, "heatmap_size": 16, "sigma": 1.5, "decoder": "get_bc", "softmax": True}


def tiny_model(seed=0):
    torch.manual_seed(seed)
    model = create_model("hrnet_tiny", get_scheme(SCHEME).num_points)
    # the head is initialised near zero (flat heatmaps): draw larger random weights
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 1.0 / np.sqrt(p[0].numel()))
    return model.eval()


def save_checkpoint(path, model, **extra):
    ckpt = {
        "model_name": "hrnet_tiny",
        "model_kwargs": {"num_landmarks": get_scheme(SCHEME).num_points},
        "model": model.state_dict(),
        "scheme": SCHEME,
        "codec": dict(CODEC),
        **extra,
    }
    torch.save(ckpt, path)
    return path


def rgb(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


BOXES = np.array([[5.0, 8.0, 45.0, 52.0], [40.0, 10.0, 70.0, 44.0]])


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture
def ckpt(tmp_path, model):
    return save_checkpoint(tmp_path / "tiny.pt", model)


def test_from_checkpoint_matches_the_model_and_stays_in_the_crop(ckpt, model):
    img = rgb(60, 80, 1)
    det = Detector.from_checkpoint(ckpt, device="cpu", passes=1)  # the box crop only
    assert det.codec.input_size == 64 and det.scheme.name == SCHEME
    pred = det.predict(img, BOXES)
    ref = Detector.from_model(model, SCHEME, CODEC, device="cpu", passes=1).predict(img, BOXES)
    assert pred.shape == (2, get_scheme(SCHEME).num_points, 2)
    np.testing.assert_allclose(pred, ref, atol=1e-9)
    # a barycenter lies inside the square the crop covers (side 1.25 * max box side)
    for b, p in zip(BOXES, pred):
        c = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
        half = 1.25 * max(b[2] - b[0], b[3] - b[1]) / 2
        assert np.all(np.abs(p - c) <= half)
    assert np.ptp(pred[0], axis=0).min() > 0.1  # not all points collapsed


def test_flip_test_and_batching_do_not_change_shapes(ckpt):
    img = rgb(60, 80, 2)
    a = Detector.from_checkpoint(ckpt, device="cpu", flip_test=True, batch_size=1).predict(
        img, BOXES
    )
    b = Detector.from_checkpoint(ckpt, device="cpu", flip_test=True, batch_size=16).predict(
        img, BOXES
    )
    np.testing.assert_allclose(a, b, atol=1e-4)  # batching is invisible (float32 noise)


def test_bad_checkpoints_name_the_file(tmp_path, model):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        Detector.from_checkpoint(tmp_path / "missing.pt")
    path = save_checkpoint(tmp_path / "nocodec.pt", model)
    ckpt = torch.load(path, weights_only=True)
    del ckpt["codec"]
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match=r"nocodec\.pt: model metadata needs"):
        Detector.from_checkpoint(path)


# --- ONNX ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory, model):
    from otmark.export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "m.onnx"
    return export_onnx(model, path, 64, meta={"scheme": SCHEME, "codec": CODEC})


def test_onnx_detector_matches_torch(onnx_file, model):
    path = onnx_file
    meta = read_onnx_meta(path)
    assert meta["scheme"] == SCHEME and meta["codec"]["decoder"] == "get_bc"
    img = rgb(60, 80, 3)
    det = Detector.from_onnx(path, flip_test=True)
    ref = Detector.from_model(model, SCHEME, CODEC, device="cpu", flip_test=True)
    np.testing.assert_allclose(det.predict(img, BOXES), ref.predict(img, BOXES), atol=1e-3)


def test_onnx_sidecar_metadata_and_missing_metadata(tmp_path, onnx_file):
    import onnx

    path = tmp_path / "m.onnx"
    proto = onnx.load(str(onnx_file))
    del proto.metadata_props[:]
    onnx.save(proto, str(path))
    with pytest.raises(ValueError, match=r"m\.onnx: no otmark metadata"):
        read_onnx_meta(path)
    sidecar_paths(path)[0].write_text(json.dumps({"scheme": SCHEME, "codec": CODEC}))
    det = Detector.from_onnx(path)
    assert det.codec.heatmap_size == 16 and det.num_landmarks == get_scheme(SCHEME).num_points
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(ValueError, match=r"junk\.onnx: not a readable ONNX model"):
        read_onnx_meta(tmp_path / "junk.onnx")


# --- whole runs ----------------------------------------------------------------------------------


def write_png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def test_folder_run_writes_consistent_outputs(tmp_path, ckpt):
    images = {"a.png": rgb(60, 80, 4), "b.png": rgb(50, 90, 5), "c.png": rgb(70, 70, 6)}
    for name, img in images.items():
        write_png(tmp_path / "in" / name, img)
    table = {"a.png": BOXES, "b.png": BOXES[:1]}  # c.png: no box -> no face
    det = Detector.from_checkpoint(ckpt, device="cpu")
    run = run_detection(det, tmp_path / "in", tmp_path / "out", boxes_for=table_boxes(table))
    header, results = read_results_json(tmp_path / "out" / "landmarks.json")
    assert header["scheme"] == SCHEME
    assert [(r.source, len(r.faces), r.width, r.height) for r in results] == [
        ("a.png", 2, 80, 60),
        ("b.png", 1, 90, 50),
        ("c.png", 0, 70, 70),
    ]
    for r in results:
        if r.faces:
            expected = det.predict(images[r.source], table[r.source])
            # frames share batches: float32 results depend on the batch by ~1e-5 px
            np.testing.assert_allclose([f.landmarks for f in r.faces], expected, atol=1e-4)
            np.testing.assert_array_equal([f.box for f in r.faces], table[r.source])
    from_csv = read_results_csv(tmp_path / "out" / "landmarks.csv")
    for a, b in zip(results, from_csv):
        assert (a.source, len(a.faces)) == (b.source, len(b.faces))
        for fa, fb in zip(a.faces, b.faces):
            np.testing.assert_array_equal(fa.landmarks, fb.landmarks)
    for name, img in images.items():
        overlay = cv2.imread(str(tmp_path / "out" / "overlays" / name))
        assert overlay.shape == img.shape
    # c.png had no face: its overlay is the image itself
    c = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "overlays" / "c.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(c, images["c.png"])
    assert run.num_faces == 3 and len(run.files) == 5


def test_video_run_writes_one_result_per_frame_and_an_overlay_video(tmp_path, ckpt):
    frames = [rgb(48, 64, s) for s in range(3)]
    writer = cv2.VideoWriter(
        str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48)
    )
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    det = Detector.from_checkpoint(ckpt, device="cpu")
    run = run_detection(
        det, tmp_path / "clip.avi", tmp_path / "out", boxes_for=fixed_boxes(BOXES[:1])
    )
    _, results = read_results_json(tmp_path / "out" / "landmarks.json")
    assert [(r.source, r.frame, len(r.faces)) for r in results] == [
        ("clip.avi", 0, 1),
        ("clip.avi", 1, 1),
        ("clip.avi", 2, 1),
    ]
    video = tmp_path / "out" / "clip_landmarks.mp4"
    assert run.files[-1] == video
    cap = cv2.VideoCapture(str(video))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "clip_landmarks.mp4",
        "landmarks.csv",
        "landmarks.json",
    ]


def test_overlay_names_do_not_collide(tmp_path):
    from otmark.inference.pipeline import overlay_png_path

    taken = set()
    names = [overlay_png_path(tmp_path, n, taken).name for n in ("a.png", "a.jpg", "b.JPG")]
    assert names == ["a.png", "a_jpg.png", "b.png"]


def test_onnx_cuda_request_without_the_provider_names_the_file(onnx_file):
    from otmark.inference.onnx import cuda_provider_available

    if cuda_provider_available():
        pytest.skip("onnxruntime has CUDA here")
    with pytest.raises(ValueError, match=r"m\.onnx: onnxruntime has no CUDA execution provider"):
        Detector.from_onnx(onnx_file, device="cuda")
    assert Detector.from_onnx(onnx_file).backend.session.get_providers() == ["CPUExecutionProvider"]

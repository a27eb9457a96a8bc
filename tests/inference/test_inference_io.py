"""Inputs (image, folder, video), result files (JSON/CSV round trips), overlays, atomic writes."""

import csv
import json

import cv2
import numpy as np
import pytest

from otmark.inference import (
    Face,
    FrameResult,
    InputError,
    VideoOverlayWriter,
    draw_faces,
    input_kind,
    iter_frames,
    read_results_csv,
    read_results_json,
    write_results_csv,
    write_results_json,
)
from otmark.inference.results import csv_header


def rgb(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write_png(path, image):
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def write_video(path, frames, fourcc="MJPG", fps=7.0):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()


# --- inputs ---------------------------------------------------------------------------------------


def test_single_image_is_read_as_rgb(tmp_path):
    img = rgb(9, 11, 0)
    write_png(tmp_path / "a.png", img)
    frames = list(iter_frames(tmp_path / "a.png"))
    assert [(f.source, f.frame) for f in frames] == [("a.png", None)]
    np.testing.assert_array_equal(frames[0].image, img)  # PNG is lossless: RGB order kept


def test_folder_lists_images_sorted_and_skips_other_files(tmp_path):
    for name, seed in (("b.png", 1), ("a.jpg", 2), ("c.bmp", 3)):
        write_png(tmp_path / name, rgb(8, 8, seed))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    assert input_kind(tmp_path) == "folder"
    assert [f.source for f in iter_frames(tmp_path)] == ["a.jpg", "b.png", "c.bmp"]


def test_recursive_folder_uses_relative_names(tmp_path):
    (tmp_path / "top" / "sub").mkdir(parents=True)
    write_png(tmp_path / "top" / "sub" / "a.png", rgb(8, 8, 2))
    with pytest.raises(InputError, match="--recursive also reads sub-folders"):
        list(iter_frames(tmp_path / "top"))
    write_png(tmp_path / "top" / "b.png", rgb(8, 8, 1))
    assert [f.source for f in iter_frames(tmp_path / "top")] == ["b.png"]
    names = [f.source for f in iter_frames(tmp_path / "top", recursive=True)]
    assert names == ["b.png", "sub/a.png"]


def test_video_frames_in_order(tmp_path):
    frames = [np.full((16, 24, 3), v, dtype=np.uint8) for v in (20, 120, 220)]
    write_video(tmp_path / "v.avi", frames)
    got = list(iter_frames(tmp_path / "v.avi"))
    assert [(f.source, f.frame) for f in got] == [("v.avi", 0), ("v.avi", 1), ("v.avi", 2)]
    means = [f.image.mean() for f in got]
    np.testing.assert_allclose(means, [20, 120, 220], atol=3)  # MJPEG is lossy


@pytest.mark.parametrize("name", ["broken.png", "broken.mp4", "empty.jpg"])
def test_unreadable_inputs_name_the_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else b"this is not media" * 10)
    with pytest.raises(InputError, match=name.replace(".", r"\.")):
        list(iter_frames(path))


def test_unreadable_image_inside_a_folder_is_named(tmp_path):
    write_png(tmp_path / "a.png", rgb(8, 8, 0))
    (tmp_path / "z.png").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"z\.png: not a readable image"):
        list(iter_frames(tmp_path))


def test_missing_input_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        list(iter_frames(tmp_path / "nope.png"))
    with pytest.raises(InputError, match="holds no image"):
        list(iter_frames(tmp_path))


# --- result files ---------------------------------------------------------------------------------


def sample_results(k=3):
    rng = np.random.default_rng(5)
    face = lambda: Face(rng.uniform(0, 50, 4), rng.uniform(-1, 60, (k, 2)))  # noqa: E731
    return [
        FrameResult("a.png", None, 64, 48, [face(), face()]),
        FrameResult("sub/b.png", None, 32, 32, []),
        FrameResult("v.mp4", 0, 20, 10, [face()]),
        FrameResult("v.mp4", 1, 20, 10, []),
    ]


def assert_same_results(a, b, sizes=True):
    assert [(r.source, r.frame, len(r.faces)) for r in a] == [
        (r.source, r.frame, len(r.faces)) for r in b
    ]
    for ra, rb in zip(a, b):
        if sizes:
            assert (ra.width, ra.height) == (rb.width, rb.height)
        for fa, fb in zip(ra.faces, rb.faces):
            np.testing.assert_array_equal(fa.box, fb.box)  # full float precision
            np.testing.assert_array_equal(fa.landmarks, fb.landmarks)


def test_json_round_trip(tmp_path):
    results = sample_results()
    write_results_json(tmp_path / "out" / "l.json", results, "toy", 3)
    header, back = read_results_json(tmp_path / "out" / "l.json")
    assert header == {"scheme": "toy", "num_landmarks": 3, "version": 1}
    assert_same_results(results, back)
    doc = json.loads((tmp_path / "out" / "l.json").read_text())
    assert doc["items"][1]["faces"] == [] and doc["items"][0]["frame"] is None


def test_csv_round_trip_and_documented_columns(tmp_path):
    results = sample_results()
    write_results_csv(tmp_path / "l.csv", results, 3)
    with open(tmp_path / "l.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [
        "source", "frame", "face", "box_x0", "box_y0", "box_x1", "box_y1",
        "x0", "y0", "x1", "y1", "x2", "y2",
    ]  # fmt: skip
    assert [r[:3] for r in rows[1:]] == [
        ["a.png", "", "0"], ["a.png", "", "1"], ["sub/b.png", "", ""],
        ["v.mp4", "0", "0"], ["v.mp4", "1", ""],
    ]  # fmt: skip
    assert float(rows[1][7]) == results[0].faces[0].landmarks[0, 0]
    assert_same_results(results, read_results_csv(tmp_path / "l.csv"), sizes=False)


def test_csv_rejects_wrong_landmark_count_and_bad_files(tmp_path):
    with pytest.raises(ValueError, match="expected \\(4, 2\\)"):
        write_results_csv(tmp_path / "x.csv", sample_results(3), 4)
    assert not (tmp_path / "x.csv").exists()  # nothing half-written
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(csv_header(1)) + "\na.png,,0,1,2,3,4,5\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2: expected 9 cells"):
        read_results_csv(bad)
    bad.write_text("source,frame\n")
    with pytest.raises(ValueError, match=r"bad\.csv:1"):
        read_results_csv(bad)


# --- overlays (atomic writing itself: tests/test_atomic.py) ---


def test_draw_faces_draws_sub_pixel_dots_at_the_landmarks():
    img = np.zeros((40, 50, 3), dtype=np.uint8)
    pts = np.array([[12.0, 20.0], [30.25, 9.5]])
    face = Face(np.array([5.0, 5.0, 45.0, 35.0]), pts)
    out = draw_faces(img, [face], point_color=(0, 255, 0), radius=3.0, draw_boxes=False)
    assert img.max() == 0  # the input is not modified
    assert out[..., 0].max() == 0 and out[..., 2].max() == 0  # pure green: RGB order kept
    g = out[..., 1].astype(float)
    yy, xx = np.mgrid[0:40, 0:50]
    dist = np.stack([np.hypot(xx - x, yy - y) for x, y in pts])
    assert np.all(g[dist.min(0) > 3.0 + 2.0] == 0)  # nothing drawn away from the dots
    for k, (x, y) in enumerate(pts):
        w = g * (dist[k] < 6)
        centroid = ((xx * w).sum() / w.sum(), (yy * w).sum() / w.sum())
        np.testing.assert_allclose(centroid, (x, y), atol=0.1)  # sub-pixel placement
    boxed = draw_faces(img, [face], box_color=(255, 0, 0), radius=1.0)
    assert boxed[20, 5, 0] > 100 and boxed[20, 25, 0] == 0  # box edge at x = 5, not inside


def test_video_writer_writes_all_frames_atomically(tmp_path):
    frames = [np.full((24, 32, 3), v, dtype=np.uint8) for v in (0, 100, 200, 250)]
    for suffix in (".mp4", ".avi"):
        path = tmp_path / f"o{suffix}"
        with VideoOverlayWriter(path, fps=5) as w:
            for f in frames:
                w.write(f)
        got = list(iter_frames(path))
        assert len(got) == 4 and got[0].image.shape == (24, 32, 3)
        np.testing.assert_allclose([g.image.mean() for g in got], [0, 100, 200, 250], atol=6)
    with pytest.raises(RuntimeError), VideoOverlayWriter(tmp_path / "fail.mp4", fps=5) as w:
        w.write(frames[0])
        raise RuntimeError("boom")
    with pytest.raises(ValueError, match="no frame"), VideoOverlayWriter(tmp_path / "e.avi", 5):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.avi", "o.mp4"]
    with pytest.raises(ValueError, match="must end in"):
        VideoOverlayWriter(tmp_path / "x.gif", 5)


# --- what an input leaves out, and given boxes against the input ----------------------------------


def test_skip_records_unreadable_images_and_video_counts(tmp_path):
    from otmark.inference import InputReport

    write_png(tmp_path / "a.png", rgb(6, 7, 0))
    (tmp_path / "b.png").write_bytes(b"nope")
    write_png(tmp_path / "c.png", rgb(6, 7, 2))
    report = InputReport()
    got = [f.source for f in iter_frames(tmp_path, on_error="skip", report=report)]
    assert got == ["a.png", "c.png"]
    assert report.skipped == [("b.png", "not a readable image")]
    assert report.to_json() == {"skipped": [{"source": "b.png", "reason": "not a readable image"}]}
    with pytest.raises(ValueError, match="on_error must be one of"):
        list(iter_frames(tmp_path, on_error="ignore"))
    write_video(tmp_path / "v.avi", [rgb(8, 8, i) for i in range(3)])
    report = InputReport()
    assert len(list(iter_frames(tmp_path / "v.avi", report=report))) == 3
    assert (report.frames_decoded, report.frames_announced, report.truncated) == (3, 3, False)


def test_box_table_coverage_and_overlap(tmp_path):
    from otmark.inference import Frame, box_table_coverage, check_boxes_overlap

    (tmp_path / "sub").mkdir()
    write_png(tmp_path / "a.png", rgb(4, 4, 0))
    write_png(tmp_path / "sub" / "b.png", rgb(4, 4, 1))
    table = {k: np.zeros((1, 4)) for k in ("a.png", "sub/b.png", "b.png", "c.png")}
    assert box_table_coverage(table, tmp_path) == (["a.png"], ["sub/b.png", "b.png", "c.png"])
    assert box_table_coverage(table, tmp_path, recursive=True) == (
        ["a.png", "sub/b.png", "b.png"],
        ["c.png"],
    )
    write_video(tmp_path / "v.avi", [rgb(8, 8, i) for i in range(3)])
    frames = {k: np.zeros((1, 4)) for k in ("0", "2", "3", "02", "x")}
    assert box_table_coverage(frames, tmp_path / "v.avi") == (["0", "2"], ["3", "02", "x"])
    frame = Frame("a.png", None, rgb(10, 20, 0))  # covers [-0.5, 19.5] x [-0.5, 9.5]
    edge = np.array([[19.4, 9.4, 30.0, 30.0], [-9.0, -9.0, -0.4, -0.4]])
    assert check_boxes_overlap(edge, frame, "--box") is edge
    with pytest.raises(InputError, match=r"--box 19.5,0,30,5 lies entirely outside the 20x10"):
        check_boxes_overlap(np.array([[19.5, 0.0, 30.0, 5.0]]), frame, "--box")

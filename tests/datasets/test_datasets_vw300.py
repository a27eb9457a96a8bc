import numpy as np
import pytest

from otmark.datasets import DatasetError, load, write_300vw_video
from otmark.datasets.vw300_lists import (
    ALL_VIDEOS,
    SPLIT_VIDEOS,
    TEST1,
    TEST2,
    TEST3,
    TRAIN,
    broken_frames,
)

H, W = 32, 48


def _frames(t):
    """Frame i is a flat grey of level 20 + 30 * i with a white square at x = 4 * i."""
    out = []
    for i in range(t):
        f = np.full((H, W, 3), 20 + 30 * i, np.uint8)
        f[8:16, 4 * i : 4 * i + 8] = 255
        out.append(f)
    return out


def _landmarks(t):
    return [np.full((68, 2), float(i)) + np.arange(68)[:, None] * 0.01 for i in range(t)]


def test_official_lists():
    assert (len(ALL_VIDEOS), len(TRAIN), len(TEST1), len(TEST2), len(TEST3)) == (
        114,
        50,
        31,
        19,
        14,
    )
    assert not set(TRAIN) & set(TEST1 + TEST2 + TEST3)
    assert set(TRAIN + TEST1 + TEST2 + TEST3) == set(ALL_VIDEOS)
    assert SPLIT_VIDEOS["test"] == TEST1 + TEST2 + TEST3
    assert 722 in broken_frames("401") and 721 not in broken_frames("401")
    assert broken_frames("001") == frozenset()


def test_frames_pair_with_annotations(tmp_path):
    t = 6
    frames, lms = _frames(t), _landmarks(t)
    lms[3] = None  # frame 4 not annotated
    write_300vw_video(tmp_path, "114", frames, lms)
    assert (tmp_path / "114" / "annot" / "000001.pts").is_file()
    assert not (tmp_path / "114" / "annot" / "000004.pts").exists()
    res = load("300vw", tmp_path, "test1")
    assert [s.id for s in res] == [
        "114/000001",
        "114/000002",
        "114/000003",
        "114/000005",
        "114/000006",
    ]
    # the other 30 category-1 videos are not in root: excluded, not errors
    assert len(res.excluded) == 30 and not res.skipped
    import cv2

    cap = cv2.VideoCapture(str(tmp_path / "114" / "vid.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == t
    cap.release()
    for s in res:
        i = s.image.frame
        assert s.attributes == {"video": "114", "frame_number": i + 1}
        np.testing.assert_allclose(s.landmarks, lms[i], atol=1e-9)
        img = s.load_image()
        assert img.shape == (H, W, 3)
        # pixel content: right grey level (MJPG is lossy) and the square at the right place
        assert abs(float(np.median(img[20:, :])) - (20 + 30 * i)) < 6
        assert img[12, 4 * i + 4].min() > 200


def test_known_broken_frames_are_excluded(tmp_path):
    # video 531 (category 3): frame 109 is on mmpose's broken list, 108 and 110 are not
    t = 110
    frames = [np.full((8, 8, 3), 100, np.uint8)] * t
    lms = [None] * 107 + [np.full((68, 2), float(n)) for n in (108, 109, 110)]
    write_300vw_video(tmp_path, "531", frames, lms)
    res = load("300vw", tmp_path, "test3")
    assert [s.attributes["frame_number"] for s in res] == [108, 110]
    broken = [e for e in res.excluded if "broken" in e[1]]
    assert len(broken) == 1 and broken[0][0].endswith("000109.pts")
    kept = load("300vw", tmp_path, "test3", skip_broken=False)
    assert [s.attributes["frame_number"] for s in kept] == [108, 109, 110]
    np.testing.assert_array_equal(kept[1].landmarks, np.full((68, 2), 109.0))


def test_no_video_of_split_present(tmp_path):
    write_300vw_video(tmp_path, "114", _frames(2), _landmarks(2))
    with pytest.raises(DatasetError, match=r"none of the 50 videos of 300VW split 'train'"):
        load("300vw", tmp_path, "train")


def test_explicit_videos(tmp_path):
    write_300vw_video(tmp_path, "001", _frames(2), _landmarks(2))
    assert len(load("300vw", tmp_path, "train", videos=["001"])) == 2
    with pytest.raises(DatasetError, match=r"002: 300VW video folder does not exist"):
        load("300vw", tmp_path, "train", videos=["001", "002"])


def test_undecodable_video(tmp_path):
    write_300vw_video(tmp_path, "114", _frames(2), _landmarks(2))
    write_300vw_video(tmp_path, "124", _frames(2), _landmarks(2))
    (tmp_path / "124" / "vid.avi").write_bytes(b"not a video at all" * 50)
    with pytest.raises(DatasetError, match=r"124/vid.avi: video has no decodable frames"):
        load("300vw", tmp_path, "test1")
    res = load("300vw", tmp_path, "test1", on_error="skip")
    assert len(res) == 2 and len(res.skipped) == 1 and "124/vid.avi" in res.skipped[0][0]


def test_annotation_beyond_last_frame_and_bad_pts(tmp_path):
    write_300vw_video(tmp_path, "114", _frames(2), _landmarks(2))
    annot = tmp_path / "114" / "annot"
    (annot / "000009.pts").write_text((annot / "000001.pts").read_text())
    with pytest.raises(DatasetError, match=r"000009.pts: frame 9 is beyond the video's 2 frames"):
        load("300vw", tmp_path, "test1")
    (annot / "000009.pts").unlink()
    (annot / "000002.pts").write_text("version: 1\nn_points: 68\n{\n1 1\n")
    with pytest.raises(DatasetError, match=r"000002.pts:5: truncated"):
        load("300vw", tmp_path, "test1")
    (annot / "000002.pts").unlink()
    (tmp_path / "114" / "vid.avi").unlink()
    with pytest.raises(DatasetError, match=r"114/vid.avi: video file does not exist"):
        load("300vw", tmp_path, "test1")


def test_writer_checks(tmp_path):
    with pytest.raises(ValueError, match="one landmark entry per frame"):
        write_300vw_video(tmp_path, "x", _frames(2), _landmarks(1))
    with pytest.raises(ValueError, match="same size"):
        write_300vw_video(
            tmp_path,
            "x",
            [np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8)],
            [None, None],
        )

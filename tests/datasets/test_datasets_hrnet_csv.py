import numpy as np
import pytest

from otmark.datasets import DatasetError, load, read_hrnet_csv, write_300w_csv
from otmark.datasets.aflw import write_aflw
from otmark.datasets.common import hrnet_centre_scale


def test_hand_written_300w_csv_is_one_based(tmp_path):
    # two points; HRNet's header row; centre and points 1-based as in the .pts files
    (tmp_path / "f.csv").write_text(
        "image_name,scale,center_w,center_h,x0,y0,x1,y1\nibug/a.jpg,1.5,11,21,1,1,3.5,2\n"
    )
    (row,) = read_hrnet_csv(tmp_path / "f.csv", 2, one_based=True)
    assert row.line == 2 and row.image_name == "ibug/a.jpg" and row.scale == 1.5
    np.testing.assert_array_equal(row.center, [10, 20])
    np.testing.assert_array_equal(row.landmarks, [[0, 0], [2.5, 1]])
    (row,) = read_hrnet_csv(tmp_path / "f.csv", 2, one_based=False)
    np.testing.assert_array_equal(row.landmarks, [[1, 1], [3.5, 2]])


def test_hrnet_centre_scale_hand_worked():
    lm = np.array([[10.2, 20.7], [50.5, 30.1]])
    centre, scale = hrnet_centre_scale(lm)
    # floor/ceil box: x 10..51, y 20..31 -> centre (30.5, 25.5), side 41 -> scale 0.205
    np.testing.assert_allclose(centre, [30.5, 25.5])
    assert scale == pytest.approx(0.205)


def test_300w_csv_round_trip(tmp_path, faces):
    samples, images = faces("300w", 3, size=(40, 50))
    write_300w_csv(
        tmp_path, "challenge", samples, images, names=["ibug/a.png", "ibug/b.png", "c.png"]
    )
    assert (tmp_path / "images" / "ibug" / "a.png").is_file()
    res = load("300w-csv", tmp_path, "challenge")
    assert [s.id for s in res] == ["ibug/a.png@2", "ibug/b.png@3", "c.png@4"]
    for got, s, img in zip(res, samples, images):
        np.testing.assert_allclose(got.landmarks, s.landmarks, atol=1e-6)
        np.testing.assert_array_equal(got.load_image(), img)
        centre, scale = hrnet_centre_scale(s.landmarks)
        np.testing.assert_allclose(got.attributes["center"], centre)
        assert got.attributes["scale"] == pytest.approx(scale)
        side = 200 * scale  # box reproduces HRNet's crop square
        np.testing.assert_allclose(got.box, [*(centre - side / 2), *(centre + side / 2)])
    # on disk the coordinates are 1-based
    line = (tmp_path / "face_landmarks_300w_valid_challenge.csv").read_text().splitlines()[1]
    x0 = float(line.split(",")[4])
    assert x0 == pytest.approx(samples[0].landmarks[0, 0] + 1)


def test_aflw_round_trip_box_size(tmp_path, faces):
    samples, images = faces("aflw", 2, size=(30, 30))
    samples[0].attributes["box_size"] = 77.5
    samples[0].attributes["scale"] = 0.4
    samples[0].attributes["center"] = np.array([14.0, 15.0])
    write_aflw(tmp_path, "frontal", samples, images)
    header = (tmp_path / "face_landmarks_aflw_test_frontal.csv").read_text().splitlines()[0]
    assert header.startswith("image_name,scale,box_size,center_w,center_h,x0,y0,x1,y1")
    assert header.endswith("x18,y18")
    res = load("aflw", tmp_path, "frontal")
    assert len(res) == 2
    a, b = res
    assert a.scheme == "aflw" and a.landmarks.shape == (19, 2)
    assert a.attributes["box_size"] == 77.5 and a.attributes["scale"] == 0.4
    np.testing.assert_allclose(a.box, [-26, -25, 54, 55])
    np.testing.assert_allclose(a.landmarks, samples[0].landmarks, atol=1e-6)
    _, scale_b = hrnet_centre_scale(samples[1].landmarks)
    assert b.attributes["box_size"] == pytest.approx(200 * scale_b)
    np.testing.assert_array_equal(b.load_image(), images[1])


def _aflw_csv(tmp_path, faces):
    samples, images = faces("aflw", 3)
    write_aflw(tmp_path, "train", samples, images)
    return tmp_path / "face_landmarks_aflw_train.csv"


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda f: f[:-1], r"expected 43 columns"),
        (lambda f: f[:6] + ["abc"] + f[7:], r"non-numeric value: 'abc'"),
        (lambda f: f[:6] + ["nan"] + f[7:], r"NaN or infinite value"),
        (lambda f: [""] + f[1:], r"empty image_name"),
        (lambda f: ["missing.png"] + f[1:], r"image .*missing.png does not exist"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path, faces, edit, message):
    path = _aflw_csv(tmp_path, faces)
    lines = path.read_text().splitlines()
    lines[2] = ",".join(edit(lines[2].split(",")))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=message) as info:
        load("aflw", tmp_path, "train")
    assert str(info.value).startswith(f"{path}:3: ")
    res = load("aflw", tmp_path, "train", on_error="skip")
    assert len(res) == 2 and res.skipped == [(f"{path}:3", info.value.problem)]


def test_missing_csv(tmp_path):
    with pytest.raises(DatasetError, match="face_landmarks_aflw_test.csv: csv file does not exist"):
        load("aflw", tmp_path, "full")


def test_splits_sharing_images_never_overwrite_another_picture(tmp_path, faces):
    """The splits of a 300W csv root share ``images/``: a training split written with the
    names of the test split's images (default names from equal sample ids) used to replace the
    test pictures silently. Now the writer refuses, naming the file; writing the same pictures
    again (a re-run) still works."""
    train, train_images = faces("300w", 2, size=(40, 50))
    test, test_images = faces("300w", 2, size=(40, 50))
    test_images = [255 - im for im in test_images]  # other pictures under the same names
    names = ["a.png", "b.png"]
    write_300w_csv(tmp_path, "challenge", test, test_images, names=names)
    write_300w_csv(tmp_path, "challenge", test, test_images, names=names)  # same pictures
    with pytest.raises(DatasetError) as err:
        write_300w_csv(tmp_path, "train", train, train_images, names=names)
    assert str(tmp_path / "images" / "a.png") in str(err.value)
    assert "face_landmarks_300w_train.csv" in str(err.value)
    res = load("300w-csv", tmp_path, "challenge")
    for got, img in zip(res, test_images):
        np.testing.assert_array_equal(got.load_image(), img)
    write_300w_csv(tmp_path, "train", train, train_images, names=["t0.png", "t1.png"])
    assert len(load("300w-csv", tmp_path, "train")) == 2

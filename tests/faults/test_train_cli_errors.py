"""The CLI's one-line description of unexpected errors, and an image that disappears while a
run is training.

The run uses no DataLoader worker: forking one inside a pytest process that has loaded
onnxruntime (tests/export) can deadlock the worker; the worker's error format is covered by
:func:`test_describe_error`."""

import errno

from train_helpers import copy_tree, load_ckpt, one_error_line, run_cli, tiny_raw, write_yaml

from otmark.cli.main import describe_error


def test_describe_error():
    full = OSError(errno.ENOSPC, "No space left on device", "/m/run/.last.tmp.x1.pt")
    assert describe_error(full) == "/m/run: no space left on device"  # the folder, not the temp
    ro = OSError(errno.EROFS, "Read-only file system", "/m/run")
    assert describe_error(ro) == "/m/run: Read-only file system (the folder is not writable)"
    hint = describe_error(ModuleNotFoundError("No module named 'onnx'", name="onnx"))
    assert hint == "the optional dependency 'onnx' is not installed (pip install 'otmark[onnx]')"
    assert describe_error(ModuleNotFoundError("x", name="yaml")) == "ModuleNotFoundError: x"
    assert describe_error(RuntimeError("")) == "RuntimeError"
    assert describe_error(ValueError("a.pts: bad\nmore")) == "a.pts: bad"
    worker = ValueError(
        "Caught ValueError in DataLoader worker process 0.\nOriginal Traceback (most recent "
        "call last):\n  File ...\nValueError: sample 3 (f3): /d/x.png: not a readable image"
    )
    assert describe_error(worker) == "sample 3 (f3): /d/x.png: not a readable image"


def test_image_removed_during_training(tiny_data, tmp_path, capsys, monkeypatch):
    """Checked at start, gone in epoch 2: the error names the image, last.pt holds the steps
    done, and once the image is back ``--resume`` finishes the run."""
    import otmark.engine.trainer as trainer

    root = copy_tree(tiny_data, tmp_path / "300W")
    image = root / "afw" / "img2_1.png"
    kept = image.read_bytes()
    raw = tiny_raw(root, tmp_path / "run")
    config = write_yaml(tmp_path / "c.yaml", raw)
    real_log = []

    def log_and_remove(line):  # the epoch-1 row is logged after its checkpoint
        real_log.append(line)
        if line.startswith("epoch 1/"):
            image.unlink()

    real_train = trainer.train
    monkeypatch.setattr(
        "otmark.engine.trainer.train",
        lambda cfg, **kw: real_train(cfg, **{**kw, "log": log_and_remove}),
    )
    code, out, err = run_cli(capsys, "train", "--config", str(config))
    assert code == 2
    line = one_error_line(err)
    assert str(image) in line and "does not exist" in line and "continue with --resume" in line
    cut = load_ckpt(tmp_path / "run" / "last.pt")
    assert cut["epoch"] == 1 and cut["mid_epoch"] and cut["reason"] == "exception"
    image.write_bytes(kept)
    monkeypatch.setattr("otmark.engine.trainer.train", real_train)
    code, out, err = run_cli(capsys, "train", "--config", str(config), "--resume")
    assert code == 0, err
    assert load_ckpt(tmp_path / "run" / "last.pt")["epoch"] == 2

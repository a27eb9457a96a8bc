"""An output folder that cannot be written and a disk that fills up: one line naming the path,
exit 2, no partial or temporary files, and the checkpoints already written stay loadable.

The read-only and full-disk cases mount a small tmpfs (root only; skipped elsewhere): as root,
``chmod`` does not make a folder read-only."""

from train_helpers import (
    load_ckpt,
    one_error_line,
    run_cli,
    temp_leftovers,
    tiny_raw,
    tmpfs,
    write_yaml,
)

from otmark.engine import config_from_dict, train


def _train_refused(tiny_data, run, tmp_path, capsys) -> tuple[str, str]:
    """``otmark train`` of the tiny config writing to ``run``: exit 2; stdout and the one line
    of stderr."""
    config = write_yaml(tmp_path / "c.yaml", tiny_raw(tiny_data, run))
    code, out, err = run_cli(capsys, "train", "--config", str(config))
    assert code == 2
    return out, one_error_line(err)


def test_output_dir_under_a_file(tiny_data, tmp_path, capsys):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    out, line = _train_refused(tiny_data, blocker / "run", tmp_path, capsys)
    assert str(blocker) in line and "Not a directory" in line
    assert blocker.read_text() == "x"


def test_read_only_output_folder(tiny_data, tmp_path, capsys):
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        out, line = _train_refused(tiny_data, ro / "run", tmp_path, capsys)
        assert str(ro / "run") in line and "Read-only file system" in line
        assert "not writable" in line
        assert list(ro.iterdir()) == []


def test_disk_full_between_last_pt_and_best_pt(tiny_data, tmp_path, capsys):
    """Room for one checkpoint but not two: ``best.pt`` cannot be written after ``last.pt``.
    The error names the file, the CLI does not print a ``best.pt`` path, ``last.pt`` (epoch 1)
    is intact and no temporary file is left."""
    probe = tmp_path / "probe"
    train(config_from_dict(tiny_raw(tiny_data, probe, optim={"epochs": 1})), log=lambda _: None)
    size = (probe / "last.pt").stat().st_size
    room = (int(size * 1.5) // 4096 + 8) * 4096  # + small files (config.yaml, logs)
    with tmpfs(tmp_path / "full", str(room)) as full:
        run = full / "run"
        out, line = _train_refused(tiny_data, run, tmp_path, capsys)
        assert str(run / "best.pt") in line and "no space left on device" in line
        assert "best.pt" not in out
        assert not (run / "best.pt").exists() and temp_leftovers(run) == []
        last = load_ckpt(run / "last.pt")
        assert last["epoch"] == 1 and last["step"] == 0
        assert (run / "config.yaml").read_text().startswith("name:")


def test_disk_full_before_the_first_checkpoint(tiny_data, tmp_path, capsys):
    """No room for any checkpoint: one line naming ``last.pt``; nothing partial is left."""
    with tmpfs(tmp_path / "full", "64k") as full:
        run = full / "run"
        out, line = _train_refused(tiny_data, run, tmp_path, capsys)
        assert str(run / "last.pt") in line and "no space left on device" in line
        assert not (run / "last.pt").exists() and temp_leftovers(run) == []

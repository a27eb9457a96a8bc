"""``otmark train``: argument handling and the errors users see (the full run is exercised by
tests/engine/test_resume.py through ``python -m otmark train``)."""

import yaml

from otmark.cli.main import main


def test_list_configs(capsys):
    assert main(["train", "--list-configs"]) == 0
    names = capsys.readouterr().out.split()
    assert "300w_w_s3_bc" in names and "wflw_l2_s1_max" in names
    assert not any(n.startswith("_") for n in names)


def test_print_config_applies_overrides(capsys):
    code = main(
        [
            "train",
            "--config",
            "cofw_w_s3_bc",
            "--print-config",
            "--set",
            "optim.lr=5e-4",
            "--set",
            "optim.milestones=[10, 20]",
        ]
    )
    assert code == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["optim"]["lr"] == 5e-4 and cfg["optim"]["milestones"] == [10, 20]
    assert cfg["loss"]["name"] == "wasserstein" and cfg["codec"]["sigma"] == 3.0
    assert cfg["name"] == "cofw_w_s3_bc"


def test_config_errors_exit_2_with_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: 300w_l2_s1_max\ntrain:\n  sed: 1\n", encoding="utf-8")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("otmark train: error:") and "bad.yaml" in err
    assert "'sed'" in err and "did you mean 'seed'" in err and "deterministic" in err
    assert main(["train", "--config", "300w_l2_s1_max", "--set", "data.root=/no/such/dir"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "--config is required" in capsys.readouterr().err

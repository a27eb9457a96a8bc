"""The table of settings: names, fields, labels, descriptions and config fragments, against
hand-written expectations."""

import pytest

from otmark import settings
from otmark.losses import LOSSES
from otmark.settings import PACKAGED, label_of, parse, spell, trained_as

# name -> (loss, sigma, decoder, coordconv, label), written out by hand from the paper's tables
EXPECTED = {
    "l2_s1_max": ("l2", 1.0, "get_max", False, "L2 σ1 GET_MAX"),
    "l2_s3_max": ("l2", 3.0, "get_max", False, "L2 σ3 GET_MAX"),
    "w_s1_bc": ("wasserstein", 1.0, "get_bc", False, "W σ1 GET_BC"),
    "w_s3_bc": ("wasserstein", 3.0, "get_bc", False, "W σ3 GET_BC"),
    "w_s1_bc_cc": ("wasserstein", 1.0, "get_bc", True, "W σ1 GET_BC + CoordConv"),
    "w_s3_bc_cc": ("wasserstein", 3.0, "get_bc", True, "W σ3 GET_BC + CoordConv"),
    "js_s1_bc": ("js", 1.0, "get_bc", False, "JS σ1 GET_BC"),
    "js_s3_bc": ("js", 3.0, "get_bc", False, "JS σ3 GET_BC"),
    "softargmax_s1_bc": ("soft_argmax", 1.0, "get_bc", False, "Soft-ArgMax GET_BC"),
}


def test_the_packaged_settings_are_the_papers():
    assert list(PACKAGED) == list(EXPECTED)
    for name, (loss, sigma, decoder, cc, label) in EXPECTED.items():
        s = PACKAGED[name]
        assert (s.name, s.loss, s.sigma, s.decoder, s.coordconv, s.label) == (
            name,
            loss,
            sigma,
            decoder,
            cc,
            label,
        )
        assert s.loss in LOSSES
        assert spell(loss, sigma, decoder, cc) == name and parse(name) == s


def test_any_name_of_the_grammar_parses_and_bad_ones_say_the_grammar():
    s = parse("js_s1.5_max_cc")
    assert (s.loss, s.sigma, s.decoder, s.coordconv) == ("js", 1.5, "get_max", True)
    assert s.label == "JS σ1.5 GET_MAX + CoordConv" and s.role == ""
    assert spell("js", 1.5, "get_max", True) == "js_s1.5_max_cc"
    for bad in ("w_s3", "huber_s1_max", "w_s3_bc_cc_x", None):
        with pytest.raises(ValueError, match=r"<loss>_s<sigma>_<decoder>\[_cc\] with loss l2"):
            parse(bad)
    with pytest.raises(ValueError, match="no setting name for loss 'huber'"):
        spell("huber", 1.0, "get_bc")
    assert label_of("w_s3_bc") == "W σ3 GET_BC" and label_of("mystery") == "mystery"


def test_a_decoder_only_variant_trains_as_the_packaged_twin():
    assert trained_as("l2_s1_bc") is PACKAGED["l2_s1_max"]
    assert trained_as("js_s1_max") is PACKAGED["js_s1_bc"]
    assert trained_as("w_s3_bc") is PACKAGED["w_s3_bc"]
    assert trained_as("w_s2_bc") is None and trained_as("l2_s1_bc_cc") is None
    assert parse("l2_s1_bc").training == PACKAGED["l2_s1_max"].training


def test_descriptions_and_config_fragments():
    assert PACKAGED["w_s3_bc"].description == (
        "the paper's method: Wasserstein loss, sigma 3, GET_BC"
    )
    assert PACKAGED["softargmax_s1_bc"].description == (
        "Soft-ArgMax (integral regression), sigma 1, GET_BC (Table 7)"
    )
    assert PACKAGED["w_s1_bc_cc"].config() == {
        "description": "Wasserstein loss, sigma 1, GET_BC, CoordConv",
        "model": {"coordconv": True},
        "codec": {"sigma": 1.0, "decoder": "get_bc"},
        "loss": {"name": "wasserstein", "kwargs": {"form": "difference"}},
    }
    assert PACKAGED["l2_s1_max"].config()["loss"] == {"name": "l2"}
    # the fragment is a copy: changing it leaves the table alone
    PACKAGED["w_s3_bc"].config()["loss"]["kwargs"]["form"] = "full"
    assert settings.LOSSES["w"].kwargs == {"form": "difference"}


def test_a_setting_outside_the_tables_is_labelled_by_its_names():
    s = settings.Setting("mine", "huber", 2.0, "get_foo")
    assert s.label == "huber σ2 GET_FOO" and s.config()["loss"] == {"name": "huber"}

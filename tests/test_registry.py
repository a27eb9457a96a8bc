"""One exception type for an unknown name in any registry, with the valid names and a hint."""

import pytest

from otmark.registry import UnknownNameError, did_you_mean, lookup


def _lookups():
    from otmark.datasets import dataset_info
    from otmark.heatmaps import get_decoder
    from otmark.losses import create_loss, output_is_logits
    from otmark.models import create_model
    from otmark.protocols.registry import get_protocol_spec
    from otmark.schemes import get_scheme
    from otmark.study.benchmark import BenchmarkSize
    from otmark.synth.domains import get_domain
    from otmark.synth.writers import synthesize

    return {
        "model": (lambda: create_model("hrnet_w81", 68), "hrnet_w18"),
        "loss": (lambda: create_loss("wasserstien"), "wasserstein"),
        "loss ": (lambda: output_is_logits("jss"), "js"),
        "dataset": (lambda: dataset_info("wflv"), "wflw"),
        "decoder": (lambda: get_decoder("get_mx"), "get_max"),
        "landmark scheme": (lambda: get_scheme("300x"), "300w"),
        "protocol": (lambda: get_protocol_spec("300w-tst"), "300w-test"),
        "synth domain": (lambda: get_domain("300w-outdor"), "300w-outdoor"),
        "synth dataset": (lambda: synthesize("wflv", "/nonexistent", 1), "wflw"),
        "benchmark dataset": (lambda: BenchmarkSize().dataset_args("wflv"), "wflw"),
    }


@pytest.mark.parametrize("what", list(_lookups()))
def test_every_registry_raises_unknown_name_error(what):
    call, hint = _lookups()[what]
    with pytest.raises(UnknownNameError) as err:
        call()
    exc = err.value
    assert isinstance(exc, KeyError) and isinstance(exc, ValueError)
    assert exc.what == what.strip() and str(exc).startswith(f"unknown {what.strip()} ")
    assert "; valid: " in str(exc) and len(exc.valid) >= 2
    if hint is not None:
        assert str(exc).endswith(f"; did you mean {hint!r}?")


def test_message_is_not_quoted_like_a_key_error_and_old_handlers_catch_it():
    err = UnknownNameError("loss", "x", ["l2", "js"])
    assert str(err) == "unknown loss 'x'; valid: l2, js"  # no close match, no hint
    for kind in (KeyError, ValueError, LookupError):
        with pytest.raises(kind):
            raise err
    assert lookup({"a": 1, "b": 2}, "b", "thing") == 2
    with pytest.raises(UnknownNameError, match=r"unknown thing 'c'; valid: a, b$"):
        lookup({"b": 2, "a": 1}, "c", "thing")
    assert did_you_mean("wasserstien", ["l2", "wasserstein"]) == "; did you mean 'wasserstein'?"

"""Every registered model: output shapes, forward/backward, intermediate outputs."""

import pytest
import torch

from otmark.models import (
    as_stack_list,
    count_parameters,
    create_model,
    final_output,
    list_models,
    tiny_kwargs,
)

K = 5
MULTI_OUTPUT = {"hourglass2": 2, "hourglass4": 4, "cpn": 5, "cpn_r18": 5}


def tiny(name, coordconv=False, k=K):
    torch.manual_seed(0)
    return create_model(name, k, coordconv=coordconv, **tiny_kwargs(name))


def test_registry_lists_the_paper_models():
    names = list_models()
    for required in [
        "hrnet_w18",
        "hourglass2",
        "hourglass4",
        "simple_baseline_r18",
        "simple_baseline_r50",
        "cpn",
    ]:
        assert required in names
    assert names == sorted(names)


def test_unknown_model_error_lists_the_valid_names():
    with pytest.raises(KeyError, match="hrnet_w18"):
        create_model("resnet9000", 5)
    with pytest.raises(ValueError, match="num_landmarks"):
        create_model("hrnet_tiny", 0)


def test_tiny_kwargs_returns_a_fresh_dict():
    a = tiny_kwargs("hrnet_w18")
    a["width"] = 999
    assert tiny_kwargs("hrnet_w18")["width"] != 999


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("size", [(128, 128), (256, 256), (96, 160)])
def test_eval_output_is_one_heatmap_tensor_at_quarter_resolution(name, size):
    model = tiny(name).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (1, K, size[0] // 4, size[1] // 4)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list_models())
def test_training_mode_returns_every_stack_and_all_parameters_get_gradients(name):
    model = tiny(name).train()
    out = model(torch.randn(2, 3, 64, 64))
    stacks = as_stack_list(out)
    assert len(stacks) == MULTI_OUTPUT.get(name, 1)
    if name not in MULTI_OUTPUT:
        assert isinstance(out, torch.Tensor)
    for s in stacks:
        assert s.shape == (2, K, 16, 16)
    loss = sum((s**2).mean() for s in stacks)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: {pname} got no gradient"
        assert torch.isfinite(p.grad).all()


@pytest.mark.parametrize("name", sorted(MULTI_OUTPUT))
def test_last_training_output_is_the_eval_output(name):
    """With the same (eval) BatchNorm statistics, the last training-mode stack is exactly the
    eval-mode output."""
    model = tiny(name).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out_eval = model(x)
        model.training = True  # top-level flag only: BN layers stay in eval mode
        stacks = model(x)
    assert isinstance(stacks, list) and len(stacks) == MULTI_OUTPUT[name]
    torch.testing.assert_close(final_output(stacks), out_eval, rtol=0, atol=0)


@pytest.mark.parametrize("name", list_models())
def test_num_landmarks_only_changes_the_heads(name):
    """Parameters grow linearly in K: the difference for K and K + 1 is the same for K + 1 and
    K + 2 (each head adds ``in_ch + 1`` weights per landmark, merge convs ``channels``)."""
    c = [count_parameters(tiny(name, k=k)) for k in (3, 4, 5)]
    assert c[1] - c[0] == c[2] - c[1] > 0

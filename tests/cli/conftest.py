"""Fixtures of the command-line tests."""

import pytest
import torch

from otmark.models import create_model
from otmark.schemes import get_scheme


@pytest.fixture(scope="module")
def ckpt(request, tmp_path_factory):
    """An untrained ``hrnet_tiny`` checkpoint for the module's ``SCHEME`` and ``CODEC``."""
    scheme, codec = request.module.SCHEME, request.module.CODEC
    torch.manual_seed(0)
    k = get_scheme(scheme).num_points
    model = create_model("hrnet_tiny", k)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(
        {
            "model_name": "hrnet_tiny",
            "model_kwargs": {"num_landmarks": k},
            "model": model.state_dict(),
            "scheme": scheme,
            "codec": codec,
        },
        path,
    )
    return path

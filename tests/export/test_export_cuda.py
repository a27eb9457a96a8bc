"""Export from a model on a CUDA device (skipped without one; ``benchmarks/gpu_check.sh``)."""

import numpy as np
import pytest
import torch

from otmark.export import export_onnx, max_abs_difference
from otmark.models import create_model, final_output, tiny_kwargs

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("name", ["hrnet_tiny", "cpn"])
def test_export_from_a_cuda_model(tmp_path, name):
    torch.manual_seed(0)
    model = create_model(name, 4, **tiny_kwargs(name)).eval().cuda()
    path = export_onnx(model, tmp_path / "m.onnx", 64)
    assert next(model.parameters()).is_cuda  # left where it was
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        scale = float(final_output(model(x.cuda())).abs().max())
    diff = max_abs_difference(model, path, x.numpy())
    assert np.isfinite(diff) and diff <= 1e-4 * max(1.0, scale)

import pytest
import torch

from otmark.models import as_stack_list, final_output


def test_as_stack_list_wraps_a_tensor_and_lists_sequences():
    t = torch.zeros(1, 2, 3, 3)
    assert as_stack_list(t)[0] is t and len(as_stack_list(t)) == 1
    a, b = torch.zeros(1), torch.ones(1)
    assert as_stack_list((a, b)) == [a, b]
    assert final_output([a, b]) is b


@pytest.mark.parametrize("bad", [[], [1, 2], "x", None])
def test_as_stack_list_rejects_non_tensors(bad):
    with pytest.raises(TypeError):
        as_stack_list(bad)

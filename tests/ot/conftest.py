import pytest
from ot_reference import grid_cost


@pytest.fixture
def cost16():
    return grid_cost(16, 16)

"""utils' top level: seeding and device choice."""
import random

import numpy as np
import pytest
import torch

import utils


def draws():
    import keras
    return (random.random(), np.random.rand(), torch.rand(1).item(),
            float(keras.random.uniform((1,), seed=None)[0]))


def test_set_seed_makes_every_library_repeat():
    utils.set_seed(123)
    first = draws()
    utils.set_seed(123)
    assert draws() == first
    utils.set_seed(124)
    assert draws() != first


@pytest.mark.parametrize("bad", [-1, 1.5, "1"])
def test_set_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        utils.set_seed(bad)


def test_device_is_a_torch_device_that_works():
    dev = utils.device()
    assert isinstance(dev, torch.device)
    assert torch.ones(2, device=dev).sum().item() == 2.0


def test_print_versions_lists_the_libraries(capsys):
    utils.print_versions()
    out = capsys.readouterr().out
    for name in ("python", "numpy", "torch", "tensorflow", "keras", "transformers"):
        assert name in out

"""utils.speed: the FLOP count against PyTorch's own counter, the machine's roof, the compiled path."""
import warnings

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from utils import speed
from utils.gpt import GPT, GPTConfig


@pytest.mark.parametrize("shape", [(71, 16, 2, 2, 32), (71, 64, 3, 4, 96), (50, 8, 1, 1, 8)])
def test_flops_per_token_equal_torch_flop_counter(shape):
    """PyTorch counts the FLOPs of every matrix product of one forward and backward pass; with the
    math attention kernel (two batched products over the full T x T scores) its count is ours."""
    cfg = GPTConfig(*shape)
    torch.manual_seed(0)
    model, B = GPT(cfg), 3
    x = torch.randint(0, cfg.vocab_size, (B, cfg.block_size))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        _, loss = model(x, x)
        loss.backward()
    assert counter.get_total_flops() == B * cfg.block_size * speed.model_flops_per_token(cfg)


def test_flops_per_token_by_hand():
    # L=1, C=2, T=3, V=5: forward 2 * (12 * 4 + 10) + 4 * 3 * 2 = 140 FLOPs, times 3 with backward
    assert speed.model_flops_per_token(GPTConfig(5, 3, 1, 1, 2)) == 420
    # without attention the count is 6 per matrix weight (the 6N rule, N = 12 L C^2 + V C)
    cfg = GPTConfig(71, 64, 4, 4, 128)
    n = 12 * 4 * 128 ** 2 + 71 * 128
    assert speed.model_flops_per_token(cfg) - 6 * n == 12 * 4 * 64 * 128


def test_matmul_roof_is_a_rate_of_the_right_size():
    torch.manual_seed(0)
    slow = speed.matmul_flops_per_s(64, seconds=0.05)
    fast = speed.matmul_flops_per_s(512, seconds=0.2)
    assert 1e7 < slow and 1e8 < fast < 1e14      # a CPU: more than 0.1 GFLOP/s, less than 100 TFLOP/s
    assert isinstance(speed.bf16_matmul_supported(), bool)


def _loss_and_grads(forward, model, x):
    _, loss = forward(x, x)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    return loss.item(), grads


def test_compiled_model_gives_the_eager_loss_and_gradients():
    torch.manual_seed(0)
    model = GPT(GPTConfig(71, 16, 1, 2, 16))
    x = torch.randint(0, 71, (2, 16))
    eager_loss, eager_grads = _loss_and_grads(model, model, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)            # no fallback here: it compiled
        fast_loss, fast_grads = _loss_and_grads(speed.compiled(model), model, x)
    assert fast_loss == pytest.approx(eager_loss, rel=1e-5)
    for a, b in zip(fast_grads, eager_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_without_a_c_compiler_training_falls_back_to_eager_with_one_message(monkeypatch):
    from torch._inductor import config as inductor_config
    torch._dynamo.reset()
    monkeypatch.setattr(inductor_config.cpp, "cxx", ("no-such-c-compiler",))
    torch.manual_seed(1)
    model = GPT(GPTConfig(71, 8, 1, 1, 8))
    x = torch.randint(0, 71, (2, 8))
    forward = speed.compiled(model)
    with pytest.warns(RuntimeWarning, match="torch.compile is not possible here"):
        _, loss = forward(x, x)
    _, eager = model(x, x)
    assert loss.item() == eager.item()                            # the eager model ran
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)            # no second message
        forward(x, x)
    torch._dynamo.reset()

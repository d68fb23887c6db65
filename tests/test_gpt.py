"""utils.gpt: the book's GPT (chapter 4)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.gpt import GPT, GPTConfig, load_checkpoint, param_count_formula, save_checkpoint


def tiny(**kw):
    cfg = dict(vocab_size=23, block_size=16, n_layer=2, n_head=4, n_embd=32)
    cfg.update(kw)
    return GPTConfig(**cfg)


def model_for(cfg, seed=0):
    torch.manual_seed(seed)
    return GPT(cfg).eval()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_changing_a_future_token_never_changes_earlier_logits(seed):
    g = torch.Generator().manual_seed(seed)
    cfg = tiny(n_layer=int(torch.randint(1, 4, (1,), generator=g)))
    model = model_for(cfg, seed)
    T = cfg.block_size
    x = torch.randint(0, cfg.vocab_size, (2, T), generator=g)
    logits, _ = model(x)
    for t in (0, 5, T - 1):
        x2 = x.clone()
        x2[:, t] = (x2[:, t] + 1) % cfg.vocab_size
        logits2, _ = model(x2)
        torch.testing.assert_close(logits2[:, :t], logits[:, :t], rtol=0, atol=1e-6)
        assert (logits2[:, t] - logits[:, t]).abs().max() > 1e-4  # the changed position itself does change


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("sizes", [(23, 16, 2, 4, 32), (71, 64, 4, 4, 128), (5, 3, 1, 1, 8)])
def test_parameter_count_formula_matches_the_model(sizes, bias):
    V, T, L, H, C = sizes
    cfg = GPTConfig(V, T, L, H, C, bias=bias)
    model = GPT(cfg)
    assert model.num_params() == param_count_formula(cfg)
    assert model.num_params(non_embedding=True) == param_count_formula(cfg, non_embedding=True)
    assert param_count_formula(cfg, non_embedding=True) == L * (12 * C * C + (13 if bias else 2) * C) \
        + (2 if bias else 1) * C


def test_gpt2_small_has_124m_parameters():
    cfg = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
    assert param_count_formula(cfg) == 124_439_808  # the number Hugging Face's gpt2 reports


def test_weights_are_tied_and_initialised_like_gpt2():
    cfg = tiny(n_layer=4, n_embd=64)
    model = model_for(cfg)
    assert model.lm_head.weight is model.transformer.wte.weight
    std = model.transformer.h[0].mlp.c_fc.weight.std().item()
    assert abs(std - 0.02) < 0.002
    proj = torch.cat([b.attn.c_proj.weight.flatten() for b in model.transformer.h]).std().item()
    assert abs(proj - 0.02 / math.sqrt(2 * cfg.n_layer)) < 0.001
    assert model.transformer.h[0].ln_1.eps == 1e-5


def test_loss_at_init_is_about_ln_vocab_size():
    cfg = tiny(vocab_size=71, block_size=32)
    model = model_for(cfg)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 71, (8, 32), generator=g)
    y = torch.randint(0, 71, (8, 32), generator=g)
    logits, loss = model(x, y)
    assert logits.shape == (8, 32, 71)
    assert abs(loss.item() - math.log(71)) < 0.05
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(-1, 71), y.reshape(-1)))
    assert model(x)[1] is None


def test_forward_equals_a_hand_written_pass():
    """Re-do the forward pass with explicit softmax attention and erf-free GELU formula."""
    cfg = tiny()
    model = model_for(cfg)
    x = torch.randint(0, cfg.vocab_size, (3, 10), generator=torch.Generator().manual_seed(1))
    tr = model.transformer

    def ln(h, mod):
        mu, var = h.mean(-1, keepdim=True), h.var(-1, keepdim=True, unbiased=False)
        return (h - mu) / torch.sqrt(var + 1e-5) * mod.weight + mod.bias

    def gelu_tanh(h):
        return 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h ** 3)))

    B, T = x.shape
    C, H = cfg.n_embd, cfg.n_head
    h = tr.wte.weight[x] + tr.wpe.weight[:T]
    mask = torch.ones(T, T).tril().bool()
    for blk in tr.h:
        a = ln(h, blk.ln_1)
        q, k, v = (a @ blk.attn.c_attn.weight.T + blk.attn.c_attn.bias).split(C, -1)
        q, k, v = [t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v)]
        w = (q @ k.transpose(-1, -2) / math.sqrt(C // H)).masked_fill(~mask, -math.inf).softmax(-1)
        y = (w @ v).transpose(1, 2).reshape(B, T, C)
        h = h + y @ blk.attn.c_proj.weight.T + blk.attn.c_proj.bias
        m = gelu_tanh(ln(h, blk.ln_2) @ blk.mlp.c_fc.weight.T + blk.mlp.c_fc.bias)
        h = h + m @ blk.mlp.c_proj.weight.T + blk.mlp.c_proj.bias
    logits = ln(h, tr.ln_f) @ tr.wte.weight.T
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], logits, rtol=1e-5, atol=1e-5)
        maps = model.attention_weights(x)
    assert len(maps) == cfg.n_layer and maps[0].shape == (B, H, T, T)
    torch.testing.assert_close(maps[-1], w.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(B, H, T))


@pytest.mark.parametrize("kw, field", [
    (dict(n_embd=30, n_head=4), "n_embd"),
    (dict(vocab_size=0), "vocab_size"),
    (dict(block_size=-3), "block_size"),
    (dict(n_layer=0), "n_layer"),
    (dict(n_head=0), "n_head"),
    (dict(n_embd=32.0), "n_embd"),
    (dict(dropout=1.0), "dropout"),
    (dict(dropout=-0.1), "dropout"),
    (dict(bias="yes"), "bias"),
])
def test_bad_configs_raise_value_errors_naming_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        tiny(**kw)


def test_input_longer_than_block_size_is_refused():
    cfg = tiny(block_size=8)
    model = model_for(cfg)
    model(torch.zeros(1, 8, dtype=torch.long))  # exactly block_size is fine
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="targets"):
        model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long))


def test_generate_is_deterministic_with_a_seeded_generator_and_crops_context():
    cfg = tiny(block_size=8)
    model = model_for(cfg)
    start = torch.zeros(2, 1, dtype=torch.long)
    a = model.generate(start, 20, generator=torch.Generator().manual_seed(5))
    b = model.generate(start, 20, generator=torch.Generator().manual_seed(5))
    c = model.generate(start, 20, generator=torch.Generator().manual_seed(6))
    assert a.shape == (2, 21) and torch.equal(a[:, :1], start)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert int(a.min()) >= 0 and int(a.max()) < cfg.vocab_size
    # top_k=1 is greedy decoding: the argmax of the logits on the cropped context at every step
    greedy = model.generate(start, 12, top_k=1)
    idx = start
    for _ in range(12):
        nxt = model(idx[:, -8:])[0][:, -1].argmax(-1, keepdim=True)
        idx = torch.cat([idx, nxt], 1)
    assert torch.equal(greedy, idx)
    # a very low temperature is greedy as well
    assert torch.equal(model.generate(start, 12, temperature=1e-4,
                                      generator=torch.Generator().manual_seed(0)), greedy)


def test_generate_keeps_the_training_mode():
    model = GPT(tiny(dropout=0.1)).train()
    model.generate(torch.zeros(1, 1, dtype=torch.long), 2)
    assert model.training


@pytest.mark.parametrize("kw, name", [
    (dict(temperature=0), "temperature"), (dict(temperature=-1.0), "temperature"),
    (dict(top_k=0), "top_k"), (dict(top_k=2.5), "top_k"), (dict(max_new_tokens=-1), "max_new_tokens"),
])
def test_generate_rejects_bad_arguments(kw, name):
    model = model_for(tiny())
    args = dict(max_new_tokens=3)
    args.update(kw)
    with pytest.raises(ValueError, match=name):
        model.generate(torch.zeros(1, 1, dtype=torch.long), **args)


def test_optimizer_decays_only_two_dimensional_weights():
    model = model_for(tiny())
    opt = model.configure_optimizer(weight_decay=0.1, lr=1e-3, betas=(0.9, 0.95))
    assert isinstance(opt, torch.optim.AdamW)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    n = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n == model.num_params()  # every parameter exactly once (the tied matrix too)
    assert opt.param_groups[0]["lr"] == 1e-3 and opt.param_groups[0]["betas"] == (0.9, 0.95)
    for bad in (dict(weight_decay=-1), dict(lr=0), dict(betas=(0.9, 1.0))):
        with pytest.raises(ValueError, match=next(iter(bad))):
            model.configure_optimizer(**{**dict(weight_decay=0.1, lr=1e-3, betas=(0.9, 0.95)), **bad})


def test_a_few_steps_of_training_fit_a_repeating_sequence():
    torch.manual_seed(0)
    cfg = tiny(vocab_size=5, block_size=12, n_layer=1, n_head=2, n_embd=32)
    model = GPT(cfg)
    opt = model.configure_optimizer(weight_decay=0.0, lr=1e-2, betas=(0.9, 0.99))
    seq = torch.tensor([[0, 1, 2, 3, 4] * 3])
    x, y = seq[:, :12], seq[:, 1:13]
    for _ in range(60):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_checkpoint_round_trip(tmp_path):
    cfg = tiny(bias=False)
    model = model_for(cfg, seed=3)
    path = tmp_path / "gpt.safetensors"
    save_checkpoint(model, path, step=10)
    again = load_checkpoint(path).eval()
    assert again.config == cfg
    assert again.lm_head.weight is again.transformer.wte.weight
    x = torch.randint(0, cfg.vocab_size, (2, 16))
    torch.testing.assert_close(again(x)[0], model(x)[0], rtol=0, atol=0)
    assert np.isclose(again.num_params(), model.num_params())

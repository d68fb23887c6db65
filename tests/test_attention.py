"""utils.attention and utils.keras_gpt (chapter 4): every formula against the libraries."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.attention import (MultiHeadAttention, PositionalEncoding, attention, attention_np, causal_mask,
                             copy_to_torch_mha, multi_head_attention_np, sinusoidal_encoding, softmax)
from utils.gpt import GPT, GPTConfig

SEEDS = [0, 1, 2, 3]


def random_shapes(seed):
    g = np.random.default_rng(seed)
    B, H = (int(n) for n in g.integers(1, 4, size=2))
    Tq, Tk, dk, dv = (int(n) for n in g.integers(1, 12, size=4))
    return g, B, H, Tq, Tk, dk, dv


def random_mask(g, Tq, Tk):
    mask = g.random((Tq, Tk)) > 0.4
    mask[np.arange(Tq), g.integers(0, Tk, size=Tq)] = True  # every query may attend to something
    return mask


def test_softmax_is_stable_and_equals_torch():
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1001.0, 1002.0], [-1e4, 0.0, 1e4]])
    p = softmax(x)
    np.testing.assert_allclose(p.sum(-1), 1.0)
    np.testing.assert_allclose(p[0], p[1])  # shift invariance, no overflow
    np.testing.assert_allclose(p, torch.softmax(torch.tensor(x), -1).numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
def test_attention_np_and_torch_equal_sdpa(seed):
    g, B, H, Tq, Tk, dk, dv = random_shapes(seed)
    q, k, v = g.normal(size=(B, H, Tq, dk)), g.normal(size=(B, H, Tk, dk)), g.normal(size=(B, H, Tk, dv))
    mask = random_mask(g, Tq, Tk)
    tq, tk, tv = (torch.tensor(a) for a in (q, k, v))
    ref = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.tensor(mask)).numpy()
    out, w = attention_np(q, k, v, mask)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    assert w.shape == (B, H, Tq, Tk)
    np.testing.assert_allclose(w.sum(-1), 1.0)
    assert np.all(w[..., ~mask] == 0)  # blocked keys get exactly zero weight
    out_t, w_t = attention(tq, tk, tv, torch.tensor(mask))
    np.testing.assert_allclose(out_t.numpy(), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w_t.numpy(), w, rtol=1e-10, atol=1e-12)
    no_mask = F.scaled_dot_product_attention(tq, tk, tv).numpy()
    np.testing.assert_allclose(attention_np(q, k, v)[0], no_mask, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("T", [1, 2, 7, 16])
def test_causal_mask_equals_is_causal(T):
    m = causal_mask(T)
    assert m.dtype == bool and m.shape == (T, T) and m.sum() == T * (T + 1) // 2
    g = torch.Generator().manual_seed(T)
    q, k, v = (torch.randn(2, 3, T, 8, generator=g, dtype=torch.float64) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(attention(q, k, v, torch.tensor(m))[0], ref)
    # causality: changing the last key/value leaves every earlier output unchanged
    k2, v2 = k.clone(), v.clone()
    k2[..., -1, :] += 1.0
    v2[..., -1, :] += 1.0
    out2 = attention(q, k2, v2, torch.tensor(m))[0]
    torch.testing.assert_close(out2[..., :-1, :], ref[..., :-1, :])


def test_attention_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="d_k"):
        attention_np(np.ones((2, 3)), np.ones((2, 4)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="positions"):
        attention(torch.ones(2, 3), torch.ones(4, 3), torch.ones(5, 3))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="T"):
            causal_mask(bad)


def test_sinusoidal_encoding_values_and_relative_shift():
    pe = sinusoidal_encoding(50, 16)
    assert pe.shape == (50, 16)
    np.testing.assert_allclose(pe[0], np.tile([0.0, 1.0], 8))
    np.testing.assert_allclose(pe[:, 0], np.sin(np.arange(50)))
    np.testing.assert_allclose(pe[:, 1], np.cos(np.arange(50)))
    np.testing.assert_allclose(pe[7, 14], math.sin(7 / 10000 ** (14 / 16)))
    np.testing.assert_allclose(pe[7, 15], math.cos(7 / 10000 ** (14 / 16)))
    # PE[p + k] is a fixed rotation of PE[p] for every p: position offsets are linear maps
    k = 5
    rot = np.linalg.lstsq(pe[:40], pe[k:40 + k], rcond=None)[0]
    np.testing.assert_allclose(pe[:45] @ rot, pe[k:], atol=1e-8)
    for args, name in (((0, 4), "max_len"), ((4, 5), "d_model"), ((4, 0), "d_model")):
        with pytest.raises(ValueError, match=name):
            sinusoidal_encoding(*args)


def test_positional_encoding_module_is_sequence_first():
    module = PositionalEncoding(8, dropout=0.1, max_len=20).eval()
    x = torch.randn(12, 3, 8)
    out = module(x)
    expected = x + torch.tensor(sinusoidal_encoding(12, 8), dtype=torch.float32)[:, None, :]
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="max_len"):
        module(torch.randn(21, 1, 8))
    with pytest.raises(ValueError, match="dropout"):
        PositionalEncoding(8, dropout=1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_multi_head_attention_equals_torch_and_numpy(seed):
    g, B, H, Tq, Tk, _, _ = random_shapes(seed)
    E = H * int(g.integers(1, 6))
    torch.manual_seed(seed)
    ours = MultiHeadAttention(E, H)
    theirs = copy_to_torch_mha(ours, nn.MultiheadAttention(E, H, batch_first=True))
    q = torch.tensor(g.normal(size=(B, Tq, E)), dtype=torch.float32)
    kv = torch.tensor(g.normal(size=(B, Tk, E)), dtype=torch.float32)
    mask = torch.tensor(random_mask(g, Tq, Tk))
    out, w = ours(q, kv, kv, mask)
    ref, ref_w = theirs(q, kv, kv, attn_mask=~mask, average_attn_weights=False)  # torch: True = blocked
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(w, ref_w, rtol=1e-5, atol=1e-6)
    out_np, w_np = multi_head_attention_np(q.numpy(), kv.numpy(), ours.numpy_params(), H, mask.numpy())
    np.testing.assert_allclose(out_np, out.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w_np, w.detach().numpy(), rtol=1e-5, atol=1e-6)
    wrong, _ = theirs(q, kv, kv, attn_mask=mask, average_attn_weights=False)  # the other convention
    if (~mask).any() and mask.any(-1).all() and (~mask).any(-1).all():
        assert not torch.allclose(wrong, out, atol=1e-4)


def test_multi_head_attention_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_head"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="shapes differ"):
        copy_to_torch_mha(MultiHeadAttention(8, 2), nn.MultiheadAttention(8, 4))


# --- Keras --------------------------------------------------------------------
keras = pytest.importorskip("keras")
from utils.keras_gpt import (KerasBlock, KerasGPT, copy_block_from_torch,  # noqa: E402
                             copy_gpt_from_torch, copy_mha_to_keras)


@pytest.mark.parametrize("seed", [0, 1])
def test_multi_head_attention_equals_keras(seed):
    g, B, H, Tq, Tk, _, _ = random_shapes(seed)
    D = int(g.integers(1, 6))
    torch.manual_seed(seed)
    ours = MultiHeadAttention(H * D, H)
    q = g.normal(size=(B, Tq, H * D)).astype("float32")
    kv = g.normal(size=(B, Tk, H * D)).astype("float32")
    mask = random_mask(g, Tq, Tk)
    layer = keras.layers.MultiHeadAttention(num_heads=H, key_dim=D)
    layer(q, kv)  # build
    copy_mha_to_keras(ours, layer)
    out, w = layer(q, kv, attention_mask=np.broadcast_to(mask, (B, Tq, Tk)),  # keras: True = allowed
                   return_attention_scores=True)
    ref, ref_w = ours(torch.tensor(q), torch.tensor(kv), torch.tensor(kv), torch.tensor(mask))
    np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(w), ref_w.detach().numpy(), rtol=1e-5, atol=1e-6)


def perturbed_gpt(cfg, seed):
    torch.manual_seed(seed)
    model = GPT(cfg).eval()
    with torch.no_grad():  # non-trivial LayerNorm gains and biases, so a missed copy shows
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.normal_(1.0 if ".ln_" in f".{name}" and name.endswith("weight") else 0.0, 0.3)
    return model


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keras_block_equals_torch_block(seed):
    g = np.random.default_rng(seed)
    H = int(g.integers(1, 4))
    C, T, B = H * int(g.integers(2, 9)), int(g.integers(1, 12)), int(g.integers(1, 4))
    model = perturbed_gpt(GPTConfig(11, 16, 1, H, C), seed)
    block = model.transformer.h[0]
    x = torch.tensor(g.normal(size=(B, T, C)), dtype=torch.float32)
    kb = copy_block_from_torch(block, KerasBlock(C, H))
    with torch.no_grad():
        ref = block(x).numpy()
        ref_w = block.attn.weights(block.ln_1(x)).numpy()
    np.testing.assert_allclose(np.asarray(kb(x.numpy())), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(kb.attention_weights(kb.ln_1(x.numpy()))), ref_w, rtol=1e-5, atol=1e-6)


def test_keras_gpt_equals_torch_gpt():
    cfg = GPTConfig(vocab_size=19, block_size=12, n_layer=2, n_head=2, n_embd=16)
    model = perturbed_gpt(cfg, 7)
    kg = copy_gpt_from_torch(model, KerasGPT(cfg))
    idx = torch.randint(0, 19, (3, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(idx)[0].numpy()
    np.testing.assert_allclose(np.asarray(kg(idx.numpy())), ref, rtol=1e-5, atol=1e-5)
    assert kg.count_params() == model.num_params()  # tied output layer: no extra matrix
    with pytest.raises(ValueError, match="configs differ"):
        copy_gpt_from_torch(model, KerasGPT(GPTConfig(19, 12, 1, 2, 16)))


def test_keras_block_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_head"):
        KerasBlock(10, 3)
    with pytest.raises(ValueError, match="n_head"):
        copy_block_from_torch(GPT(GPTConfig(5, 4, 1, 2, 8)).transformer.h[0], KerasBlock(8, 4))

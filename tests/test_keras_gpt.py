"""utils.keras_gpt for chapter 5: model.fit trains a KerasGPT the way utils.train trains a GPT."""
import os

os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
from dataclasses import replace  # noqa: E402

from utils.gpt import GPTConfig  # noqa: E402
from utils.train import PRESETS, lr_at  # noqa: E402
from utils.keras_gpt import (KerasBlock, KerasGPT, WindowDataset, causal_attention_check,  # noqa: E402
                             compile_like_book, lr_schedule)


@pytest.mark.parametrize("max_lr,warmup,max_steps,min_lr", [(3e-3, 10, 200, 3e-4), (1e-3, 5, 40, 0.0),
                                                            (2e-3, 0, 30, 2e-4), (3e-3, 1, 20, 3e-5)])
def test_schedule_against_lr_at(max_lr, warmup, max_steps, min_lr):
    s = lr_schedule(max_lr, warmup, max_steps, min_lr)
    for step in range(max_steps + 20):
        ref = lr_at(step, max_lr, warmup, max_steps, min_lr)
        expected = ref if (step == 0 or step >= warmup) else ref - max_lr * step / warmup ** 2  # documented gap
        assert float(s(step)) == pytest.approx(expected, rel=1e-5, abs=1e-12), step


def test_schedule_bad_input():
    with pytest.raises(ValueError, match="warmup_steps"):
        lr_schedule(1e-3, 10, 10)
    with pytest.raises(ValueError, match="min_lr"):
        lr_schedule(1e-3, 1, 10, 1e-2)


def test_window_dataset_is_seeded_and_shifted():
    ids = np.arange(500) % 37
    a, b = WindowDataset(ids, 8, 4, 3, seed=5), WindowDataset(ids, 8, 4, 3, seed=5)
    x, y = a[1]
    assert x.shape == y.shape == (4, 8)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(x, b[1][0])
    a.on_epoch_end()
    assert not np.array_equal(a[1][0], x)                    # a new epoch, new windows
    fixed = WindowDataset(ids, 8, 4, 3, seed=5, resample=False)
    first = fixed[0][0]
    fixed.on_epoch_end()
    np.testing.assert_array_equal(fixed[0][0], first)         # validation: the same windows


def test_weight_decay_spares_biases_and_layernorm():
    cfg = replace(PRESETS["tiny"], n_layer=1, n_embd=16, block_size=8, warmup_steps=0, weight_decay=0.1, lr=1e-2)
    keras.utils.set_random_seed(0)
    model = compile_like_book(KerasGPT(cfg.model_config(11)), cfg)
    opt = model.optimizer
    # non-zero biases and LayerNorm shifts, so a decay of them would show
    for v in model.trainable_variables:
        if len(v.shape) == 1:
            v.assign(np.full(v.shape, 0.5, "float32"))
    before = {v.path: np.array(v) for v in model.trainable_variables}
    opt.apply_gradients([(keras.ops.zeros(v.shape), v) for v in model.trainable_variables])
    lr = float(lr_schedule(cfg.lr, 0, cfg.max_steps, cfg.min_lr)(0))
    decayed = spared = 0
    for v in model.trainable_variables:
        after = np.array(v)
        if len(v.shape) < 2:         # bias, gamma, beta: zero gradient and no decay, so untouched
            np.testing.assert_array_equal(after, before[v.path])
            spared += 1
        else:                        # kernels and embeddings shrink by (1 - lr * wd)
            np.testing.assert_allclose(after, before[v.path] * (1 - lr * cfg.weight_decay), rtol=1e-6)
            decayed += 1
    assert decayed and spared


def test_short_fit_lowers_the_validation_loss():
    cfg = replace(PRESETS["tiny"], n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=16,
                  lr=3e-3, min_lr=3e-4, warmup_steps=5)
    g = np.random.default_rng(0)
    text = np.tile(g.integers(0, 20, size=97), 40)           # a repeating stream: learnable
    keras.utils.set_random_seed(0)
    model = compile_like_book(KerasGPT(cfg.model_config(20)), cfg, max_steps=2 * 20)
    train = WindowDataset(text[:3000], 32, 16, 20, seed=0)
    val = WindowDataset(text[3000:], 32, 16, 2, seed=1, resample=False)
    start = model.evaluate(val, verbose=0)
    hist = model.fit(train, validation_data=val, epochs=2, verbose=0)
    assert len(hist.history["val_loss"]) == 2
    assert hist.history["val_loss"][-1] < start - 0.3
    assert hist.history["val_loss"][-1] < hist.history["val_loss"][0]


@pytest.mark.parametrize("seed,bias", [(0, True), (1, False)])
def test_use_causal_mask_equals_the_blocks_mask(seed, bias):
    g = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    block = KerasBlock(12, 3, bias=bias)
    block.build((None, None, 12))
    for v in block.trainable_variables:     # larger weights: sharp attention, so a wrong mask shows
        v.assign(g.normal(scale=0.5, size=v.shape).astype("float32"))
    d = causal_attention_check(block, g.normal(size=(2, 7, 12)).astype("float32"))
    assert d["mha_output"] < 1e-5 and d["mha_weights"] < 1e-6 and d["dot_product_attention"] < 1e-5

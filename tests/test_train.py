"""Tests for utils.train and utils.pretrained (chapter 5): AdamW, schedule, loss, checkpoints, resume."""
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils import pretrained as pt
from utils import train as tr
from utils.data import CharTokenizer, get_batch, load_corpus
from utils.gpt import GPT, GPTConfig, load_checkpoint

TINY = replace(tr.PRESETS["tiny"], threads=0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ids():
    rng = np.random.default_rng(0)
    return torch.tensor(rng.integers(0, 11, size=3000), dtype=torch.int64)   # vocabulary of 11


def tiny_model(cfg=TINY, vocab=11):
    return tr.build_model(cfg, vocab)


# --- learning-rate schedule -------------------------------------------------------------
def test_lr_schedule_values():
    f = lambda s: tr.lr_at(s, 1e-3, 10, 110, 1e-4)
    assert f(0) == pytest.approx(1e-4)            # (0 + 1) / 10 of the peak
    assert f(4) == pytest.approx(5e-4)
    assert f(9) == pytest.approx(1e-3)            # end of warm-up: the peak
    assert f(10) == pytest.approx(1e-3)           # cosine starts at the peak
    assert f(60) == pytest.approx(0.5 * (1e-3 + 1e-4))   # half-way: the mean of peak and floor
    assert f(35) == pytest.approx(1e-4 + 0.5 * (1 + math.cos(math.pi / 4)) * 9e-4)
    assert f(110) == pytest.approx(1e-4) and f(500) == pytest.approx(1e-4)
    lrs = [f(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))   # monotone decay
    assert tr.lr_at(0, 1e-3, 0, 10) == pytest.approx(1e-3)   # no warm-up


@pytest.mark.parametrize("kwargs, name", [
    (dict(step=-1), "step"), (dict(max_lr=-1e-3), "max_lr"), (dict(max_lr=0.0), "max_lr"),
    (dict(max_steps=0), "max_steps"), (dict(warmup_steps=20), "warmup_steps"),
    (dict(min_lr=2e-3), "min_lr"),
])
def test_lr_schedule_bad_inputs(kwargs, name):
    args = dict(step=0, max_lr=1e-3, warmup_steps=5, max_steps=10, min_lr=0.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        tr.lr_at(**args)


@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=-1e-3), "lr"), (dict(max_steps=0), "max_steps"), (dict(batch_size=0), "batch_size"),
    (dict(min_lr=1.0), "min_lr"), (dict(beta2=1.0), "beta2"), (dict(grad_clip=-1.0), "grad_clip"),
    (dict(n_embd=30, n_head=4), "n_embd"), (dict(weight_decay=-0.1), "weight_decay"),
])
def test_train_config_bad_inputs(kwargs, name):
    with pytest.raises(ValueError, match=name):
        replace(TINY, **kwargs)


# --- the loss, by hand ---------------------------------------------------------------------
def test_cross_entropy_by_hand_matches_model(ids):
    model = tiny_model()
    x, y = get_batch(ids, TINY.block_size, 4, generator=torch.Generator().manual_seed(0))
    logits, loss = model(x, y)
    z = logits.detach().double().numpy()
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))             # log-softmax
    nll = -np.take_along_axis(logp, y.numpy()[..., None], -1).mean()
    np.testing.assert_allclose(nll, loss.item(), rtol=1e-6, atol=1e-6)
    # the gradient of the mean cross-entropy w.r.t. the logits: (softmax - one_hot) / N
    logits_leaf = logits.detach().requires_grad_()
    F.cross_entropy(logits_leaf.view(-1, 11), y.view(-1)).backward()
    grad = (np.exp(logp) - np.eye(11)[y.numpy()]) / y.numel()
    np.testing.assert_allclose(grad, logits_leaf.grad.numpy(), rtol=1e-5, atol=1e-7)


# --- AdamW ---------------------------------------------------------------------------------
def test_adamw_numpy_matches_torch_several_steps():
    rng = np.random.default_rng(1)
    p0 = rng.normal(size=(5, 7))
    p = torch.nn.Parameter(torch.tensor(p0))
    opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    ours, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t in range(1, 6):
        g = rng.normal(size=p0.shape) * 10 ** rng.uniform(-3, 1)
        p.grad = torch.tensor(g)
        opt.step()
        ours, m, v = tr.adamw_step_numpy(ours, g, m, v, t, 1e-2, 0.9, 0.95, 1e-8, 0.1)
        np.testing.assert_allclose(ours, p.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(m, opt.state[p]["exp_avg"].numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(v, opt.state[p]["exp_avg_sq"].numpy(), rtol=1e-12, atol=1e-15)


def test_adamw_numpy_matches_the_model_optimizer(ids):
    """The GPT's optimiser (foreach, decay on matrices only) against the NumPy step, per tensor."""
    model = tiny_model()
    opt = tr.make_optimizer(model, TINY)
    before = {n: p.detach().double().numpy().copy() for n, p in model.named_parameters()}
    x, y = get_batch(ids, TINY.block_size, 8, generator=torch.Generator().manual_seed(3))
    model(x, y)[1].backward()
    grads = {n: p.grad.double().numpy().copy() for n, p in model.named_parameters()}
    opt.step()
    for n, p in model.named_parameters():
        wd = TINY.weight_decay if p.dim() >= 2 else 0.0
        ours, _, _ = tr.adamw_step_numpy(before[n], grads[n], 0 * before[n], 0 * before[n], 1,
                                         TINY.lr, TINY.beta1, TINY.beta2, 1e-8, wd)
        np.testing.assert_allclose(ours, p.detach().double().numpy(), rtol=1e-5, atol=1e-6, err_msg=n)


def test_adamw_first_step_size_is_lr():
    """Bias correction: the first update has size lr * g / (|g| + eps) ~ lr, whatever the gradient's scale."""
    p, _, _ = tr.adamw_step_numpy(np.zeros(3), np.array([1e-4, -3.0, 50.0]), np.zeros(3), np.zeros(3), 1,
                                  0.01, weight_decay=0.0)
    np.testing.assert_allclose(p, [-0.01, 0.01, -0.01], rtol=1e-3)


@pytest.mark.parametrize("kwargs, name", [(dict(t=0), "t"), (dict(lr=-1.0), "lr"),
                                          (dict(beta1=1.0), "beta1"), (dict(weight_decay=-1), "weight_decay")])
def test_adamw_numpy_bad_inputs(kwargs, name):
    args = dict(param=np.ones(2), grad=np.ones(2), m=np.zeros(2), v=np.zeros(2), t=1, lr=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        tr.adamw_step_numpy(**args)
    with pytest.raises(ValueError, match="shape"):
        tr.adamw_step_numpy(np.ones(2), np.ones(3), np.zeros(2), np.zeros(2), 1, 0.1)


# --- gradient clipping and the loop ------------------------------------------------------------
def test_grad_clipping_formula(ids):
    model = tiny_model()
    x, y = get_batch(ids, TINY.block_size, 8, generator=torch.Generator().manual_seed(0))
    model(x, y)[1].backward()
    grads = [p.grad.detach().clone() for p in model.parameters()]
    norm = math.sqrt(sum((g.double() ** 2).sum().item() for g in grads))
    returned = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
    assert returned.item() == pytest.approx(norm, rel=1e-5)
    scale = min(1.0, 0.1 / (norm + 1e-6))
    for g, p in zip(grads, model.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), (g * scale).numpy(), rtol=1e-5, atol=1e-9)


def test_train_lowers_the_loss_and_records_history(ids):
    cfg = replace(TINY, max_steps=30, eval_interval=10)
    model = tiny_model(cfg)
    seen = []
    h = tr.train(model, cfg, ids, ids, progress=False, callback=lambda hist, m: seen.append(hist["step"]))
    assert h["step"] == 30 and len(h["train_loss"]) == 30 and seen == [10, 20, 30]
    assert h["eval_val"][-1] < h["eval_val"][0] < math.log(11) + 0.1
    assert h["lr"] == [tr.lr_at(s, cfg.lr, cfg.warmup_steps, 30, cfg.min_lr) for s in range(30)]
    assert h["tokens"] == 30 * cfg.batch_size * cfg.block_size


def test_history_records_the_global_grad_norm_before_clipping(ids):
    """history["grad_norm"][k] is sqrt(sum of squared gradients) of step k, before clipping,
    whether clipping is on (clip_grad_norm_ returns it) or off (measured anyway)."""
    for clip in (0.1, 0.0):
        cfg = replace(TINY, max_steps=3, grad_clip=clip)
        model = tiny_model(cfg)
        h = tr.train(model, cfg, ids, progress=False, steps=2)
        assert len(h["grad_norm"]) == 2 and all(n > 0 for n in h["grad_norm"])
        # step 3 by hand from the same state: the batch the generator gives next, the gradient, its norm
        state = {n: p.detach().clone() for n, p in model.named_parameters()}
        x, y = get_batch(ids, cfg.block_size, cfg.batch_size, generator=_generator_after(cfg.seed, ids, cfg, 2))
        model.zero_grad(set_to_none=True)
        model(x, y)[1].backward()
        by_hand = math.sqrt(sum((p.grad.double() ** 2).sum().item() for p in model.parameters()))
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(state[n])
        h = tr.train(model, cfg, ids, history=h, optimizer=None, progress=False,
                     generator=_generator_after(cfg.seed, ids, cfg, 2))
        assert h["grad_norm"][2] == pytest.approx(by_hand, rel=1e-5)
        if clip:
            assert by_hand > clip          # so clipping did fire: the record is the norm before it


def _generator_after(seed, ids, cfg, n):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        get_batch(ids, cfg.block_size, cfg.batch_size, generator=gen)
    return gen


def test_an_older_history_without_grad_norm_still_resumes(ids):
    cfg = replace(TINY, max_steps=6)
    model = tiny_model(cfg)
    opt, gen = tr.make_optimizer(model, cfg), torch.Generator().manual_seed(cfg.seed)
    h = tr.train(model, cfg, ids, optimizer=opt, generator=gen, steps=3, progress=False)
    del h["grad_norm"]                                    # as saved before the key existed
    h = tr.train(model, cfg, ids, optimizer=opt, generator=gen, history=h, progress=False)
    assert h["grad_norm"][:3] == [None] * 3 and len(h["grad_norm"]) == 6 and h["grad_norm"][3] > 0


def test_train_bad_inputs(ids):
    model = tiny_model()
    with pytest.raises(ValueError, match="block_size"):
        tr.train(model, replace(TINY, block_size=8), ids, progress=False)
    with pytest.raises(ValueError, match="steps"):
        tr.train(model, TINY, ids, steps=0, progress=False)
    with pytest.raises(ValueError, match="steps"):
        tr.train(model, TINY, ids, steps=TINY.max_steps + 1, progress=False)
    with pytest.raises(ValueError, match="train_ids"):
        tr.train(model, TINY, ids[:5], progress=False)
    with pytest.raises(ValueError, match="cfg"):
        tr.train(model, {"lr": 1e-3}, ids, progress=False)


# --- evaluation --------------------------------------------------------------------------------
def test_evaluate_is_the_mean_over_every_token(ids):
    model = tiny_model()
    data = ids[:203]                                   # 202 targets: 12 windows of 16 and 10 left over
    with torch.no_grad():
        total = 0.0
        for start in range(0, 202, 16):
            x = data[start:min(start + 16, 202)][None]
            y = data[start + 1:min(start + 17, 203)][None]
            total += F.cross_entropy(model(x)[0][0], y[0], reduction="sum").item()
    assert tr.evaluate(model, data, batch_size=5) == pytest.approx(total / 202, rel=1e-6)
    est = tr.estimate_loss(model, ids, batch_size=4, iters=3, seed=7)
    assert est == tr.estimate_loss(model, ids, batch_size=4, iters=3, seed=7)   # fixed batches
    with pytest.raises(ValueError, match="iters"):
        tr.estimate_loss(model, ids, iters=0)
    with pytest.raises(ValueError, match="batch_size"):
        tr.evaluate(model, ids, batch_size=0)


# --- checkpoints and resume --------------------------------------------------------------------
def test_checkpoint_round_trip_bit_identical_logits(ids, tmp_path):
    model = tiny_model()
    tr.train(model, replace(TINY, max_steps=5), ids, progress=False)
    tok = CharTokenizer("abcdefghijk")
    tr.save_training_checkpoint(tmp_path, model, None, TINY, {"step": 5}, tokenizer=tok, val_loss=1.0)
    loaded = load_checkpoint(tmp_path / "model.safetensors")
    x = ids[:32].view(2, 16)
    assert torch.equal(model.eval()(x)[0], loaded.eval()(x)[0])
    model2, tok2 = pt.load_pretrained(directory=tmp_path)
    assert torch.equal(model(x)[0], model2(x)[0]) and tok2.chars == tok.chars
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["train"]["max_steps"] == TINY.max_steps and meta["results"]["val_loss"] == 1.0


def test_resume_continues_exactly(ids, tmp_path):
    cfg = replace(TINY, max_steps=12, eval_interval=4)
    straight = tiny_model(cfg)
    h_straight = tr.train(straight, cfg, ids, ids, progress=False)

    first = tiny_model(cfg)
    opt = tr.make_optimizer(first, cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    h = tr.train(first, cfg, ids, ids, optimizer=opt, generator=gen, steps=5, progress=False)
    tr.save_training_checkpoint(tmp_path, first, opt, cfg, h, gen)
    del first, opt, gen
    model, opt, cfg2, hist, gen = tr.load_training_checkpoint(tmp_path)
    assert cfg2 == cfg and hist["step"] == 5
    tr.train(model, cfg2, ids, ids, optimizer=opt, history=hist, generator=gen, progress=False)
    assert hist["train_loss"] == h_straight["train_loss"]          # the same losses, step by step
    for (n, a), b in zip(straight.named_parameters(), model.parameters()):
        assert torch.equal(a, b), n


def test_missing_checkpoint_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="optimizer|model"):
        tr.load_training_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="utils.train --preset pretrained"):
        pt.load_pretrained(directory=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="device"):
        pt.load_pretrained(device="not-a-device", directory=tmp_path)


def test_command_line_and_resume(tmp_path):
    out = tmp_path / "run"
    r = tr.main(["--preset", "tiny", "--out", str(out), "--max-steps", "6", "--eval-interval", "3",
                 "--quiet", "--device", "cpu", "--val-tokens", "20000", "--threads", "1"])
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "config.json", "vocab.json",
                                               "optimizer.safetensors", "trainer_state.json"}
    meta = json.loads((out / "config.json").read_text())
    assert meta["results"]["step"] == 6 and meta["train"]["max_steps"] == 6
    assert meta["results"]["val_targets"] == 19999
    assert r["val_loss"] == meta["results"]["val_loss"] and 2.0 < r["val_loss"] < math.log(71) + 0.2
    model, tok = pt.load_pretrained(directory=out)
    assert tok.chars == CharTokenizer.from_text(load_corpus()).chars
    tr.main(["--out", str(out), "--resume", "--quiet", "--device", "cpu"])   # already finished: no-op
    assert json.loads((out / "trainer_state.json").read_text())["step"] == 6
    with pytest.raises(SystemExit):
        tr.main(["--preset", "no-such-preset", "--out", str(out)])


# --- the shipped checkpoint ----------------------------------------------------------------------
@pytest.mark.skipif(not (pt.PRETRAINED_DIR / "model.safetensors").is_file(),
                    reason="data/pretrained not made yet")
def test_shipped_pretrained_checkpoint():
    model, tok = pt.load_pretrained()
    info = pt.pretrained_info()
    assert tok.chars == CharTokenizer.from_text(load_corpus()).chars
    assert model.config == GPTConfig(**info["model"]) and not model.training
    assert info["results"]["val_loss"] < 1.75
    # the recorded validation loss is reproducible on the first 20,000 held-out characters' scale
    ids = torch.tensor(tok.encode(load_corpus("val")[:20000]))
    assert abs(tr.evaluate(model, ids) - info["results"]["val_loss"]) < 0.25

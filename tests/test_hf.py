"""utils.hf: the book's GPT <-> transformers' GPT2LMHeadModel, export, offline fallback (chapter 6)."""
import os
import subprocess
import sys

import huggingface_hub.constants
import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

from utils import hf
from utils.data import CharTokenizer
from utils.gpt import GPT, GPTConfig, param_count_formula
from utils.notebooks import ROOT

TOL = dict(rtol=1e-5, atol=1e-5)   # float32: the two models run the same operations in the same order


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def trained_like(config, seed):
    """A random book GPT with larger-than-initial weights, so logits differ visibly between tokens."""
    torch.manual_seed(seed)
    model = GPT(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return model


@pytest.mark.parametrize("sizes", [(23, 16, 2, 4, 32), (71, 64, 3, 4, 48), (7, 5, 1, 1, 8)])
def test_book_to_hf_gives_the_same_logits(sizes):
    V, T, L, H, C = sizes
    model = trained_like(GPTConfig(V, T, L, H, C), seed=L)
    hf_model = hf.book_to_hf(model)
    x = torch.randint(0, V, (3, T), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = model(x)[0], hf_model(x).logits
    assert ours.abs().max() > 1.0                                   # not a trivially flat model
    torch.testing.assert_close(theirs, ours, **TOL)
    assert hf_model.lm_head.weight is hf_model.transformer.wte.weight   # still tied
    assert hf_model.num_parameters() == model.num_params() == param_count_formula(model.config)


@pytest.mark.parametrize("seed", [0, 1])
def test_hf_to_book_gives_the_same_logits(seed):
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=41, n_positions=24, n_embd=32, n_layer=2, n_head=4,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.3)
    hf_model = GPT2LMHeadModel(config).eval()          # GPT-2's own "gelu_new" and initialisation
    model = hf.hf_to_book(hf_model)
    x = torch.randint(0, 41, (2, 24), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], hf_model(x).logits, **TOL)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert model.config == GPTConfig(41, 24, 2, 4, 32)


def test_round_trip_returns_identical_tensors_and_conv1d_is_transposed():
    model = trained_like(GPTConfig(19, 8, 2, 2, 16), seed=3)
    hf_model = hf.book_to_hf(model)
    ours, theirs = model.transformer.h[0].attn.c_attn, hf_model.transformer.h[0].attn.c_attn
    assert tuple(ours.weight.shape) == (48, 16) and tuple(theirs.weight.shape) == (16, 48)
    x = torch.randn(5, 16)
    with torch.no_grad():      # nn.Linear: x W^T + b;  Conv1D: x W + b  (NumPy, from the formulas)
        ref = x.numpy() @ theirs.weight.numpy() + theirs.bias.numpy()
        np.testing.assert_allclose(ours(x).numpy(), ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(theirs(x).numpy(), ref, rtol=1e-5, atol=1e-6)
    back = hf.hf_to_book(hf_model)
    for (k, a), (k2, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k


def test_gpt2_parameter_counts_by_formula_match_transformers():
    for name, (L, H, C) in hf.GPT2_SIZES.items():
        with torch.device("meta"):          # shapes only: even the 1.5B model costs no memory
            hf_model = GPT2LMHeadModel(GPT2Config(n_layer=L, n_head=H, n_embd=C))
        n = sum(p.numel() for p in hf_model.parameters())
        assert n == param_count_formula(GPTConfig(50257, 1024, L, H, C)), name
    assert param_count_formula(GPTConfig(50257, 1024, 12, 12, 768)) == 124_439_808


def test_unsupported_variants_are_refused():
    base = dict(vocab_size=11, n_positions=8, n_embd=8, n_layer=1, n_head=2)
    for extra, match in [(dict(activation_function="gelu"), "activation_function"),
                         (dict(layer_norm_epsilon=1e-6), "layer_norm_epsilon"),
                         (dict(n_inner=16), "n_inner"),
                         (dict(scale_attn_by_inverse_layer_idx=True), "scale_attn_by_inverse_layer_idx")]:
        with pytest.raises(ValueError, match=match):
            hf.book_config(GPT2Config(**base, **extra))
    with pytest.raises(ValueError, match="bias must be True"):
        hf.gpt2_config(GPTConfig(11, 8, 1, 2, 8, bias=False))
    with pytest.raises(ValueError, match="utils.gpt.GPT"):
        hf.book_to_hf(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="GPT2LMHeadModel"):
        hf.hf_to_book(GPT(GPTConfig(11, 8, 1, 2, 8)))
    with pytest.raises(ValueError, match="CharTokenizer"):
        hf.char_tokenizer_to_hf("abc")
    with pytest.raises(ValueError, match="timeout"):
        hf.hub_reachable(0)


@pytest.fixture(scope="module")
def small_book_model():
    tok = CharTokenizer("\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz—")
    return trained_like(GPTConfig(tok.vocab_size, 64, 2, 2, 16), seed=5), tok


def test_export_loads_with_from_pretrained_and_same_api(small_book_model, tmp_path):
    model, tok = small_book_model
    folder = hf.export_hf(model, tok, tmp_path / "book-gpt")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    loaded = GPT2LMHeadModel.from_pretrained(folder).eval()
    hf_tok = AutoTokenizer.from_pretrained(folder)
    text = "ROMEO:\nBut soft — what light?"
    assert hf_tok.encode(text) == tok.encode(text)
    assert hf_tok.decode(tok.encode(text)) == text
    x = torch.tensor([tok.encode(text)])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, model(x)[0], **TOL)
    with pytest.raises(ValueError, match="tokenizer has"):
        hf.export_hf(model, CharTokenizer("abc"), tmp_path / "bad")


def test_offline_fallback_with_hf_hub_offline(small_book_model, tmp_path, monkeypatch, capsys):
    model, tok = small_book_model
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", huggingface_hub.constants.HF_HUB_OFFLINE)
    loaded, hf_tok, source = hf.load_gpt2("gpt2", fallback=(model, tok), fallback_dir=tmp_path / "fb")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "Could not load 'gpt2' (offline" in out and "book's own checkpoint" in out
    assert source == f"book:{tmp_path / 'fb'}"
    assert isinstance(loaded, GPT2LMHeadModel) and loaded.config.vocab_size == tok.vocab_size
    x = torch.tensor([hf_tok.encode("KING:\n")])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, model(x)[0], **TOL)
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True


def test_offline_fallback_in_a_fresh_process(tmp_path):
    """The variable set before Python starts, as a reader would: fails fast, no exception, one line."""
    code = ("import torch; from utils import hf; from utils.gpt import GPT, GPTConfig; "
            "from utils.data import CharTokenizer; tok = CharTokenizer('ab\\n'); "
            "m = GPT(GPTConfig(3, 8, 1, 1, 4)); "
            f"model, t, src = hf.load_gpt2('gpt2', fallback=(m, tok), fallback_dir={str(tmp_path)!r}); "
            "print('SOURCE', src.split(':')[0], type(model).__name__, t.decode(t.encode('ab')))")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Could not load 'gpt2' (offline" in result.stdout
    assert "SOURCE book GPT2LMHeadModel ab" in result.stdout


def test_load_gpt2_validates_its_name():
    with pytest.raises(ValueError, match="name"):
        hf.load_gpt2("")


@pytest.mark.skipif(not (ROOT / "data" / "pretrained" / "model.safetensors").exists(),
                    reason="the book's checkpoint (data/pretrained) is not built")
def test_offline_fallback_defaults_to_the_books_checkpoint(tmp_path, monkeypatch, capsys):
    from utils.pretrained import load_pretrained

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", huggingface_hub.constants.HF_HUB_OFFLINE)
    loaded, hf_tok, source = hf.load_gpt2("gpt2", fallback_dir=tmp_path / "fb")
    book, tok = load_pretrained()
    assert source.startswith("book:") and "Could not load" in capsys.readouterr().out
    ids = torch.tensor([tok.encode("MACBETH:\n")])
    assert hf_tok.encode("MACBETH:\n") == ids[0].tolist()
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, book(ids)[0], **TOL)

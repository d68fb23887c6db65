"""The book's GPT and Hugging Face's GPT-2: the same model, two sets of names.

Built in chapter 6.  ``utils.gpt.GPT`` uses nanoGPT's attribute names, which are
also GPT-2's, so a state dict moves from one to the other key by key.  Three
details make the two compute the same numbers:

- GPT-2 stores its four projection matrices in ``Conv1D`` layers as
  ``(in, out)``; ``nn.Linear`` stores ``(out, in)``: those four are transposed.
- The output layer is tied to the token embedding in both (one matrix).
- LayerNorm epsilon 1e-5 and the tanh-approximated GELU in both.  We export
  ``activation_function="gelu_pytorch_tanh"`` (the same formula as GPT-2's
  ``"gelu_new"``, computed by PyTorch's kernel, which the book's GPT also uses)
  so the logits agree to float32 rounding (chapter 6 measures 0 for the book's checkpoint and
  about 3e-6 from a GPT-2 with ``"gelu_new"``; the tests assert 1e-5).

    hf_model = book_to_hf(model)                 # utils.gpt.GPT -> GPT2LMHeadModel
    model = hf_to_book(hf_model)                 # and back
    folder = export_hf(model, char_tokenizer, "book-gpt-hf")
    GPT2LMHeadModel.from_pretrained(folder); AutoTokenizer.from_pretrained(folder)
    model, tokenizer, source = load_gpt2("gpt2")  # the Hub when online, else the book's model
"""
from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import torch

from utils import checks
from utils.gpt import GPT, GPTConfig

__all__ = ["CONV1D_WEIGHTS", "GPT2_SIZES", "gpt2_config", "book_config", "book_to_hf", "hf_to_book",
           "char_tokenizer_to_hf", "export_hf", "hub_reachable", "use_offline_mode_if_unreachable",
           "load_gpt2"]

#: The weights GPT-2 keeps in ``Conv1D`` layers, stored transposed relative to ``nn.Linear``.
CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")

#: OpenAI's four GPT-2 sizes (Radford et al., 2019): (n_layer, n_head, n_embd); vocab 50257, context 1024.
GPT2_SIZES = {
    "gpt2": (12, 12, 768),
    "gpt2-medium": (24, 16, 1024),
    "gpt2-large": (36, 20, 1280),
    "gpt2-xl": (48, 25, 1600),
}

_TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh")   # the same function: GPT-2's tanh approximation
_SHAPE = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")   # set from the GPTConfig only


def _check_extra(extra: dict, name: str) -> None:
    """Extra ``GPT2Config`` settings: known names only (a typo would be stored silently), not the shape."""
    from transformers import GPT2Config

    known = GPT2Config().to_dict()
    bad = [k for k in extra if k in _SHAPE or k not in known]
    if bad:
        raise ValueError(f"{name}: {bad} cannot be set here: the shape ({', '.join(_SHAPE)}) comes from the "
                         "GPTConfig, and other keys must be GPT2Config settings")


def gpt2_config(config: GPTConfig, **extra):
    """The ``transformers.GPT2Config`` of the same shape as the book's ``GPTConfig``.

    ``extra`` keyword arguments go to ``GPT2Config`` (e.g. ``bos_token_id``).  GPT-2 always
    has biases, so ``config.bias`` must be True.
    """
    from transformers import GPT2Config

    if not isinstance(config, GPTConfig):
        raise ValueError(f"config must be a utils.gpt.GPTConfig, got {type(config).__name__}")
    _check_extra(extra, "extra")
    if not config.bias:
        raise ValueError("config.bias must be True: GPT-2's linear and LayerNorm layers all have biases")
    settings = dict(vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
                    n_layer=config.n_layer, n_head=config.n_head, n_inner=None,
                    activation_function="gelu_pytorch_tanh", layer_norm_epsilon=1e-5,
                    resid_pdrop=config.dropout, embd_pdrop=config.dropout, attn_pdrop=0.0,
                    tie_word_embeddings=True, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    settings.update(extra)
    return GPT2Config(**settings)


def book_config(hf_config) -> GPTConfig:
    """The book's ``GPTConfig`` for a ``GPT2Config``; ValueError for a variant the book's GPT lacks."""
    from transformers import GPT2Config

    c = checks.instance(hf_config, GPT2Config, "hf_config", "transformers.GPT2Config")
    rules = {
        "activation_function": (c.activation_function in _TANH_GELUS, f"one of {_TANH_GELUS}"),
        "layer_norm_epsilon": (abs(c.layer_norm_epsilon - 1e-5) < 1e-12, "1e-5"),
        "n_inner": (c.n_inner in (None, 4 * c.n_embd), f"None or 4 * n_embd = {4 * c.n_embd}"),
        "scale_attn_weights": (c.scale_attn_weights is True, "True"),
        "scale_attn_by_inverse_layer_idx": (c.scale_attn_by_inverse_layer_idx is False, "False"),
        "add_cross_attention": (not c.add_cross_attention, "False"),
        "tie_word_embeddings": (getattr(c, "tie_word_embeddings", True) is not False, "True"),
    }
    for name, (ok, allowed) in rules.items():
        if not ok:
            raise ValueError(f"hf_config.{name} must be {allowed} for the book's GPT, "
                             f"got {getattr(c, name)!r}")
    return GPTConfig(vocab_size=c.vocab_size, block_size=c.n_positions, n_layer=c.n_layer,
                     n_head=c.n_head, n_embd=c.n_embd, dropout=float(c.resid_pdrop), bias=True)


def _convert(state_dict):
    """Transpose the four Conv1D <-> Linear weights; every other tensor is copied as is."""
    return {k: (v.t() if k.endswith(CONV1D_WEIGHTS) else v).detach().clone().contiguous()
            for k, v in state_dict.items()}


def book_to_hf(model: GPT, **config_extra):
    """A ``GPT2LMHeadModel`` holding a copy of the book GPT's weights (in eval mode)."""
    from transformers import GPT2LMHeadModel

    if not isinstance(model, GPT):
        raise ValueError(f"model must be a utils.gpt.GPT, got {type(model).__name__}")
    _check_extra(config_extra, "config_extra")
    config = gpt2_config(model.config, **config_extra)
    with torch.device("meta"):                  # no time spent on a random initialisation
        hf = GPT2LMHeadModel(config)
    state = _convert(model.state_dict())
    state.pop("lm_head.weight")                 # tied: it is transformer.wte.weight
    hf.load_state_dict(state, strict=False, assign=True)
    hf.lm_head.weight = hf.transformer.wte.weight
    _check_loaded(hf)
    return hf.to(model.transformer.wte.weight.device).eval()


def hf_to_book(hf_model) -> GPT:
    """The book's ``GPT`` holding a copy of a ``GPT2LMHeadModel``'s weights (in eval mode)."""
    from transformers import GPT2LMHeadModel

    if not isinstance(hf_model, GPT2LMHeadModel):
        raise ValueError(f"hf_model must be a transformers.GPT2LMHeadModel, got {type(hf_model).__name__}")
    config = book_config(hf_model.config)
    with torch.device("meta"):
        model = GPT(config)
    state = _convert(hf_model.state_dict())
    state.pop("lm_head.weight", None)
    state = {k: v for k, v in state.items() if not k.endswith((".attn.bias", ".attn.masked_bias"))}
    model.load_state_dict(state, strict=False, assign=True)
    model.lm_head.weight = model.transformer.wte.weight   # tie again after assigning
    _check_loaded(model)
    return model.to(hf_model.transformer.wte.weight.device).eval()


def _check_loaded(module):
    left = [n for n, t in list(module.named_parameters()) + list(module.named_buffers()) if t.is_meta]
    if left:
        raise ValueError(f"weights missing after conversion: {left[:5]}")


def char_tokenizer_to_hf(tokenizer):
    """A ``transformers.PreTrainedTokenizerFast`` that encodes and decodes like a ``CharTokenizer``.

    A character tokenizer is a BPE with no merges and no pre-tokenizer: the whole text
    is one "word", split into characters, each looked up in the vocabulary.
    """
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    if not hasattr(tokenizer, "stoi"):
        raise ValueError(f"tokenizer must be a utils.data.CharTokenizer, got {type(tokenizer).__name__}")
    tok = Tokenizer(models.BPE(vocab=dict(tokenizer.stoi), merges=[]))
    tok.decoder = decoders.Fuse()              # join the characters without spaces
    return PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False)


def export_hf(model: GPT, tokenizer, folder) -> Path:
    """Save the book's model (and its ``CharTokenizer``) as a Hugging Face folder; return its path.

    The folder holds ``config.json``, ``model.safetensors``, ``generation_config.json`` and the
    tokenizer files, so ``GPT2LMHeadModel.from_pretrained(folder)`` and
    ``AutoTokenizer.from_pretrained(folder)`` load them.
    """
    from utils.data import CharTokenizer

    folder = checks.folder(folder, "folder")
    hf = book_to_hf(model)                     # checks the model; nothing is written before every check
    if tokenizer is not None:
        checks.instance(tokenizer, CharTokenizer, "tokenizer", "utils.data.CharTokenizer")
        if tokenizer.vocab_size != model.config.vocab_size:
            raise ValueError(f"tokenizer has {tokenizer.vocab_size} tokens but the model "
                             f"{model.config.vocab_size}")
    hf.save_pretrained(folder)                 # safetensors; the tied matrix stored once
    if tokenizer is not None:
        char_tokenizer_to_hf(tokenizer).save_pretrained(folder)
    (folder / "README.md").write_text(
        "The book's character-level GPT (utils.gpt.GPT) exported with utils.hf.export_hf.\n"
        "Load with transformers.GPT2LMHeadModel.from_pretrained(folder) and "
        "transformers.AutoTokenizer.from_pretrained(folder).\n")
    return folder


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hugging Face Hub opens within ``timeout`` seconds."""
    if not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number > 0 (seconds), got {timeout!r}")
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host.split(":")[0], 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def use_offline_mode_if_unreachable(timeout: float = 3.0) -> bool:
    """Switch the Hub client to offline mode when the Hub cannot be reached; return True if offline.

    Offline, ``from_pretrained`` fails at once (or loads from the local cache) instead of
    retrying for about 40 seconds.  Honours an ``HF_HUB_OFFLINE=1`` already set.
    """
    import huggingface_hub.constants as hub

    checks.number(timeout, "timeout", 0, low_open=True)
    offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE") \
        or not hub_reachable(timeout)
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
        hub.HF_HUB_OFFLINE = True               # the client read the variable when it was imported
    return offline


def load_gpt2(name: str = "gpt2", fallback=None, fallback_dir=None, timeout: float = 3.0, verbose=True):
    """``(model, tokenizer, source)``: GPT-2 from the Hub if possible, else the book's own checkpoint.

    Tries ``GPT2LMHeadModel.from_pretrained(name)`` (the Hub, or the local cache when offline).
    If that fails, prints one line saying so, exports ``fallback`` (a ``(GPT, CharTokenizer)``
    pair; by default ``utils.pretrained.load_pretrained()``) to ``fallback_dir`` (a new
    temporary folder by default) and loads it through the same ``from_pretrained`` API.
    ``source`` is ``"hub:<name>"`` or ``"book:<folder>"``.
    """
    from transformers import AutoTokenizer, GPT2LMHeadModel

    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty model name or folder, got {name!r}")
    if fallback is not None:
        from utils.data import CharTokenizer
        if not (isinstance(fallback, tuple) and len(fallback) == 2 and isinstance(fallback[0], GPT)
                and isinstance(fallback[1], CharTokenizer)):
            raise checks.ArgumentTypeError("fallback must be None or a (utils.gpt.GPT, "
                                           "utils.data.CharTokenizer) "
                                           f"pair, got {type(fallback).__name__}")
    fallback_dir = None if fallback_dir is None else checks.folder(fallback_dir, "fallback_dir")
    checks.flag(verbose, "verbose")
    offline = use_offline_mode_if_unreachable(timeout)
    try:
        model = GPT2LMHeadModel.from_pretrained(name, local_files_only=offline)
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=offline)
        if len(tokenizer) < 2:             # some versions return an empty tokenizer instead of failing
            raise OSError(f"the tokenizer of {name!r} came back empty (vocabulary of {len(tokenizer)})")
        return model.eval(), tokenizer, f"hub:{name}"
    except (OSError, ValueError) as e:
        if verbose:
            why = "offline: the Hugging Face Hub cannot be reached" if offline else type(e).__name__
            print(f"Could not load {name!r} ({why}); using the book's own checkpoint "
                  f"through the same from_pretrained API instead.")
    if fallback is None:
        from utils.pretrained import load_pretrained
        fallback = load_pretrained(device="cpu")
    folder = fallback_dir if fallback_dir is not None else Path(tempfile.mkdtemp(prefix="book-gpt-hf-"))
    export_hf(fallback[0], fallback[1], folder)
    model = GPT2LMHeadModel.from_pretrained(folder, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return model.eval(), tokenizer, f"book:{folder}"

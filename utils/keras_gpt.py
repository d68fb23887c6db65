"""The book's GPT block (and whole GPT) in Keras 3, with weight copies from PyTorch.

Built in chapter 4, where :class:`KerasBlock` is checked equal to
:class:`utils.gpt.Block` with copied weights, and :class:`KerasGPT` equal to
:class:`utils.gpt.GPT`.  The layers mirror the PyTorch names (``ln_1``, ``c_attn``,
``c_proj``, ``ln_2``, ``c_fc``, ``mlp_proj``) so the copy is one line per
tensor.  Two layout differences matter when copying:

* ``keras.layers.Dense`` stores its kernel as (in, out); ``torch.nn.Linear``
  stores (out, in): transpose.
* ``keras.layers.MultiHeadAttention`` keeps one kernel per projection, shaped
  (E, heads, head_dim) for q/k/v and (heads, head_dim, E) for the output, and
  its ``attention_mask`` is ``True`` where attention is ALLOWED, the opposite of
  ``torch.nn.MultiheadAttention``'s ``attn_mask`` (``True`` = blocked).

Chapter 5 trains a small :class:`KerasGPT` with ``model.fit``: :class:`WindowDataset`
serves seeded random windows of a token array, and :func:`compile_like_book` compiles
the model the way :func:`utils.train.train` trains (cross-entropy on logits, AdamW
without decay on biases and LayerNorm parameters, warm-up + cosine, global-norm
clipping).  :func:`causal_attention_check` shows that
``keras.layers.MultiHeadAttention(use_causal_mask=True)`` and
``keras.ops.dot_product_attention(is_causal=True)`` give the attention of
:class:`KerasBlock`'s own ``tril`` mask.

Importing this module imports Keras (TensorFlow backend by default).
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from utils import checks

__all__ = ["KerasBlock", "KerasGPT", "copy_block_from_torch", "copy_gpt_from_torch", "copy_mha_to_keras",
           "WindowDataset", "lr_schedule", "compile_like_book", "keras_mha_from_block", "causal_attention_check"]


def _t(tensor):
    """A torch tensor as a float32 NumPy array."""
    return tensor.detach().cpu().float().numpy()


def _values(x):
    """``x`` as a NumPy array when it holds values (an eager call), None while Keras traces a graph."""
    if isinstance(x, keras.KerasTensor):
        return None
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        if not tf.executing_eagerly():
            return None
    return keras.ops.convert_to_numpy(x)


class KerasBlock(keras.layers.Layer):
    """Pre-LayerNorm GPT block: ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``, causal attention."""

    def __init__(self, n_embd, n_head, dropout=0.0, bias=True, **kwargs):
        super().__init__(**kwargs)
        checks.integer(n_embd, "n_embd", 1)
        checks.integer(n_head, "n_head", 1)
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be a positive multiple of n_head ({n_head})")
        checks.dropout(dropout)
        checks.flag(bias, "bias")
        self.n_embd, self.n_head, self.dropout_rate, self.bias = n_embd, n_head, dropout, bias
        self.ln_1 = keras.layers.LayerNormalization(epsilon=1e-5, center=bias, name="ln_1")
        self.c_attn = keras.layers.Dense(3 * n_embd, use_bias=bias, name="c_attn")
        self.c_proj = keras.layers.Dense(n_embd, use_bias=bias, name="c_proj")
        self.ln_2 = keras.layers.LayerNormalization(epsilon=1e-5, center=bias, name="ln_2")
        self.c_fc = keras.layers.Dense(4 * n_embd, use_bias=bias, name="c_fc")
        self.mlp_proj = keras.layers.Dense(n_embd, use_bias=bias, name="mlp_proj")
        self.attn_drop = keras.layers.Dropout(dropout)
        self.resid_drop = keras.layers.Dropout(dropout)
        self.mlp_drop = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        C = self.n_embd
        for layer, n_in in ((self.ln_1, C), (self.c_attn, C), (self.c_proj, C),
                            (self.ln_2, C), (self.c_fc, C), (self.mlp_proj, 4 * C)):
            layer.build((None, None, n_in))

    def attention_weights(self, h):
        """Causal attention weights (B, n_head, T, T) of the (already normalised) input ``h``."""
        q, k, _ = self._qkv(h)
        return self._weights(q, k)

    def _qkv(self, h):
        B, T = ops.shape(h)[0], ops.shape(h)[1]
        q, k, v = ops.split(self.c_attn(h), 3, axis=-1)
        split = lambda t: ops.transpose(ops.reshape(t, (B, T, self.n_head, self.n_embd // self.n_head)),
                                        (0, 2, 1, 3))
        return split(q), split(k), split(v)

    def _weights(self, q, k):
        T = ops.shape(q)[2]
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.n_embd // self.n_head)
        allowed = ops.tril(ops.ones((T, T), dtype="bool"))        # True = may attend (Keras convention)
        scores = ops.where(allowed, scores, ops.full_like(scores, -np.inf))
        return ops.softmax(scores, axis=-1)

    def call(self, x, training=None):
        if len(x.shape) != 3 or x.shape[-1] not in (None, self.n_embd):
            raise ValueError(f"x must have shape (B, T, {self.n_embd}), got {tuple(x.shape)}")
        B, T = ops.shape(x)[0], ops.shape(x)[1]
        q, k, v = self._qkv(self.ln_1(x))
        w = self.attn_drop(self._weights(q, k), training=training)
        y = ops.reshape(ops.transpose(ops.matmul(w, v), (0, 2, 1, 3)), (B, T, self.n_embd))
        x = x + self.resid_drop(self.c_proj(y), training=training)
        m = self.mlp_proj(keras.activations.gelu(self.c_fc(self.ln_2(x)), approximate=True))
        return x + self.mlp_drop(m, training=training)

    def get_config(self):
        return {**super().get_config(), "n_embd": self.n_embd, "n_head": self.n_head,
                "dropout": self.dropout_rate, "bias": self.bias}


class KerasGPT(keras.Model):
    """The whole decoder-only GPT in Keras: embeddings, blocks, final LayerNorm, tied output layer.

    ``KerasGPT(config)`` takes a :class:`utils.gpt.GPTConfig`; calling it on
    (B, T) int token ids returns (B, T, vocab_size) logits.
    """

    def __init__(self, config, **kwargs):
        from utils.gpt import GPTConfig

        super().__init__(**kwargs)
        self.config = checks.instance(config, GPTConfig, "config", "utils.gpt.GPTConfig")
        C = config.n_embd
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.wte = keras.layers.Embedding(config.vocab_size, C, embeddings_initializer=init, name="wte")
        self.wpe = keras.layers.Embedding(config.block_size, C, embeddings_initializer=init, name="wpe")
        self.drop = keras.layers.Dropout(config.dropout)
        self.h = [KerasBlock(C, config.n_head, config.dropout, config.bias, name=f"h_{i}")
                  for i in range(config.n_layer)]
        self.ln_f = keras.layers.LayerNormalization(epsilon=1e-5, center=config.bias, name="ln_f")

    def build(self, input_shape):
        C = self.config.n_embd
        self.wte.build((None,))
        self.wpe.build((None,))
        for block in self.h:
            block.build((None, None, C))
        self.ln_f.build((None, None, C))

    def call(self, idx, training=None):
        import torch

        values = _values(idx)
        if values is not None:                 # an eager call: check the ids (Keras would clip or cast them)
            checks.token_ids(torch.as_tensor(values), "idx", self.config.vocab_size)
        T = ops.shape(idx)[1]
        if isinstance(T, int) and T > self.config.block_size:
            raise ValueError(f"sequence length {T} is longer than block_size {self.config.block_size}")
        x = self.drop(self.wte(idx) + self.wpe(ops.arange(T)), training=training)
        for block in self.h:
            x = block(x, training=training)
        return ops.matmul(self.ln_f(x), ops.transpose(self.wte.embeddings))  # tied with wte


def copy_block_from_torch(torch_block, keras_block: KerasBlock) -> KerasBlock:
    """Copy a :class:`utils.gpt.Block`'s weights into a :class:`KerasBlock` of the same size."""
    from utils.gpt import Block

    checks.instance(torch_block, Block, "torch_block", "utils.gpt.Block")
    checks.instance(keras_block, KerasBlock, "keras_block")
    torch_sizes = (torch_block.ln_1.normalized_shape[0], torch_block.attn.n_head)
    if (keras_block.n_embd, keras_block.n_head) != torch_sizes:
        raise ValueError("torch_block and keras_block have different n_embd or n_head")
    if not keras_block.built:
        keras_block.build((None, None, keras_block.n_embd))
    pairs = [(keras_block.ln_1, torch_block.ln_1), (keras_block.ln_2, torch_block.ln_2)]
    for k_ln, t_ln in pairs:
        k_ln.gamma.assign(_t(t_ln.weight))
        if t_ln.bias is not None:
            k_ln.beta.assign(_t(t_ln.bias))
    dense = [(keras_block.c_attn, torch_block.attn.c_attn), (keras_block.c_proj, torch_block.attn.c_proj),
             (keras_block.c_fc, torch_block.mlp.c_fc), (keras_block.mlp_proj, torch_block.mlp.c_proj)]
    for k_d, t_lin in dense:
        k_d.kernel.assign(_t(t_lin.weight).T)                     # (out, in) -> (in, out)
        if t_lin.bias is not None:
            k_d.bias.assign(_t(t_lin.bias))
    return keras_block


def copy_gpt_from_torch(torch_gpt, keras_gpt: KerasGPT) -> KerasGPT:
    """Copy a :class:`utils.gpt.GPT`'s weights into a :class:`KerasGPT` with the same config."""
    from utils.gpt import GPT

    checks.instance(torch_gpt, GPT, "torch_gpt", "utils.gpt.GPT")
    checks.instance(keras_gpt, KerasGPT, "keras_gpt")
    if torch_gpt.config != keras_gpt.config:
        raise ValueError(f"torch_gpt and keras_gpt configs differ: {torch_gpt.config} vs {keras_gpt.config}")
    if not keras_gpt.built:
        keras_gpt.build((None, None))
        keras_gpt.built = True
    tr = torch_gpt.transformer
    keras_gpt.wte.embeddings.assign(_t(tr.wte.weight))
    keras_gpt.wpe.embeddings.assign(_t(tr.wpe.weight))
    for t_block, k_block in zip(tr.h, keras_gpt.h):
        copy_block_from_torch(t_block, k_block)
    keras_gpt.ln_f.gamma.assign(_t(tr.ln_f.weight))
    if tr.ln_f.bias is not None:
        keras_gpt.ln_f.beta.assign(_t(tr.ln_f.bias))
    return keras_gpt


def copy_mha_to_keras(ours, keras_mha):
    """Copy :class:`utils.attention.MultiHeadAttention` weights into ``keras.layers.MultiHeadAttention``.

    The Keras layer must be built (called once) with ``num_heads=ours.n_head``
    and ``key_dim=ours.head_dim``.
    """
    from utils.attention import MultiHeadAttention

    checks.instance(ours, MultiHeadAttention, "ours", "utils.attention.MultiHeadAttention")
    checks.instance(keras_mha, keras.layers.MultiHeadAttention, "keras_mha",
                    "keras.layers.MultiHeadAttention")
    E, H, D = ours.embed_dim, ours.n_head, ours.head_dim
    if ours.w_q.bias is None:
        raise ValueError("keras.layers.MultiHeadAttention has biases by default; ours has none")
    if not keras_mha.built:
        raise ValueError("keras_mha is not built yet: call it once on (B, T, E) inputs first")
    if keras_mha.num_heads != H or keras_mha.key_dim != D:
        raise ValueError(f"keras_mha has num_heads={keras_mha.num_heads}, key_dim={keras_mha.key_dim}; "
                         f"need {H}, {D}")
    weights = []
    for lin in (ours.w_q, ours.w_k, ours.w_v):
        weights.append(_t(lin.weight).T.reshape(E, H, D))          # (E, heads, head_dim)
        weights.append(_t(lin.bias).reshape(H, D))
    weights.append(_t(ours.w_o.weight).T.reshape(H, D, E))         # (heads, head_dim, E)
    weights.append(_t(ours.w_o.bias))
    keras_mha.set_weights(weights)
    return keras_mha


# --- training with model.fit (chapter 5) ---------------------------------------------------
class WindowDataset(keras.utils.PyDataset):
    """``steps`` batches of ``batch_size`` random windows ``(x, y)`` of ``ids`` (y = x shifted by one).

    The windows are seeded: batch ``i`` of epoch ``e`` is drawn with
    ``np.random.default_rng([seed, e, i])``, so two datasets with one seed serve the
    same batches.  With ``resample=False`` every epoch serves the same batches (a fixed
    validation set, so the validation losses of two epochs are comparable).
    """

    def __init__(self, ids, block_size, batch_size, steps, seed=0, resample=True):
        super().__init__(workers=1, use_multiprocessing=False)
        self.ids = checks.int_array(ids, "ids", ndims=(1,)).astype(np.int32)
        self.block_size = checks.integer(block_size, "block_size", 1)
        self.batch_size = checks.integer(batch_size, "batch_size", 1)
        self.steps = checks.integer(steps, "steps", 1)
        self.seed = checks.integer(seed, "seed", 0)
        self.resample = checks.flag(resample, "resample")
        if self.ids.size and self.ids.min() < 0:
            raise ValueError(f"ids must be token ids >= 0, got {int(self.ids.min())}")
        if len(self.ids) < self.block_size + 1:
            raise ValueError(f"ids must hold at least block_size + 1 = {self.block_size + 1} tokens, "
                             f"got {len(self.ids)}")
        self.epoch = 0

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < self.steps:
            raise IndexError(f"index must be an int in [0, {self.steps}), got {index!r}")
        g = np.random.default_rng([self.seed, self.epoch if self.resample else 0, int(index)])
        starts = g.integers(0, len(self.ids) - self.block_size, size=self.batch_size)
        rows = starts[:, None] + np.arange(self.block_size + 1)
        w = self.ids[rows]
        return w[:, :-1], w[:, 1:]

    def on_epoch_end(self):
        self.epoch += 1


def lr_schedule(max_lr, warmup_steps, max_steps, min_lr=0.0):
    """:func:`utils.train.lr_at` as ``keras.optimizers.schedules.CosineDecay`` (as close as it goes).

    ``CosineDecay(max_lr / warmup_steps, decay_steps=max_steps - warmup_steps,
    alpha=min_lr / max_lr, warmup_target=max_lr, warmup_steps=warmup_steps)``.  Keras
    evaluates it at ``optimizer.iterations`` (0 for the first update), like ``lr_at(step)``.
    The cosine part (``step >= warmup_steps``, including ``min_lr`` after ``max_steps``)
    is the same formula.  The warm-up is not: ``lr_at`` climbs ``max_lr * (step + 1) / W``
    and reaches ``max_lr`` at step ``W - 1`` (then holds it at step ``W``, the cosine's
    start); Keras's line runs from its ``initial_learning_rate`` at step 0 to ``max_lr`` at
    step ``W``.  Starting it at ``max_lr / W`` makes steps 0 and ``>= W`` equal, and in
    between Keras is lower by exactly ``max_lr * step / W**2`` (the most,
    ``max_lr * (W - 1) / W**2``, at step ``W - 1``).  With ``warmup_steps=0`` it is a plain
    cosine from ``max_lr`` and equals ``lr_at`` at every step.
    """
    max_lr = checks.number(max_lr, "max_lr", 0, low_open=True)
    max_steps = checks.integer(max_steps, "max_steps", 1)
    warmup_steps = checks.integer(warmup_steps, "warmup_steps", 0, max_steps - 1)
    min_lr = checks.number(min_lr, "min_lr", 0, max_lr)
    decay = max_steps - warmup_steps
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(max_lr, decay_steps=decay, alpha=min_lr / max_lr)
    return keras.optimizers.schedules.CosineDecay(max_lr / warmup_steps, decay_steps=decay,
                                                  alpha=min_lr / max_lr, warmup_target=max_lr,
                                                  warmup_steps=warmup_steps)


def compile_like_book(model, cfg=None, max_steps=None):
    """Compile ``model`` (a :class:`KerasGPT`) the way :func:`utils.train.train` trains; returns it.

    * loss: ``SparseCategoricalCrossentropy(from_logits=True)`` (mean over all B*T positions,
      the model's cross-entropy);
    * ``keras.optimizers.AdamW(learning_rate=lr_schedule(...), beta_1, beta_2, epsilon=1e-8,
      weight_decay=cfg.weight_decay, global_clipnorm=cfg.grad_clip)`` -- PyTorch's AdamW epsilon
      (Keras's default is 1e-7) and decoupled decay ``w <- w - lr * wd * w`` as PyTorch does;
    * no weight decay on the 1-D variables (biases, LayerNorm gains and shifts), like
      :meth:`utils.gpt.GPT.configure_optimizer`: the matrices and the embeddings are decayed.

    ``cfg`` is a :class:`utils.train.TrainConfig` (default ``PRESETS["tiny"]``); ``max_steps``
    (default ``cfg.max_steps``) is the length of the schedule: epochs * steps per epoch.
    """
    from utils.train import PRESETS, TrainConfig

    checks.instance(model, KerasGPT, "model")
    cfg = PRESETS["tiny"] if cfg is None else checks.instance(cfg, TrainConfig, "cfg", "utils.train.TrainConfig")
    max_steps = cfg.max_steps if max_steps is None else checks.integer(max_steps, "max_steps", 1)
    warmup = min(cfg.warmup_steps, max_steps - 1)
    if not model.built:
        model.build((None, None))
        model.built = True
    opt = keras.optimizers.AdamW(learning_rate=lr_schedule(cfg.lr, warmup, max_steps, cfg.min_lr),
                                 beta_1=cfg.beta1, beta_2=cfg.beta2, epsilon=1e-8,
                                 weight_decay=cfg.weight_decay,
                                 global_clipnorm=cfg.grad_clip if cfg.grad_clip > 0 else None)
    opt.exclude_from_weight_decay(var_list=[v for v in model.trainable_variables if len(v.shape) < 2])
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def keras_mha_from_block(block):
    """A ``keras.layers.MultiHeadAttention`` holding :class:`KerasBlock` ``block``'s attention weights.

    ``mha(h, h, use_causal_mask=True)`` is then the block's attention sub-layer on the
    normalised input ``h = block.ln_1(x)`` (``c_proj`` of the heads' outputs).
    """
    checks.instance(block, KerasBlock, "block")
    if not block.built:
        block.build((None, None, block.n_embd))
    C, H = block.n_embd, block.n_head
    D = C // H
    mha = keras.layers.MultiHeadAttention(num_heads=H, key_dim=D, use_bias=block.bias)
    mha(np.zeros((1, 1, C), "float32"), np.zeros((1, 1, C), "float32"))   # build
    kernel = keras.ops.convert_to_numpy(block.c_attn.kernel)
    weights = []
    for j in range(3):                                           # q, k, v: (C, H, D) and (H, D)
        weights.append(kernel[:, j * C:(j + 1) * C].reshape(C, H, D))
        if block.bias:
            weights.append(keras.ops.convert_to_numpy(block.c_attn.bias)[j * C:(j + 1) * C].reshape(H, D))
    weights.append(keras.ops.convert_to_numpy(block.c_proj.kernel).reshape(H, D, C))
    if block.bias:
        weights.append(keras.ops.convert_to_numpy(block.c_proj.bias))
    mha.set_weights(weights)
    return mha


def causal_attention_check(block, x) -> dict:
    """Largest differences between :class:`KerasBlock`'s own causal attention and Keras's.

    ``x`` is a (B, T, n_embd) float array.  Returns ``{"mha_output", "mha_weights",
    "dot_product_attention"}``: the largest absolute differences of the attention
    sub-layer's output and of its weights between the block (its ``tril`` mask) and
    ``keras.layers.MultiHeadAttention(..., use_causal_mask=True)``, and of the heads'
    outputs between the block and ``keras.ops.dot_product_attention(q, k, v, is_causal=True)``.
    """
    checks.instance(block, KerasBlock, "block")
    x = checks.float_array(x, "x", ndims=(3,)).astype("float32")
    if x.shape[-1] != block.n_embd or x.shape[1] < 1 or x.shape[0] < 1:
        raise ValueError(f"x must have shape (B, T, {block.n_embd}), got {x.shape}")
    h = block.ln_1(x)
    q, k, v = block._qkv(h)
    w = block._weights(q, k)
    heads = ops.matmul(w, v)                                      # (B, H, T, D)
    B, T = x.shape[0], x.shape[1]
    ours = block.c_proj(ops.reshape(ops.transpose(heads, (0, 2, 1, 3)), (B, T, block.n_embd)))
    mha = keras_mha_from_block(block)
    out, mha_w = mha(h, h, use_causal_mask=True, return_attention_scores=True)
    to_bthd = lambda t: ops.transpose(t, (0, 2, 1, 3))
    dpa = ops.dot_product_attention(to_bthd(q), to_bthd(k), to_bthd(v), is_causal=True)
    diff = lambda a, b: float(np.max(np.abs(ops.convert_to_numpy(a) - ops.convert_to_numpy(b))))
    return {"mha_output": diff(out, ours), "mha_weights": diff(mha_w, w),
            "dot_product_attention": diff(dpa, to_bthd(heads))}

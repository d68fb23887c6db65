"""Generation speed on the CPU: the book's GPT with a KV cache vs transformers' generate (chapter 6).

GPT-2 small's shape (124M parameters) with random weights; greedy decoding of
128 new tokens after a 16-token prompt, batch 1.  The same weights in both models
(``utils.hf.hf_to_book``), so both produce the same tokens, which is checked.
Prints tokens/s for each way, the ratio (transformers' time / the book's time; above 1.0
the book's decoder is faster) and, for scale, the book's GPT without the cache on a shorter run.

    python benchmarks/generate_speed.py [--new-tokens 128] [--repeats 5] [--threads 1]

One CPU thread by default: both models do the same arithmetic, so the ratio measures the
decoders' overhead, and on a small shared machine extra threads that wait for a busy core make
both runs several times slower and the ratio noise (measured on 2 busy cores: 18-20 tokens/s
with one thread, 6-8 with two).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from anywhere

import torch  # noqa: E402


def best_time(fn, repeats):
    """The fastest of ``repeats`` runs (the least disturbed by other processes), and its result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--prompt-tokens", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5, help="interleaved runs; the best of each is reported")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1; 0: PyTorch's default, one per core)")
    p.add_argument("--uncached-tokens", type=int, default=32,
                   help="new tokens for the no-cache run (0 skips it)")
    args = p.parse_args(argv)
    for name in ("new_tokens", "prompt_tokens", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.threads < 0:
        p.error("--threads must be >= 0")

    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging

    from utils import decoding, hf

    logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    hf_model = GPT2LMHeadModel(GPT2Config()).eval()          # 124,439,808 parameters, random
    book = hf.hf_to_book(hf_model)                           # the same weights in the book's GPT
    prompt = torch.randint(0, 50257, (1, args.prompt_tokens), generator=torch.Generator().manual_seed(0))
    n = args.new_tokens

    def run_hf(k=n):
        config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=k, min_new_tokens=k,
                                  eos_token_id=None, pad_token_id=50256, use_cache=True)
        with torch.no_grad():
            return hf_model.generate(prompt, attention_mask=torch.ones_like(prompt), generation_config=config)

    def run_book(k=n):
        return decoding.greedy(book, prompt, k, use_cache=True)

    print(f"GPT-2 small shape, random weights: {book.num_params():,} parameters; greedy, "
          f"{args.prompt_tokens}-token prompt, {n} new tokens, batch 1, "
          f"{torch.get_num_threads()} CPU threads, "
          f"best of {args.repeats}")
    run_hf(4), run_book(4)                                     # warm-up both
    t_hf, out_hf = float("inf"), None
    t_book, out_book = float("inf"), None
    for _ in range(args.repeats):                              # interleaved, so both see the same load
        t, out_hf = best_time(run_hf, 1)
        t_hf = min(t_hf, t)
        t, out_book = best_time(run_book, 1)
        t_book = min(t_book, t)
    same = torch.equal(out_hf, out_book)
    print(f"transformers GPT2LMHeadModel.generate (KV cache): {n / t_hf:7.1f} tokens/s  ({t_hf:.2f} s)")
    print(f"book GPT + utils.decoding.greedy (KV cache):      {n / t_book:7.1f} tokens/s  ({t_book:.2f} s)")
    print(f"ratio book / transformers (tokens/s): {t_hf / t_book:.2f}; same tokens: {same}")
    if args.uncached_tokens:
        m = args.uncached_tokens
        t, _ = best_time(lambda: decoding.greedy(book, prompt, m, use_cache=False), 1)
        t_c, _ = best_time(lambda: decoding.greedy(book, prompt, m, use_cache=True), 1)
        print(f"book GPT without the cache, {m} new tokens:       {m / t:7.1f} tokens/s "
              f"(with the cache: {m / t_c:.1f}; speed-up {t / t_c:.1f}x at this length)")
    if not same:
        sys.exit("the two implementations produced different tokens")


if __name__ == "__main__":
    main()

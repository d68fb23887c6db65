"""utils.bpe: byte-level BPE from scratch, checked against Hugging Face `tokenizers` (chapter 6)."""
import json
import random

import pytest
from tokenizers import pre_tokenizers

from utils import bpe
from utils.data import load_corpus


def tokenizers_merges(tok):
    merges = json.loads(tok.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


@pytest.fixture(scope="module")
def corpus_pair():
    train = load_corpus("train")[:150_000]
    texts = train.split("\n\n")                   # one text per speech, as the chapter does
    return texts, bpe.train_bpe(texts, 420), bpe.train_tokenizers_bpe(texts, 420)


def test_byte_alphabet_is_gpt2s():
    m = bpe.bytes_to_unicode()
    assert len(m) == 256 and len(set(m.values())) == 256
    assert set(m.values()) == set(pre_tokenizers.ByteLevel.alphabet())
    assert (m[ord(" ")], m[ord("\n")], m[ord("A")]) == ("Ġ", "Ċ", "A")
    assert all(c.isprintable() and not c.isspace() for c in m.values())


def test_pretokenize_matches_tokenizers_byte_level():
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    for text in ["Hello world", "KING LEAR:\nI'll  not--see 't, 42 times!\n\n  x",
                 "don't — café 日本語 🙂\t\tend  ", load_corpus("test")[:3000]]:
        assert bpe.pretokenize(text) == [w for w, _ in pre.pre_tokenize_str(text)]


def test_training_on_the_corpus_equals_tokenizers(corpus_pair):
    texts, mine, ref = corpus_pair
    assert mine.vocab == ref.get_vocab()
    assert mine.merges == tokenizers_merges(ref)
    test = load_corpus("test")[:40_000]
    assert mine.encode(test) == ref.encode(test).ids
    assert mine.decode(mine.encode(test)) == test


@pytest.mark.parametrize("seed", range(6))
def test_random_small_alphabets_equal_tokenizers(seed):
    # Few symbols and many repeats: many tied counts and overlapping pairs ("aaaa").
    rng = random.Random(seed)
    alphabet = rng.choice(["ab", "abc", "aab", "xyz"])
    texts = [" ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9)))
                      for _ in range(rng.randint(1, 30))) for _ in range(40)]
    mine, ref = bpe.train_bpe(texts, 300), bpe.train_tokenizers_bpe(texts, 300)
    assert mine.merges == tokenizers_merges(ref)
    assert mine.vocab == ref.get_vocab()
    for text in texts[:10] + ["aaaaaaa abab ba", "zzz"]:
        assert mine.encode(text) == ref.encode(text).ids


def test_first_merges_by_hand():
    # "aaab" x 3 and "ab" x 2 (the spaces belong to the next word: "Ġaaab").
    mine = bpe.train_bpe(["aaab aaab aaab ab ab"], 262)
    # pair counts: (a,a) 6 [two per "aaab"], (a,b) 5, (Ġ,a) 4 -> merge "aa" first;
    # then (a,b) 5 -> "ab"; then (aa,ab) 3 beats (Ġ,aa) 2 -> "aaab"; then (Ġ,ab) and (Ġ,aaab)
    # tie at 2 and the pair with the smaller ids wins ("ab" is 257, "aaab" 258).
    assert mine.merges == [("a", "a"), ("a", "b"), ("aa", "ab"), ("Ġ", "ab"), ("Ġ", "aaab")]
    assert [mine.vocab[t] for t in ("a", "aa", "ab", "aaab", "Ġab")] == [64, 256, 257, 258, 259]
    assert mine.tokens("aaab") == ["aaab"] and mine.tokens(" ab") == ["Ġab"]
    assert mine.tokens("aab") == ["aa", "b"]          # "aa" has the lower rank, so it wins


def test_encode_decode_round_trip_any_text(corpus_pair):
    _, mine, _ = corpus_pair
    for text in ["", "ROMEO:\nBut soft!", "naïve — 中文 🙂", "\x00\x7f"]:
        ids = mine.encode(text)
        assert mine.decode(ids) == text
        assert all(0 <= i < mine.vocab_size for i in ids)


def test_truncated_equals_training_smaller(corpus_pair):
    texts, mine, _ = corpus_pair
    small = bpe.train_bpe(texts, 300)
    cut = mine.truncated(300)
    assert cut.merges == small.merges and cut.vocab == small.vocab


def test_bigger_vocabulary_gives_fewer_tokens(corpus_pair):
    _, mine, _ = corpus_pair
    test = load_corpus("test")[:20_000]
    n = [len(mine.truncated(v).encode(test)) for v in (256, 300, 420)]
    assert n[0] == len(test.encode("utf-8")) and n[0] > n[1] > n[2]


def test_bad_inputs_raise_clear_errors(corpus_pair):
    _, mine, _ = corpus_pair
    with pytest.raises(ValueError, match="vocab_size"):
        bpe.train_bpe(["abc"], 100)
    with pytest.raises(ValueError, match="iterable of strings"):
        bpe.train_bpe("abc", 300)
    with pytest.raises(ValueError, match="vocab_size"):
        bpe.train_tokenizers_bpe(["abc"], 255)
    with pytest.raises(ValueError, match="min_frequency"):
        bpe.train_bpe(["abc"], 300, min_frequency=-1)
    with pytest.raises(ValueError, match="ids must be in"):
        mine.decode([mine.vocab_size])
    with pytest.raises(ValueError, match="text must be a str"):
        bpe.pretokenize(b"bytes")
    with pytest.raises(ValueError, match="vocab_size"):
        mine.truncated(10_000)


def test_conversion_to_and_from_tokenizers(corpus_pair):
    _, mine, ref = corpus_pair
    back = bpe.ByteLevelBPE.from_tokenizers(ref)
    assert back.merges == mine.merges and back.vocab == mine.vocab
    text = load_corpus("test")[:10_000]
    assert mine.truncated(300).to_tokenizers().encode(text).ids == mine.truncated(300).encode(text)
    assert mine.to_tokenizers().decode(mine.encode(text)) == text

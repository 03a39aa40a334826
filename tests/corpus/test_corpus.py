from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tools.corpus.clean import clean_documents, clean_text, content_sha256, is_prose
from tools.corpus.corpus import load_corpus
from tools.corpus.excerpts import cut_excerpts, load_excerpts
from tools.corpus.sources import jargon_paragraphs, split_fortunes, wordnet_examples
from tools.errors import AssetMissingError, RecordFileError
from tools.subject.bridge import BridgeSubject


def test_clean_text_normalizes_space_and_controls() -> None:
    assert clean_text("  a\tb\u00a0 c \r\n\n\n\nd\x07 ") == "a b c\n\nd"


def test_ascii_art_is_not_prose() -> None:
    assert not is_prose("|__|  /\\  |__| ---- ==== ||||")
    assert is_prose("A clash of doctrine is not a disaster.")


def test_dedupe_ignores_case_and_spacing() -> None:
    docs = clean_documents(["Hello there, General Kenobi.", "hello  there, general kenobi.", "Another sentence entirely."])
    assert docs == ["Hello there, General Kenobi.", "Another sentence entirely."]


def test_content_hash_depends_on_text_and_order() -> None:
    a = content_sha256(["one document here", "two documents here"])
    assert a == content_sha256(["one document here", "two documents here"])
    assert a != content_sha256(["two documents here", "one document here"])
    assert a != content_sha256(["one document here two documents here"])


def test_parsers_of_the_debian_sources() -> None:
    assert split_fortunes("First one.\n%\nSecond\n  -- Someone\n%\n") == ["First one.", "Second\n  -- Someone"]
    line = '00002684 03 n 02 object 0 | a tangible entity; "it was full of rackets, balls and other objects"; "x"'
    assert wordnet_examples(line) == ["it was full of rackets, balls and other objects"]
    assert jargon_paragraphs("hacker n.\n\n   A person who enjoys exploring the details\n   of programmable systems and how to stretch them.\n") == [
        "A person who enjoys exploring the details of programmable systems and how to stretch them."
    ]


def test_cut_excerpts_joins_with_separator_and_drops_the_tail() -> None:
    out = cut_excerpts([[1, 2, 3], [4, 5], [6, 7, 8, 9]], [0], 4)
    assert out.tolist() == [[1, 2, 3, 0], [4, 5, 0, 6]]
    assert out.dtype == np.int32


def test_user_files_txt_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("First paragraph of some length here.\n\nSecond paragraph, also long enough.\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "A document from a JSON lines file."}) + "\n\n")
    corpus = load_corpus(str(tmp_path), tmp_path)
    assert corpus.documents == ["First paragraph of some length here.", "Second paragraph, also long enough.", "A document from a JSON lines file."]
    assert corpus.corpus_id.startswith("custom-")
    glob = load_corpus(str(tmp_path / "*.txt"), tmp_path)
    assert len(glob.documents) == 2


def test_malformed_jsonl_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine document, long enough"}\n{"txt": "wrong key"}\n')
    with pytest.raises(RecordFileError, match=r"bad.jsonl.*line 2 has no string field 'text'"):
        load_corpus(str(bad), tmp_path)


def test_empty_or_missing_corpus_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("\n\n  \n")
    with pytest.raises(AssetMissingError, match="empty after cleaning"):
        load_corpus(str(tmp_path / "empty.txt"), tmp_path)
    with pytest.raises(AssetMissingError, match="no .txt or .jsonl files"):
        load_corpus(str(tmp_path / "nowhere"), tmp_path)
    with pytest.raises(AssetMissingError, match="refinery setup"):
        load_corpus("default", tmp_path / "no-cache")


def test_pydoc_corpus_is_always_there_and_large_enough(tiny_subject: BridgeSubject, session_cache: Path) -> None:
    corpus = load_corpus("pydoc", session_cache)
    assert corpus.n_words > 40_000
    excerpts = load_excerpts(tiny_subject, corpus, session_cache, 64)
    assert isinstance(excerpts, np.memmap) and excerpts.shape[1] == 64
    again = load_excerpts(tiny_subject, corpus, session_cache, 64)
    np.testing.assert_array_equal(excerpts, again)


@pytest.mark.model
def test_default_corpus_has_enough_tokens(smollm2_subject: BridgeSubject) -> None:
    from agent.settings import default_cache_dir

    corpus = load_corpus("default", default_cache_dir())
    excerpts = load_excerpts(smollm2_subject, corpus, default_cache_dir(), 64)
    assert excerpts.size >= 300_000

"""A user's own label files: the usual words for "not an abuser" read as benign whatever their case, anything else
as an abuser, and the reading is reported."""

from __future__ import annotations

import pytest

from clickguard.sim.catalog import is_abnormal, label_reading


@pytest.mark.parametrize("word", ["buyer", "Human", " benign ", "NORMAL", "legit", "0", "false", "no", "none"])
def test_benign_words(word: str) -> None:
    assert not is_abnormal(word)


@pytest.mark.parametrize("word", ["bot", "crawler", "1", "true", "scraper", "account_takeover", "", "malicious"])
def test_anything_else_is_an_abuser(word: str) -> None:
    assert is_abnormal(word)


def test_the_reading_names_each_word_once() -> None:
    assert label_reading(["human", "bot", "human", "crawler"]) == {"benign": ["human"], "abnormal": ["bot", "crawler"]}

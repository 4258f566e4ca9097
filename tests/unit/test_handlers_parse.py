"""The text-reply parser: forgiving of phone typos, never of a different word."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.parse import (
    DONE,
    LATE,
    ReplyIntent,
    closest,
    parse_reply,
    tokens,
    typo_distance,
)
from models.vocabulary import LATE_REASON_CODES


@pytest.mark.parametrize(
    "text",
    [
        "done",
        "Done.",
        "DONE!",
        "done 👍",
        "submitted",
        "Submitted",
        "submited",
        "sumbitted",
        "submittted",
        "dnoe",
        "doen",
        "sent",
        "report submitted",
        "Report submitted, thanks",
        "it's done",
        "all done now",
        "ok done",
        "uploaded",
    ],
)
def test_ways_of_saying_the_report_is_in_read_as_done(text: str) -> None:
    assert parse_reply(text) == ReplyIntent(DONE)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("late", None),
        ("Late", None),
        ("LATE sick", "illness"),
        ("late ill", "illness"),
        ("late - off sick", "illness"),
        ("laet sick", "illness"),
        ("late workload", "workload"),
        ("late: too busy", "workload"),
        ("late waiting for police info", "awaiting_info"),
        ("late awaiting information", "awaiting_info"),
        ("late family", "family"),
        ("late personal reasons", "family"),
        ("late because reasons", "other"),
        ("will be late", None),
        ("I'll be late, sick", "illness"),
        ("running late", None),
    ],
)
def test_late_with_or_without_a_reason_reads_as_late_and_its_reason_code(
    text: str, reason: str | None
) -> None:
    assert parse_reply(text) == ReplyIntent(LATE, reason)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "none",
        "gone",
        "date",
        "lame",
        "not done",
        "not done yet",
        "no",
        "done yet?",
        "I will be done tomorrow",
        "done and dusted",
        "can't submit",
        "hello",
        "what is this",
        "/mine",
        "x" * 600,
        "bone",
    ],
)
def test_anything_else_is_not_understood(text: str) -> None:
    assert parse_reply(text) is None


def test_a_neighbouring_key_costs_one_and_a_distant_key_two() -> None:
    assert typo_distance("dpne", "done") == 1  # p is beside o
    assert typo_distance("none", "done") == 2  # n is nowhere near d
    assert typo_distance("dnoe", "done") == 1  # swapped letters
    assert typo_distance("done", "done") == 0


def test_short_words_must_be_exact() -> None:
    assert closest("il", frozenset({"ill"})) is None
    assert closest("ill", frozenset({"ill"})) == "ill"


def test_tokens_drop_accents_punctuation_and_emoji() -> None:
    assert tokens("DÖNE!! 👍 it's") == ["done", "its"]


@given(st.text(max_size=200))
def test_the_parser_never_fails_and_answers_only_known_intents(text: str) -> None:
    intent = parse_reply(text)
    assert intent is None or intent.kind in (DONE, LATE)
    if intent is not None and intent.reason is not None:
        assert intent.reason in LATE_REASON_CODES


@given(
    st.sampled_from(["done", "submitted", "late"]),
    st.sampled_from(["", ".", "!", " ", "  "]),
    st.booleans(),
)
def test_case_and_trailing_punctuation_do_not_matter(word: str, tail: str, upper: bool) -> None:
    text = (word.upper() if upper else word.capitalize()) + tail
    expected = LATE if word == "late" else DONE
    intent = parse_reply(text)
    assert intent is not None and intent.kind == expected


@given(st.sampled_from(["done", "submitted"]), st.data())
def test_one_dropped_or_doubled_letter_is_forgiven(word: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(word) - 1))
    dropped = word[:index] + word[index + 1 :]
    doubled = word[:index] + word[index] + word[index:]
    assert parse_reply(doubled) == ReplyIntent(DONE)
    if len(dropped) >= 4:
        assert parse_reply(dropped) == ReplyIntent(DONE)


@given(st.sampled_from(["not", "no", "never", "cant", "won't"]), st.sampled_from(["done", "late"]))
def test_a_negation_anywhere_means_no_action(negation: str, word: str) -> None:
    assert parse_reply(f"{negation} {word}") is None
    assert parse_reply(f"{word} {negation}") is None

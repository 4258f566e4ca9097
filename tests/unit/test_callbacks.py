"""Button codes: any text a client sends decodes or is refused; every code we make decodes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models import buttons as cb
from models.vocabulary import ACTIONS

ALL_ACTIONS = sorted(ACTIONS)

# Near misses of real codes: the right shape, with anything Unicode calls a digit.
digit = st.one_of(
    st.characters(min_codepoint=ord("0"), max_codepoint=ord("9")),
    st.characters(categories=["Nd", "No"]).filter(str.isdigit),
)
near_misses = st.builds(
    lambda action, item, stage, arg: f"v1:{action}:{item}:{stage}" + (f":{arg}" if arg else ""),
    st.sampled_from(ALL_ACTIONS),
    st.text(digit, min_size=1, max_size=13),
    st.text(digit, min_size=1, max_size=4),
    st.one_of(st.just(""), st.text(max_size=42)),
)


@pytest.mark.parametrize(
    "data",
    [
        "v1:sub:²:0",  # superscript two: str.isdigit() says yes, int() says no
        "v1:sub:0:³",
        "v1:sub:١٢:0",  # Arabic-Indic digits: int() would take them, but we never send them
        "v1:sub:1:0:x\n",  # a trailing newline after an argument
        "v1:sub:1:0\n",
        "v1:sub:\ud800:0",  # a lone surrogate cannot even be encoded as UTF-8
    ],
)
def test_a_code_with_anything_but_ascii_digits_and_letters_is_refused(data: str) -> None:
    assert cb.decode(data) is None


@given(st.one_of(st.text(st.characters(codec=None, categories=None), max_size=80), near_misses))
def test_decoding_any_text_never_raises_and_what_decodes_encodes_back(data: str) -> None:
    decoded = cb.decode(data)
    if decoded is not None:
        assert cb.decode(decoded.encode()) == decoded


@given(
    st.sampled_from(ALL_ACTIONS),
    st.integers(min_value=-5, max_value=10**13),
    st.integers(min_value=-5, max_value=2000),
    st.one_of(st.text(max_size=45), st.from_regex(r"[A-Za-z0-9_.\-]{0,41}", fullmatch=True)),
)
def test_every_code_the_bot_can_make_decodes_to_itself(
    action: str, item_id: int, stage: int, arg: str
) -> None:
    press = cb.Callback(action, item_id, stage, arg)
    try:
        data = press.encode()
    except ValueError:  # refused at render time: never reaches a button
        return
    assert len(data.encode()) <= cb.MAX_BYTES
    assert cb.decode(data) == press

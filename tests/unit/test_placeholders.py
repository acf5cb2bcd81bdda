"""Placeholder and markup safety: mask -> unmask round-trips, and verification catches every way a
provider can lose, alter, repeat or invent a protected piece."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linguaflow.streams.placeholders import Masked, PlaceholderMismatch, mask, protected_pieces, unmask

PIECES = [
    "{name}",
    "{0}",
    "{{count}}",
    "%s",
    "%d",
    "%(user)s",
    "%1$s",
    "%.2f",
    "<b>",
    "</b>",
    '<a href="x">',
    "<br/>",
    "&amp;",
    "&#39;",
    "&nbsp;",
    "<!-- note -->",
]
PROSE = st.text(alphabet=st.characters(blacklist_characters="{}%<>&#"), max_size=12)
TEXTS = st.lists(st.one_of(PROSE, st.sampled_from(PIECES)), max_size=8).map("".join)
TOKEN = re.compile(r'<x id="\d+"/>')


def tokens(masked: Masked) -> list[str]:
    return TOKEN.findall(masked.text)


def test_known_masking() -> None:
    text = "Hello {name}, you have %d new <b>messages</b> &amp; more"
    masked = mask(text)
    assert masked.text == (
        'Hello <x id="0"/>, you have <x id="1"/> new <x id="2"/>messages<x id="3"/> <x id="4"/> more'
    )
    assert masked.pieces == ("{name}", "%d", "<b>", "</b>", "&amp;")
    assert unmask(masked, masked.text) == text


def test_icu_plural_structure_is_masked_and_its_messages_stay_translatable() -> None:
    text = "{count, plural, one {# item for {who}} other {# items}} left"
    masked = mask(text)
    assert masked.pieces == ("{count, plural, one {", "#", "{who}", "} other {", "#", "}}")
    assert masked.ordered == (0, 3, 5)
    assert "item for" in masked.text
    assert "items" in masked.text
    german = '<x id="0"/><x id="1"/> Eintrag für <x id="2"/><x id="3"/><x id="4"/> Einträge<x id="5"/> übrig'
    assert unmask(masked, german) == ("{count, plural, one {# Eintrag für {who}} other {# Einträge}} übrig")


def test_icu_select_and_a_hash_outside_a_plural_is_prose() -> None:
    text = "{g, select, male {He #1} other {They}}"
    masked = mask(text)
    assert masked.pieces == ("{g, select, male {", "} other {", "}}")
    assert "#1" in masked.text


def test_prose_is_escaped_so_the_provider_sees_well_formed_xml() -> None:
    masked = mask("a < b & c > d")
    assert masked.text == "a &lt; b &amp; c &gt; d"
    assert masked.pieces == ()
    # Google (format=html) answers with entities: they are prose, decoded on the way back
    assert unmask(masked, "a &lt; b &amp; c &#62; d") == "a < b & c > d"


def test_a_percent_sign_in_prose_is_not_a_placeholder() -> None:
    assert protected_pieces("100 % sicher, 50% off") == {}


@given(st.text(max_size=60))
def test_mask_then_unmask_round_trips_any_text(text: str) -> None:
    masked = mask(text)
    assert unmask(masked, masked.text) == text


@given(TEXTS)
def test_round_trip_and_only_tokens_reach_the_provider(text: str) -> None:
    masked = mask(text)
    assert unmask(masked, masked.text) == text
    assert len(tokens(masked)) == len(masked.pieces) == sum(protected_pieces(text).values())
    assert Counter(masked.pieces) == protected_pieces(text)  # what unmask checks a translation against
    assert set(protected_pieces(masked.text)) <= set(tokens(masked))


@given(TEXTS, st.data())
def test_removing_altering_or_repeating_a_token_is_caught(text: str, data: st.DataObject) -> None:
    masked = mask(text)
    found = list(TOKEN.finditer(masked.text))
    if not found:
        return
    victim = data.draw(st.sampled_from(found))
    replacement = data.draw(
        st.sampled_from(
            [
                "{nom}",  # the provider "translated" the placeholder
                "",  # lost
                '<x id="999"/>',
                victim.group(0) + victim.group(0),
                '<x id="1000">',
            ]
        )
    )
    broken = masked.text[: victim.start()] + replacement + masked.text[victim.end() :]
    with pytest.raises(PlaceholderMismatch):
        unmask(masked, broken)


# (an entity alone is prose: Google answers "&#39;" for an apostrophe; "&lt;i&gt;" decodes to a tag)
@given(TEXTS, st.sampled_from(["{extra}", "%s", "<i>", "&lt;i&gt;"]))
def test_an_invented_placeholder_is_caught(text: str, extra: str) -> None:
    masked = mask(text)
    with pytest.raises(PlaceholderMismatch):
        unmask(masked, masked.text + " " + extra)


@given(st.permutations(range(4)))
def test_ordinary_placeholders_may_move_but_icu_structure_may_not(order: list[int]) -> None:
    text = "{a} %s <b>x</b>"
    masked = mask(text)
    moved = " ".join(f'<x id="{i}"/>' for i in order)
    assert sorted(protected_pieces(unmask(masked, moved)).elements()) == sorted(masked.pieces)

    plural = "{n, plural, one {one} other {many}}"
    icu = mask(plural)
    swapped = '<x id="0"/>many<x id="2"/>one<x id="1"/>'
    with pytest.raises(PlaceholderMismatch, match="order"):
        unmask(icu, swapped)


def test_mismatch_is_a_retriable_provider_error() -> None:
    masked = mask("Hi {name}")
    with pytest.raises(PlaceholderMismatch) as caught:
        unmask(masked, "Salut")
    assert caught.value.retriable
    assert caught.value.reason == "placeholder_mismatch"
    assert "{name}" in str(caught.value)


@given(PROSE, st.sampled_from(["", "a > b", "{x}", "%s", "<b>", "&amp;", "R&D"]))
def test_plain_prose_passes_as_it_is_and_anything_special_is_scanned(prose: str, special: str) -> None:
    assert mask(prose) == Masked(prose, (), ())
    assert unmask(mask(prose), prose) == prose
    text = prose + special
    masked = mask(text)
    assert unmask(masked, masked.text) == text
    if special:
        assert masked.text != text  # escaped or tokenised
    if not masked.pieces and special:
        with pytest.raises(PlaceholderMismatch):
            unmask(masked, masked.text + "{invented}")

"""Text tables on the terminal line up by display width: a Chinese character takes two columns."""

from __future__ import annotations

from geo.text import display_width, pad


def test_display_width_counts_wide_characters_twice() -> None:
    assert display_width("walk") == 4
    assert display_width("西片街道") == 8
    assert display_width("（不在任何街道/乡镇内）") == 23  # fullwidth brackets are wide too
    assert display_width("e\u0301") == 1  # a combining accent takes no column


def test_pad_to_display_width() -> None:
    assert pad("快递员", 10) == "快递员    " and display_width(pad("快递员", 10)) == 10
    assert pad("ab", 5, ">") == "   ab"
    assert pad("很长的名字超过宽度", 4) == "很长的名字超过宽度"  # never cut
    assert pad(42, 4) == "42  "

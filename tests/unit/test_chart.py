"""The weekly chart: a phone-sized PNG with an honest 0-100% axis, gaps where nothing was due."""

from __future__ import annotations

import math
import struct
from datetime import date, timedelta

import pytest
from matplotlib.text import Text

from scheduler.chart import build_figure, render_chart
from scheduler.figures import Rate, WeekPoint

MONDAY = date(2026, 9, 14)


def weeks(n: int = 12, **rates: Rate) -> list[WeekPoint]:
    return [WeekPoint(MONDAY + timedelta(weeks=i), **rates) for i in range(n)]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_chart_is_a_png_big_enough_to_read_on_a_phone() -> None:
    data = render_chart(weeks(rcpc=Rate(9, 10)), span_name="North (Tina Manning)")
    width, height = png_size(data)
    assert 900 <= width <= 1280 and 900 <= height <= 1280  # Telegram shows up to 1280 px


def test_the_y_axis_runs_from_0_to_100_percent_even_when_every_week_is_near_100() -> None:
    fig = build_figure(weeks(rcpc=Rate(19, 20), icpc=Rate(10, 10)), span_name="North")
    (ax,) = fig.axes
    bottom, top = ax.get_ylim()
    assert bottom == 0 and 100 <= top <= 110
    assert list(ax.get_yticks()) == [0, 25, 50, 75, 100]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0%", "25%", "50%", "75%", "100%"]


def test_labels_are_large_and_ticks_few() -> None:
    fig = build_figure(weeks(rcpc=Rate(1, 2)), span_name="North")
    (ax,) = fig.axes
    assert len(ax.get_xticks()) <= 5
    assert min(t.get_fontsize() for t in ax.get_xticklabels() + ax.get_yticklabels()) >= 14
    (title,) = [
        t for t in ax.get_children() if isinstance(t, Text) and t.get_text()[:6] == "North\n"
    ]
    assert title.get_fontsize() >= 18


def test_the_title_names_the_span_and_the_weeks_shown() -> None:
    fig = build_figure(weeks(rcpc=Rate(1, 2)), span_name="North (Tina Manning)")
    title = fig.axes[0].get_title(loc="left")
    assert title.startswith("North (Tina Manning)\n")
    assert "14 Sep – 30 Nov 2026" in title


def test_the_legend_names_each_measure_with_its_timescale_and_twelve_week_total() -> None:
    points = weeks(rcpc=Rate(3, 4), qa=Rate(1, 2))
    fig = build_figure(points, span_name="North", rcpc_days=5, icpc_days=2, qa_days=5)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [
        "RCPC report 5 working days before\n12 weeks: 75% of 48",
        "ICPC report 2 working days before\n12 weeks: no data",
        "QA concern answered in 5 working days\n12 weeks: 50% of 24",
    ]


def test_a_week_with_nothing_due_is_a_gap_not_a_zero() -> None:
    points = weeks(rcpc=Rate(1, 2))
    points[3] = WeekPoint(points[3].week_start)  # nothing due that week
    fig = build_figure(points, span_name="North")
    rcpc = fig.axes[0].get_lines()[0].get_ydata()
    assert math.isnan(rcpc[3]) and rcpc[2] == 50


def test_an_empty_span_says_nothing_was_due() -> None:
    fig = build_figure(weeks(), span_name="North")
    assert any("Nothing due" in t.get_text() for t in fig.axes[0].texts)


def test_no_weeks_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no weeks"):
        render_chart([], span_name="North")


def test_a_week_with_few_items_due_is_drawn_hollow_with_its_count() -> None:
    points = weeks(rcpc=Rate(9, 10))
    points[4] = WeekPoint(points[4].week_start, rcpc=Rate(1, 2))  # 50% of just 2
    fig = build_figure(points, span_name="North")
    (ax,) = fig.axes
    hollow = [line for line in ax.get_lines() if line.get_label() == "_small"]
    assert len(hollow) == 1 and hollow[0].get_markerfacecolor() == "white"
    assert list(hollow[0].get_xdata()) == [4] and list(hollow[0].get_ydata()) == [50]
    assert [t.get_text() for t in ax.texts if t.get_text().startswith("n=")] == ["n=2"]
    assert "hollow: fewer than 5 due" in ax.get_xlabel()


def test_a_week_still_running_is_shaded_and_labelled_part_week() -> None:
    points = weeks(rcpc=Rate(9, 10))
    points[-1] = WeekPoint(points[-1].week_start, rcpc=Rate(9, 10), partial=True)
    fig = build_figure(points, span_name="North")
    labels = [t for t in fig.axes[0].texts if t.get_text() == "part\nweek"]
    assert len(labels) == 1 and labels[0].get_position()[0] == 11
    full = build_figure(weeks(rcpc=Rate(9, 10)), span_name="North")
    assert not [t for t in full.axes[0].texts if t.get_text() == "part\nweek"]


def test_a_years_chart_keeps_its_ticks_few_and_names_its_weeks() -> None:
    fig = build_figure(weeks(52, rcpc=Rate(9, 10)), span_name="North")
    assert len(fig.axes[0].get_xticks()) <= 5
    assert fig.legends[0].get_texts()[0].get_text().endswith("52 weeks: 90% of 520")

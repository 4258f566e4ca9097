"""Chat renderers: pure text and buttons from state, short enough for Telegram and a lock screen."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers import render
from handlers.effects import ActionResult, Settled
from models import buttons as cb
from models.vocabulary import (
    ACT_CHASED,
    ACT_RESOLVED,
    DONE,
    ICPC_REPORT,
    PLAN_FLAG,
    PLAN_REVIEW,
    QA_RESPONSE,
    RCPC_REPORT,
    SUBMITTED,
    Action,
)
from scheduler import messages as msg
from scheduler.calendar import LONDON
from scheduler.items import Item
from scheduler.org import Person

DUE = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)  # Mon 7 Dec 2026, 6pm GMT


def item(kind: str = RCPC_REPORT, **kw: object) -> Item:
    """An item with sensible defaults for a renderer test."""
    values: dict[str, object] = {
        "id": 42,
        "kind": kind,
        "subject_id": "C-1",
        "case_ref": "CR-100",
        "owner_id": "SW1",
        "due_at": DUE,
    }
    values.update(kw)
    return Item(**values)  # type: ignore[arg-type]


def all_data(keyboard: list[list[tuple[str, str]]] | None) -> list[str]:
    """Every callback string on a keyboard."""
    return [data for row in keyboard or [] for _, data in row]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 12, 7, 18, 0, tzinfo=UTC), "Mon 7 Dec, 6pm"),
        (datetime(2026, 12, 7, 9, 30, tzinfo=UTC), "Mon 7 Dec, 9:30am"),
        (datetime(2026, 6, 8, 17, 0, tzinfo=UTC), "Mon 8 Jun, 6pm"),  # BST: 17:00 UTC is 6pm
        (datetime(2026, 12, 7, 0, 0, tzinfo=UTC), "Mon 7 Dec, 12am"),
        (datetime(2026, 12, 7, 12, 5, tzinfo=UTC), "Mon 7 Dec, 12:05pm"),
    ],
)
def test_deadlines_read_like_a_person_would_say_them(moment: datetime, expected: str) -> None:
    assert msg.when_text(moment, LONDON) == expected


def test_a_report_item_offers_submitted_late_and_help_for_its_own_id_and_stage() -> None:
    keyboard = render.owner_keyboard(item(stage=1))
    decoded = [cb.decode(d) for d in all_data(keyboard)]
    assert [(c.action, c.item_id, c.stage) for c in decoded if c] == [
        (Action.SUBMITTED, 42, 1),
        (Action.WILL_BE_LATE, 42, 1),
        (Action.NEED_HELP, 42, 1),
    ]


@pytest.mark.parametrize(
    ("kind", "actions"),
    [
        (ICPC_REPORT, [Action.SUBMITTED, Action.WILL_BE_LATE, Action.NEED_HELP]),
        (QA_RESPONSE, [Action.RESPONDED]),
        (PLAN_REVIEW, [Action.REVIEW_CONTINUES, Action.REVIEW_EXIT, Action.REVIEW_ENDED]),
        (PLAN_FLAG, []),
    ],
)
def test_each_kind_gets_the_buttons_of_the_design_table(kind: str, actions: list[str]) -> None:
    decoded = [cb.decode(d) for d in all_data(render.owner_keyboard(item(kind)))]
    assert [c.action for c in decoded if c] == actions


def test_a_closed_item_has_no_buttons() -> None:
    assert render.owner_keyboard(item(status=DONE)) is None


def test_late_reasons_are_the_five_codes_and_dates_carry_reason_and_day() -> None:
    reasons = render.late_reason_message(item(), LONDON)
    assert [cb.decode(d).arg for d in all_data(reasons.keyboard)] == [  # type: ignore[union-attr]
        "illness",
        "workload",
        "awaiting_info",
        "family",
        "other",
    ]
    days = [date(2026, 12, 2), date(2026, 12, 3)]
    dates = render.late_date_message(item(), "illness", days, LONDON)
    assert dates.keyboard is not None
    assert [label for row in dates.keyboard for label, _ in row] == ["Wed 2 Dec", "Thu 3 Dec"]
    first = cb.decode(dates.keyboard[0][0][1])
    assert first == cb.Callback(Action.LATE_DATE, 42, 0, "illness.20261202")


@given(
    st.integers(min_value=1, max_value=10**12 - 1),
    st.integers(min_value=0, max_value=9),
    st.sampled_from([RCPC_REPORT, ICPC_REPORT, QA_RESPONSE, PLAN_REVIEW]),
)
def test_every_button_fits_telegrams_64_bytes_and_decodes_to_itself(
    item_id: int, stage: int, kind: str
) -> None:
    view = item(kind, id=item_id, stage=stage)
    keyboards = [
        render.owner_keyboard(view),
        render.late_reason_message(view, LONDON).keyboard,
        render.late_date_message(view, "awaiting_info", [date(2026, 12, 31)], LONDON).keyboard,
        msg.outcome_request_message(view, "Sally Webb").keyboard,
    ]
    for keyboard in keyboards:
        for data in all_data(keyboard):  # type: ignore[arg-type]
            assert len(data.encode()) <= 64
            decoded = cb.decode(data)
            assert decoded is not None and decoded.item_id == item_id and decoded.stage == stage


def test_the_result_of_an_action_names_the_case_and_the_new_state_only() -> None:
    text = render.result_text(item(), "submitted", LONDON)
    assert text == "✅ RCPC report for case CR-100, due Mon 7 Dec, 6pm: submitted. Recorded."
    late = render.result_text(
        item(late_reason="illness", expected_on=date(2026, 12, 8)), "late", LONDON
    )
    assert "will be late (illness), expected Tue 8 Dec" in late
    helped = render.result_text(item(), "help", LONDON, who="Tara Morgan")
    assert "Tara Morgan has been told" in helped


def test_mine_shows_a_header_then_each_item_with_buttons_up_to_the_limit() -> None:
    items = [item(id=i) for i in range(1, 15)]
    messages = render.mine_messages(items, LONDON, DUE)
    assert messages[0].text.startswith("Your open items, soonest first (14)")
    assert len(messages) == 1 + render.MINE_LIMIT
    assert all(m.keyboard for m in messages[1:])
    assert render.mine_messages([], LONDON, DUE)[0].text == "You have no open items. 🎉"


def test_a_long_team_list_is_split_without_breaking_a_line() -> None:
    items = [item(id=i, owner_name="Sally Webb", stage=2) for i in range(300)]
    messages = render.team_messages(items, LONDON, DUE)
    assert len(messages) > 1
    assert all(len(m.text) <= render.MAX_TEXT for m in messages)
    lines = [line for m in messages for line in m.text.split("\n")]
    assert len(lines) == 301 and all("Sally Webb" in line for line in lines[1:])


@pytest.mark.parametrize(
    ("role", "has", "lacks"),
    [
        ("social_worker", "late <reason>", "/alert"),
        ("iro", "/alert CASE_REF", "/team"),
        ("team_manager", "/mine also lists what is escalated to you", "/alert"),
        ("assistant_director", "/team", "/alert"),
        ("admin", "not booked", "/team"),
    ],
)
def test_help_fits_the_role(role: str, has: str, lacks: str) -> None:
    text = render.help_text(role, "Sam")
    assert has in text and lacks not in text


def test_the_alert_draft_steps_carry_only_the_draft_number_and_a_short_code() -> None:
    kinds = render.alert_kind_message("CR-100", 123456789012)
    themes = render.alert_theme_message("CR-100", "concern", 123456789012)
    confirm = render.alert_confirm_message("CR-100", "concern", "plan_quality", 123456789012)
    args = [cb.decode(d).arg for m in (kinds, themes, confirm) for d in all_data(m.keyboard)]  # type: ignore[union-attr, arg-type]
    assert args == [
        "k.concern",
        "k.positive",
        "x",
        "t.drift_and_delay",
        "t.report_late",
        "t.statutory_duty",
        "t.plan_quality",
        "t.other",
        "x",
        "ok",
        "x",
    ]
    assert "plan not smart" in confirm.text


def test_the_unlinked_answer_reveals_nothing() -> None:
    assert render.NOT_LINKED == "This bot is for linked staff. Ask your manager for an invite code."


def test_chunking_keeps_every_chunk_within_the_limit() -> None:
    chunks = render.chunk_lines(["a" * 10] * 10, limit=25)
    assert chunks == ["a" * 10 + "\n" + "a" * 10] * 5


def test_a_manager_lists_an_escalated_item_against_its_stage_deadline_not_the_original() -> None:
    escalated = item(
        QA_RESPONSE,
        due_at=datetime(2026, 10, 30, 18, tzinfo=UTC),
        stage=1,
        stage_due_at=datetime(2026, 11, 30, 18, tzinfo=UTC),
    )
    before = datetime(2026, 11, 25, 9, tzinfo=UTC)
    line = render.item_line(escalated, LONDON, before, viewer={"TM1"})
    assert "due Mon 30 Nov, 6pm" in line and "escalated (stage 1)" in line
    assert "OVERDUE" not in line
    late = render.item_line(escalated, LONDON, datetime(2026, 12, 1, 9, tzinfo=UTC), viewer={"TM1"})
    assert "OVERDUE" in late


# -- issue 15: what a press answers, for whom ------------------------------------------------

MORNING = datetime(2026, 11, 23, 8, 15, tzinfo=UTC)  # Mon 23 Nov 2026, 8:15am GMT


def refused(settled: Settled | None) -> ActionResult:
    """A press refused as already recorded, with whoever acted first."""
    return ActionResult(False, "already", settled=settled)


def test_a_repeat_press_names_who_acted_first_and_when() -> None:
    resolved = Settled(ACT_RESOLVED, "Jo Roberts", datetime(2026, 11, 23, 8, 6, tzinfo=UTC))
    assert render.refusal_text(refused(resolved), LONDON, MORNING) == (
        "Resolved by Jo Roberts at 8:06am. Nothing more to do."
    )
    mine = Settled(ACT_CHASED, "Tara Morgan", datetime(2026, 11, 20, 9, 30, tzinfo=UTC), True)
    assert render.refusal_text(refused(mine), LONDON, MORNING) == (
        "Chased by you on Fri 20 Nov at 9:30am. Nothing more to do."
    )


def test_a_repeat_press_on_an_item_the_import_closed_says_so() -> None:
    imported = Settled(SUBMITTED, "", datetime(2026, 11, 23, 2, 30, tzinfo=UTC))
    assert render.refusal_text(refused(imported), LONDON, MORNING) == (
        "Already recorded from the case system at 2:30am: submitted. Nothing more to do."
    )
    assert render.refusal_text(refused(None), LONDON, MORNING) == render.REFUSALS["already"]


def test_a_typed_late_reason_is_confirmed_and_its_date_asked_in_one_message() -> None:
    days = [date(2026, 12, 8), date(2026, 12, 9)]
    message = render.late_date_message(item(), "illness", days, LONDON, recorded=True)
    assert message.text == (
        "🕒 RCPC report for case CR-100, due Mon 7 Dec, 6pm: will be late (illness). Recorded.\n"
        "When do you expect to send it? Tap the day."
    )
    assert [label for row in message.keyboard or [] for label, _ in row] == [
        "Tue 8 Dec", "Wed 9 Dec",
    ]  # fmt: skip


STAGE_DUE = datetime(2026, 12, 9, 18, 0, tzinfo=UTC)
SAM = Person("SM1", "Sam Green", "service_manager", None, "North")


def alert_result(code: str, role: str, **kw: object) -> str:
    """The edited message after a press on a QA alert escalated to stage 2."""
    view = item(QA_RESPONSE, case_ref="CP-2003", stage=2, stage_due_at=STAGE_DUE,
                owner_name="" if role == "owner" else "Alex Thomas")  # fmt: skip
    result = ActionResult(True, code, view, role=role, **kw)  # type: ignore[arg-type]
    return render.action_text(result, LONDON, MORNING)


@pytest.mark.parametrize(
    ("code", "role", "kw", "expected"),
    [
        ("escalated", "raiser", {"holder": SAM},
         "⬆️ Your QA alert on case CP-2003: escalated to stage 2, with Sam Green "
         "(service manager), due Wed 9 Dec, 6pm."),
        ("resolved", "raiser", {}, "✅ Your QA alert on case CP-2003: resolved and closed."),
        ("acknowledged", "manager", {"told": "Iris Rowe"},
         "👍 QA alert on case CP-2003 for Alex Thomas (social worker): acknowledged at stage 2. "
         "Your response is due Wed 9 Dec, 6pm. Told: Iris Rowe."),
        ("responded", "manager", {"told": "Iris Rowe"},
         "✅ QA alert on case CP-2003 for Alex Thomas (social worker): your response at stage 2 "
         "is recorded. Iris Rowe (IRO) will log the outcome."),
        ("resolved", "manager", {"told": "Iris Rowe"},
         "✅ QA alert on case CP-2003 for Alex Thomas (social worker): resolved and closed at "
         "stage 2. Told: Iris Rowe."),
        ("responded", "owner", {"told": "Iris Rowe"},
         "✅ QA alert response for case CP-2003: responded. Iris Rowe (IRO) will log the outcome."),
    ],
)  # fmt: skip
def test_each_role_reads_its_own_words_after_a_press_on_a_qa_alert(
    code: str, role: str, kw: dict[str, object], expected: str
) -> None:
    text = alert_result(code, role, **kw)
    assert text == expected
    assert text.count("QA alert") == 1  # the alert is named once


def test_a_manager_or_chair_reads_whose_report_it_is_and_who_was_told() -> None:
    report = item(owner_name="Sally Webb")
    marked = ActionResult(True, "report_in", report, told="Iris Rowe", role="manager")
    assert render.action_text(marked, LONDON, MORNING) == (
        "✅ RCPC report for case CR-100 from Sally Webb, due Mon 7 Dec, 6pm: marked in. "
        "Recorded. Told: Iris Rowe."
    )
    chased = ActionResult(True, "chased", report, role="manager")
    assert "Your digest shows it as chased" in render.action_text(chased, LONDON, MORNING)
    stood = ActionResult(True, "stood_down", report, told="Sally Webb, Tara Morgan",
                         role="chair", reason="not_quorate")  # fmt: skip
    assert render.action_text(stood, LONDON, MORNING) == (
        "📅 RCPC for case CR-100: stood down (not quorate). No report is due for that date. "
        "Told: Sally Webb, Tara Morgan."
    )
    own = ActionResult(True, "submitted", item(), role="owner")
    assert render.action_text(own, LONDON, MORNING) == (
        "✅ RCPC report for case CR-100, due Mon 7 Dec, 6pm: submitted. Recorded."
    )


def test_an_alert_past_the_last_stage_tells_its_iro_it_is_listed_for_challenge() -> None:
    listed = item(QA_RESPONSE, case_ref="CP-2003", stage=4, outcome="challenge")
    result = ActionResult(True, "escalated", listed, role="raiser")
    assert render.action_text(result, LONDON, MORNING) == (
        "📌 Your QA alert on case CP-2003: past the last stage, listed for the assistant "
        "director's challenge meeting."
    )


# -- issue 15: each person's list shows the deadline that is theirs ---------------------------

JO = Person("TM1", "Jo Roberts", "team_manager", "SM1", "North")
ESCALATED = item(
    QA_RESPONSE,
    case_ref="CP-1019",
    due_at=datetime(2026, 11, 20, 18, tzinfo=UTC),  # the worker's response: Fri 20 Nov
    stage=1,
    stage_due_at=datetime(2026, 12, 2, 18, tzinfo=UTC),  # the team manager's stage: Wed 2 Dec
    holder=JO,
)
MONDAY = datetime(2026, 11, 23, 9, tzinfo=UTC)


def test_a_worker_reads_their_own_response_date_and_apart_that_it_went_up_the_ladder() -> None:
    line = render.item_line(ESCALATED, LONDON, MONDAY, viewer={"SW1"})
    assert line == (
        "QA alert response for case CP-1019 · due Fri 20 Nov, 6pm · OVERDUE · "
        "escalated to stage 1: Jo Roberts (team manager)"
    )


def test_the_stage_holder_reads_their_stage_deadline_and_whose_case_it_is() -> None:
    held = item(**{**{f: getattr(ESCALATED, f) for f in ("kind", "case_ref", "due_at", "stage",
                                                           "stage_due_at", "holder")},
                   "owner_name": "Alex Thomas"})  # fmt: skip
    assert render.item_line(held, LONDON, MONDAY, viewer={"TM1"}) == (
        "QA alert for case CP-1019 · stage 1: your response due Wed 2 Dec, 6pm · Alex Thomas"
    )
    above = render.item_line(held, LONDON, MONDAY, viewer={"SM1"})
    assert above == (
        "QA alert for case CP-1019 · due Wed 2 Dec, 6pm · stage 1 with Jo Roberts "
        "(team manager) · Alex Thomas"
    )


def test_the_stage_holder_gets_the_stage_buttons_in_mine_and_the_owner_their_own() -> None:
    held = render.item_message(ESCALATED, LONDON, MONDAY, viewer={"TM1"})
    own = render.item_message(ESCALATED, LONDON, MONDAY, viewer={"SW1"})
    assert [cb.decode(d).action for d in all_data(held.keyboard)] == [  # type: ignore[union-attr]
        Action.ACKNOWLEDGE, Action.RESPONDED, Action.RESOLVED,
    ]  # fmt: skip
    assert [cb.decode(d).action for d in all_data(own.keyboard)] == [Action.RESPONDED]  # type: ignore[union-attr]


def test_a_late_report_names_the_team_manager_it_went_to_for_its_worker() -> None:
    late = item(due_at=datetime(2026, 11, 20, 18, tzinfo=UTC), stage=1, holder=JO)
    assert render.item_line(late, LONDON, MONDAY, viewer={"SW1"}) == (
        "RCPC report for case CR-100 · due Fri 20 Nov, 6pm · OVERDUE · "
        "escalated to Jo Roberts (team manager)"
    )
    assert render.item_line(late, LONDON, MONDAY, viewer={"TM1"}).endswith("escalated to you")


def test_a_cover_reads_whose_capacity_they_acted_in_above_the_result() -> None:
    """The IRO's cover resolving the IRO's alert: "Your" alert is the covered IRO's."""
    result = ActionResult(True, "resolved", item(QA_RESPONSE, case_ref="CP-2003"), role="raiser",
                          covering="Iris Rowe")  # fmt: skip
    assert render.action_text(result, LONDON, MORNING) == (
        "✅ Your QA alert on case CP-2003: resolved and closed. (covering for Iris Rowe)"
    )

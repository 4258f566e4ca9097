"""One vocabulary: every label a person reads comes from models/vocabulary.py, so a role, a
button or a kind cannot be spelt one way in a reminder and another way in a list."""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime
from pathlib import Path

from handlers import render
from models import vocabulary as v
from models.buttons import Button
from scheduler import messages as msg
from scheduler.calendar import LONDON
from scheduler.items import Item
from scheduler.org import Person

ROOT = Path(__file__).resolve().parents[2]
NOT_SCANNED: set[str] = set()  # every handlers/ and scheduler/ module is read
LABELS = {
    label
    for label in (
        *v.ROLE_LABELS.values(),
        *v.BUTTON_LABELS.values(),
        *v.REVIEW_BUTTON_LABELS.values(),
        *v.KIND_LABELS.values(),
        *(entry.button for table in (v.THEMES, v.LATE_REASONS, v.STAND_DOWN_REASONS)
          for entry in table.values()),
        v.ALERT_LABEL,
        v.END_ABSENCE,
    )
    if len(label) > 5  # "Other", "Sent", "IRO": too short to tell from ordinary words
}  # fmt: skip


def _literals(path: Path) -> list[tuple[int, str]]:
    """Every string constant in a module that is not a docstring (f-string parts included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    ]  # fmt: skip


def test_no_handler_or_scheduler_module_spells_a_vocabulary_label_itself() -> None:
    """A new literal "team manager" or "Submitted" in a sentence fails here: use the vocabulary."""
    found = []
    for path in sorted([*ROOT.glob("handlers/*.py"), *ROOT.glob("scheduler/*.py")]):
        name = path.relative_to(ROOT).as_posix()
        if name in NOT_SCANNED:
            continue
        for line, text in _literals(path):
            for label in LABELS:
                if re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", text):
                    found.append(f"{name}:{line}: {label!r} in {text!r}")
    assert found == []


def _labels(*keyboards: list[list[Button]] | None) -> list[str]:
    return [label for keyboard in keyboards for row in keyboard or [] for label, _ in row]


def test_every_button_a_message_carries_is_labelled_from_the_vocabulary() -> None:
    due = datetime(2026, 12, 7, 18, tzinfo=UTC)
    report = Item(1, v.RCPC_REPORT, "C-1", "CR-1", "SW1", due, stage=1)
    alert = Item(2, v.QA_RESPONSE, "A-1", "CR-1", "SW1", due, stage=1, stage_due_at=due)
    review = Item(3, v.PLAN_REVIEW, "CR-1", "CR-1", "IRO1", due)
    ladder = ("team_manager", "service_manager", "head_of_service", "assistant_director")
    keyboards = [
        *(render.owner_keyboard(i) for i in (report, alert, review)),
        *(render.holder_keyboard(i) for i in (report, alert)),
        render.late_reason_message(report, LONDON).keyboard,
        render.stand_down_reason_message(report, LONDON).keyboard,
        render.alert_kind_message("CR-1", 1).keyboard,
        render.alert_theme_message("CR-1", v.CONCERN, 1).keyboard,
        render.alert_confirm_message("CR-1", v.CONCERN, "other", 1).keyboard,
        msg.report_overdue_manager(report, owner_name="Sally Webb").keyboard,
        msg.report_missing_chair(report, owner_name="Sally Webb", manager_name=None).keyboard,
        msg.qa_stage_holder(alert, stage=1, stages=4, role="team_manager",
                            owner_name="Sally Webb", stage_due_at=due).keyboard,
        msg.qa_iro_step(alert, stage=1, stages=4, role="team_manager", holder_name="Tara",
                        stage_due_at=due, ladder=ladder).keyboard,
        msg.outcome_request_message(alert, "Sally Webb").keyboard,
        msg.review_due(review, plan_start=date(2026, 3, 1)).keyboard,
    ]  # fmt: skip
    vocabulary = {
        *v.BUTTON_LABELS.values(), *v.REVIEW_BUTTON_LABELS.values(), v.CONFIRM, v.CANCEL,
        *v.ALERT_KIND_LABELS.values(),
        *(entry.button for table in (v.THEMES, v.LATE_REASONS, v.STAND_DOWN_REASONS)
          for entry in table.values()),
        *(v.escalate_label(stage, role) for stage, role in enumerate(ladder, start=1)),
    }  # fmt: skip
    labels = _labels(*keyboards)
    assert len(labels) > 30
    assert [label for label in labels if label not in vocabulary] == []


def test_cover_and_date_buttons_are_people_and_days_with_the_vocabularys_own_words() -> None:
    sally = Person("SW1", "Sally Webb", "social_worker", "TM1", "North")
    days = render.cover_until_message("Sally Webb", [date(2026, 12, 4)], 1)
    who = render.cover_who_message("Sally Webb", date(2026, 12, 4), [sally], 1)
    assert _labels(days.keyboard, who.keyboard) == [
        "Fri 4 Dec", v.CANCEL, f"Sally Webb ({v.role_label('social_worker')})", v.CANCEL,
    ]  # fmt: skip

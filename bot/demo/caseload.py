"""A synthetic, pseudonymous caseload as CSV text, so the demo uses the real importer."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from models.vocabulary import PLAN_CATEGORIES, THEME_CODES
from scheduler.calendar import WorkingCalendar
from scheduler.deadlines import add_months

TEAMS = ("North", "South", "East")

# Real caseloads change every day; the demo shows three such days of its own.
AWAY, COVER = "SW12", "SW11"  # on leave the first week; a colleague in North covers
AWAY_CASE = "CP-1002"  # their report falls due while they are away: the cover acts on it
LEAVER = "SW31"  # has left: their cases are unallocated, their team manager acts
STOOD_DOWN_CASE = "CP-1003"  # its chair stands the conference down when the report is late
# Children in care (issue 12): their own cases, drawn from their own random stream so the
# child protection half of the demo reads the same with or without them.
LAC_PREFIX = "LAC-"
LAC_SEED_OFFSET = 12
REVIEWED_BEFORE_DAYS = 21  # 9-month reviews due longer ago than this were held back then
FIRST = (
    "Sam",
    "Alex",
    "Jo",
    "Priya",
    "Tom",
    "Aisha",
    "Ben",
    "Chloe",
    "Dev",
    "Ella",
    "Femi",
    "Grace",
    "Hannah",
    "Imran",
    "Jade",
    "Kofi",
    "Lena",
    "Marek",
    "Nia",
    "Owen",
    "Ruth",
    "Sunil",
    "Tess",
    "Uma",
    "Vik",
    "Wen",
    "Yusuf",
    "Zoe",
)
LAST = (
    "Patel",
    "Jones",
    "Smith",
    "Okafor",
    "Williams",
    "Khan",
    "Brown",
    "Taylor",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Hughes",
    "Green",
    "Hall",
)


@dataclass
class Caseload:
    """The four CSV files a case management system export would give us."""

    staff: str
    plans: str
    conferences: str
    alerts: str
    absences: str = ""
    care: str = ""
    reviews: str = ""
    social_workers: list[str] = field(default_factory=list)
    iros: list[str] = field(default_factory=list)
    managers: list[str] = field(default_factory=list)


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _local(day: date, clock: time) -> str:
    return datetime.combine(day, clock).strftime("%Y-%m-%d %H:%M")


def build_caseload(
    *, seed: int, start: date, cal: WorkingCalendar, plans: int = 150, looked_after: bool = True
) -> Caseload:
    """Deterministic for a seed and start day: 3 teams, 12 workers, 4 IROs, managers, plans;
    and (`looked_after`) a children in care team with its children and their reviews."""
    rng = random.Random(seed)
    names = iter(rng.sample([f"{f} {s}" for f in FIRST for s in LAST], 40))
    staff: list[list[str]] = [
        ["AD1", next(names), "assistant_director", "", "Directorate", ""],
        ["HOS1", next(names), "head_of_service", "AD1", "Safeguarding", ""],
        ["SM1", next(names), "service_manager", "HOS1", "Locality", ""],
        ["SGM1", next(names), "safeguarding_manager", "HOS1", "IRO Service", ""],
    ]
    social_workers: list[str] = []
    for t, team in enumerate(TEAMS, start=1):
        staff.append([f"TM{t}", next(names), "team_manager", "SM1", team, ""])
        for w in range(1, 5):
            sw = f"SW{t}{w}"
            social_workers.append(sw)
            left = "false" if sw == LEAVER else ""
            staff.append([sw, next(names), "social_worker", f"TM{t}", team, left])
    iros = [f"IRO{i}" for i in range(1, 5)]
    staff.extend([iro, next(names), "iro", "SGM1", "IRO Service", ""] for iro in iros)

    plan_rows: list[list[str]] = []
    conference_rows: list[list[str]] = []
    alert_rows: list[list[str]] = []
    horizon = 30  # working days of conferences: about six weeks
    for n in range(plans):
        case_ref = f"CP-{1001 + n}"
        sw = social_workers[n % len(social_workers)]
        iro = iros[n % len(iros)]
        months = rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 10, 12, 14, 17, 18, 20, 23, 24, 26])
        plan_start = start - timedelta(days=int(months * 30.4) - rng.randint(0, 14))
        review_due = add_months(plan_start, 9)
        held = start - timedelta(days=REVIEWED_BEFORE_DAYS)  # the export knows these were held
        reviewed = (review_due + timedelta(days=2)).isoformat() if review_due < held else ""
        plan_rows.append(
            [
                case_ref,
                sw,
                iro,
                plan_start.isoformat(),
                "",
                rng.choice(PLAN_CATEGORIES),
                reviewed,
                "REDACTED-NAME",
            ]  # a column real exports carry; the importer must drop it
        )
        day = cal.add_working_days(start, rng.randint(1, horizon))
        kind = "ICPC" if months <= 1 else "RCPC"
        clock = rng.choice([time(9, 30), time(10, 0), time(11, 0), time(13, 30), time(14, 0)])
        received = ""
        if rng.random() < 0.15:  # a few reports are already in
            received = _local(cal.add_working_days(start, -1), time(16, 0))
        if case_ref in (AWAY_CASE, STOOD_DOWN_CASE):  # due on the first day, and not in
            day, kind, received = cal.add_working_days(start, 3), "RCPC", ""
        conference_rows.append(
            [f"CONF-{1001 + n}", case_ref, kind, _local(day, clock), iro, received]
        )
        if rng.random() < 0.12:
            ago = rng.choice([1, 3, 6, 9, 12, 16, 21])
            raised = cal.add_working_days(start, -ago)
            kind_a = "positive" if rng.random() < 0.35 else "concern"
            theme = rng.choice(THEME_CODES)
            responded = ""
            if kind_a == "concern" and ago > 3 and rng.random() < 0.5:  # answered in time
                responded = _local(cal.add_working_days(raised, rng.randint(1, 4)), time(15, 0))
            alert_rows.append(
                [f"QA-{len(alert_rows) + 1:04d}", case_ref, iro, _local(raised, time(11, 0)),
                 kind_a, theme, responded, ""]
            )  # fmt: skip
    managers = [row[0] for row in staff if row[2] not in ("social_worker", "iro")]
    last_day_away = cal.add_working_days(start, 4)
    care = reviews = ""
    if looked_after:
        staff.extend(looked_after_team(seed=seed, taken={row[1] for row in staff}))
        staff.append(business_support(taken={row[1] for row in staff}))
        care, reviews = build_looked_after(seed=seed, start=start, cal=cal)
    return Caseload(
        staff=_csv(["staff_id", "name", "role", "manager_id", "team", "active"], staff),
        plans=_csv(
            [
                "case_ref",
                "social_worker_id",
                "chair_id",
                "plan_start",
                "plan_end",
                "category",
                "reviewed_on",
                "child_name",
            ],
            plan_rows,
        ),
        conferences=_csv(
            [
                "conference_id",
                "case_ref",
                "kind",
                "scheduled_for",
                "chair_id",
                "report_received_at",
            ],
            conference_rows,
        ),
        alerts=_csv(
            [
                "alert_id",
                "case_ref",
                "raised_by",
                "raised_at",
                "kind",
                "theme",
                "responded_at",
                "closed_at",
            ],
            alert_rows,
        ),
        absences=_csv(
            ["absence_id", "staff_id", "starts_on", "ends_on", "cover_id"],
            [["LEAVE-1", AWAY, start.isoformat(), last_day_away.isoformat(), COVER]],
        ),
        care=care,
        reviews=reviews,
        social_workers=social_workers,
        iros=iros,
        managers=managers,
    )


# The children in care team: its own team manager and social workers, and an IRO of the
# service who reviews their plans.
LAC_TEAM = "In Care"  # no wider than "Service": the figures' tables keep their columns
LAC_STAFF = (
    ("TM4", "team_manager", "SM1", LAC_TEAM),
    ("SW41", "social_worker", "TM4", LAC_TEAM),
    ("SW42", "social_worker", "TM4", LAC_TEAM),
    ("IRO5", "iro", "SGM1", "IRO Service"),
    ("IRO6", "iro", "SGM1", "IRO Service"),
)
# (case, social worker, IRO, how the demo's days meet it): a review in 3 working days (its
# report is nudged on day 1), a review held 18 working days before (its record is due on
# day 3), one held 3 working days before (its decisions are due on day 3); the rest have
# their next review booked after the demo's ten days.
LAC_CASES = (
    ("LAC-2001", "SW41", "IRO5", "report"),
    ("LAC-2002", "SW42", "IRO6", "record"),
    ("LAC-2003", "SW41", "IRO5", "decisions"),
    ("LAC-2004", "SW42", "IRO5", ""),
    ("LAC-2005", "SW41", "IRO6", ""),
    ("LAC-2006", "SW42", "IRO6", ""),
    ("LAC-2007", "SW41", "IRO5", ""),
    ("LAC-2008", "SW42", "IRO6", "unbooked"),  # its next review: due in week 3, not booked
)
# Business support for the IROs: told with the IRO when a child's next review is not booked.
BUSINESS_SUPPORT = ("ADM1", "admin", "SGM1", "IRO Service")


def looked_after_team(*, seed: int, taken: set[str]) -> list[list[str]]:
    """The staff rows of the children in care team, named from their own random stream."""
    rng = random.Random(seed + LAC_SEED_OFFSET)
    # Names no longer than the others' widest, so the caseload table keeps its columns too.
    widest = max(len(n) for n in taken)
    free = [n for n in (f"{f} {s}" for f in FIRST for s in LAST)
            if n not in taken and len(n) <= min(widest, 11)]  # fmt: skip
    names = iter(rng.sample(free, len(LAC_STAFF)))
    return [[sid, next(names), role, manager, team, ""] for sid, role, manager, team in LAC_STAFF]


def business_support(*, taken: set[str]) -> list[str]:
    """The staff row of the IROs' business support (an admin), the first free name in order:
    no random draw, so everyone else's names stay as they were."""
    name = next(n for n in (f"{f} {s}" for f in FIRST for s in LAST)
                if n not in taken and len(n) <= 11)  # fmt: skip
    staff_id, role, manager, team = BUSINESS_SUPPORT
    return [staff_id, name, role, manager, team, ""]


def build_looked_after(*, seed: int, start: date, cal: WorkingCalendar) -> tuple[str, str]:
    """The `care` and `reviews` exports of a few children in care, each with its reviews held
    in timescale (the first 15 working days after entering care, the second 2 months later,
    then every 4 to 5 months) and the next one booked."""
    rng = random.Random(seed + LAC_SEED_OFFSET + 1)
    care_rows: list[list[str]] = []
    review_rows: list[list[str]] = []
    for case_ref, sw, iro, moment in LAC_CASES:
        entered = start - timedelta(days=rng.randint(400, 900))
        care_rows.append([case_ref, sw, iro, entered.isoformat(), ""])
        number = iter(range(1, 40))

        def review(when: date, *, held: bool, decisions: bool = True, record: bool = True,
                   case_ref: str = case_ref, iro: str = iro,
                   number: Iterator[int] = number) -> None:  # fmt: skip
            at = _local(when, rng.choice([time(10, 0), time(14, 0)]))
            done = _local(cal.add_working_days(when, 2), time(16, 0))
            review_rows.append([
                f"R-{case_ref[4:]}-{next(number)}", case_ref, at, iro, "held" if held else "",
                _local(cal.add_working_days(when, -1), time(12, 0)) if held else "",
                when.isoformat() if held else "", done if held and decisions else "",
                done if held and record else "",
            ])  # fmt: skip

        if moment == "report":  # the next review is on day 3; the last one 5 months before
            booked = cal.add_working_days(start, 2)
            last = add_months(booked, -5)
        elif moment == "record":
            last = cal.add_working_days(start, -18)
            booked = add_months(last, 5)
        elif moment == "decisions":
            last = cal.add_working_days(start, -3)
            booked = add_months(last, 5)
        else:
            last = start - timedelta(days=rng.randint(30, 120))
            booked = add_months(last, 5)
        if moment == "unbooked":  # held 6 months before the demo's third week; none booked
            last = add_months(cal.add_working_days(start, 14), -6)
        history = [cal.next_working_day(last)]
        second = cal.next_working_day(add_months(entered, 2))
        while add_months(history[-1], -4) > add_months(entered, 3):
            history.append(cal.next_working_day(add_months(history[-1], -4)))
        history += [second, cal.add_working_days(entered, 15)]
        for n, held_on in enumerate(reversed(history)):
            latest = n == len(history) - 1
            review(held_on, held=True, decisions=not (latest and moment == "decisions"),
                   record=not (latest and moment in ("record", "decisions")))  # fmt: skip
        if moment != "unbooked":
            review(cal.next_working_day(booked), held=False)
    care = _csv(["case_ref", "social_worker_id", "iro_id", "entered_on", "left_on"], care_rows)
    reviews = _csv(
        ["review_id", "case_ref", "scheduled_for", "iro_id", "status", "report_received_at",
         "held_on", "decisions_uploaded_at", "record_uploaded_at"],
        review_rows,
    )  # fmt: skip
    return care, reviews

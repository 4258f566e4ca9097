"""What a go-live preview adds to the engine's own view: the digests of managers not linked yet.

The digest job skips a manager without a linked chat (a digest is a snapshot, stale by the
time they link), so the outbox never holds one for them. Before go-live that is nearly
everyone, and a preview that showed nothing would hide what managers are about to get:
`irobot tick --dry-run` and `irobot check` render those digests here, marked as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from scheduler.policy import Policy


@dataclass(frozen=True)
class UnlinkedDigest:
    """One digest message a manager would get at `at` if they were linked."""

    staff_id: str
    text: str
    buttons: list[list[str]]


def unlinked_digests(session: Session, policy: Policy, *, at: datetime) -> list[UnlinkedDigest]:
    """Today's digests for active managers with no linked chat, when a digest is due at `at`."""
    from scheduler.digest import build_digests, load_org, managers

    cal, hours = policy.calendar(), policy.hours()
    local = cal.local(at)
    if not cal.is_working_day(local.date()) or local.time() < policy.delivery.digest_clock():
        return []
    if not hours.is_open(at, cal):
        return []
    org = load_org(session)
    waiting = [m for m in managers(org) if m.chat_id is None]
    if not waiting:
        return []
    return [
        UnlinkedDigest(
            staff_id=row.recipient_id,
            text=row.message.text,
            buttons=[[label for label, _ in line] for line in row.message.keyboard or []],
        )
        for row in build_digests(session, org, waiting, now=at, cal=cal,
                                     digest_clock=policy.delivery.digest_clock())
    ]

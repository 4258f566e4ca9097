"""`irobot invite STAFF_ID`: a one-time link code for one person, printed on the last line."""

from __future__ import annotations

import argparse
import io
import logging
import sys
from zoneinfo import ZoneInfo

from bot import identity
from bot.context import AppContext, CommandError
from models.invites import DEFAULT_DAYS, InviteError, create_invite

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Who to invite, for how long, and whether to show the link as a QR code."""
    parser.add_argument("staff_id", help="the staff_id from the staff import")
    parser.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help=f"days the code stays valid ({DEFAULT_DAYS})"
    )
    parser.add_argument(
        "--qr",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print the link as a QR code a phone can scan (default: when the bot's username "
        "is known and the output is a terminal)",
    )


def qr_text(link: str) -> str:
    """The link as a QR code in block characters: a phone's camera opens it from the screen."""
    import qrcode  # only this command needs it

    code = qrcode.QRCode(border=1)
    code.add_data(link)
    code.make(fit=True)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue().rstrip("\n")


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    """Create the code and print how to use it; scripts read the code from the last line."""
    now = ctx.clock()
    try:
        with ctx.session() as session:
            invite = create_invite(session, staff_id=args.staff_id, now=now, days=args.days)
    except InviteError as exc:
        raise CommandError(str(exc)) from None
    tz = ZoneInfo(ctx.policy.timezone)
    local = invite.expires_at.astimezone(tz)
    until = f"{local:%a} {local.day} {local:%b %Y, %H:%M}"
    print(f"Invite for {invite.staff_name} ({invite.staff_id}): single use, "
          f"valid until {until} ({tz.key}).")
    name = identity.username(ctx)
    print(f"They open {identity.invite_link(name, invite.code)} "
          f"or send /start {invite.code} to the bot.")
    show_qr = args.qr if args.qr is not None else (name is not None and sys.stdout.isatty())
    if show_qr and name is not None:
        print(qr_text(identity.invite_link(name, invite.code)))
    elif show_qr:
        print("No QR code: the bot's username is not known (set TELEGRAM_BOT_TOKEN).")
    if name is None:
        print(f"Put your bot's username (from BotFather) in place of {identity.PLACEHOLDER}; "
              "with TELEGRAM_BOT_TOKEN set, irobot fills it in itself.")
    if invite.superseded:
        print(f"Earlier unused codes for {invite.staff_id} no longer work.")
    if invite.already_linked:
        print(f"{invite.staff_id} is already linked; this code moves the link to the "
              "account that uses it.")
    print(invite.code)
    return 0

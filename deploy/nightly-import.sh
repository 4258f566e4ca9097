#!/usr/bin/env bash
# IRObot's nightly import: staff first, then plans, conferences and alerts, each file all or
# nothing, stopping at the first one that fails (plans imported over a rejected staff file
# would name people IRObot does not know yet).
#
# Install:  sudo install -m 0755 deploy/nightly-import.sh /opt/irobot/bin/irobot-nightly-import
# Run by:   irobot-import.service (started by irobot-import.timer), as the irobot user, in
#           /srv/irobot so that irobot reads /srv/irobot/.env.
# Output:   one line per file on stdout, bad rows and reasons on stderr: under systemd both go
#           to the journal (journalctl -u irobot-import). From cron, pipe to `logger -t irobot-import`.
# Exit:     0 when every file imported; 1 at the first missing or rejected file.
#
# Settings (environment; none starts IROBOT_, which irobot would refuse as unknown):
#   IMPORT_DIR    folder holding staff.csv, plans.csv, conferences.csv, alerts.csv
#                 (and absences.csv, if listed in IMPORT_KINDS) (default /srv/irobot/import)
#   IMPORT_KINDS  which files, in order (default "staff plans conferences alerts"; add
#                 "absences" last if leave is exported too)
#   IROBOT        the irobot command (default /opt/irobot/bin/irobot)
set -uo pipefail

dir="${IMPORT_DIR:-/srv/irobot/import}"
kinds="${IMPORT_KINDS:-staff plans conferences alerts}"
irobot="${IROBOT:-/opt/irobot/bin/irobot}"

for kind in $kinds; do
  case "$kind" in
    staff | plans | conferences | alerts | absences) ;;
    *)
      echo "irobot-import: IMPORT_KINDS names '$kind': use staff, plans, conferences, alerts, absences" >&2
      exit 1
      ;;
  esac
  file="$dir/$kind.csv"
  if [[ ! -f "$file" ]]; then
    echo "irobot-import: $file is missing: did tonight's export run? Nothing after $kind imported" >&2
    exit 1
  fi
  if ! "$irobot" import "$kind" "$file"; then
    echo "irobot-import: $kind rejected (lines above); nothing after $kind imported tonight" >&2
    exit 1
  fi
done
echo "irobot-import: done ($kinds)"

#!/usr/bin/env bash
# HL7 CDS Hooks 2.0 against rxguard's HTTP listener: discovery, an order-sign
# call with the draft orders, and feedback on the cards it answered.
# Usage: RXGUARD_HTTP=127.0.0.1:7601 cds-hooks.sh [order-sign.json]
# JSON is read with python3's standard library.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
request="${1:-$here/order-sign.json}"
http="${RXGUARD_HTTP:-127.0.0.1:7601}"
base="http://$http/cds-services"
service=rxguard-order-sign
reply="$(mktemp)" feedback="$(mktemp)"
trap 'rm -f "$reply" "$feedback"' EXIT

# fetch URL [FILE]: GET, or POST FILE as JSON; the body into $reply; fails
# unless HTTP 200.
fetch() {
  local status post=()
  [ -z "${2:-}" ] || post=(-H 'Content-Type: application/json' --data-binary @"$2")
  status="$(curl -sS --max-time 5 -o "$reply" -w '%{http_code}' -H 'Accept: application/json' "${post[@]}" "$1")"
  [ "$status" = 200 ] || { echo "$1: HTTP $status: $(cat "$reply")" >&2; return 1; }
}

fetch "$base"
python3 - "$reply" "$service" <<'PY'
import json, sys
ids = [s.get("id") for s in json.load(open(sys.argv[1], encoding="utf-8")).get("services", [])]
print(f"services: {','.join(ids)}")
if sys.argv[2] not in ids:
    sys.exit(f"discovery does not list {sys.argv[2]}")
PY

fetch "$base/$service" "$request"
# Print the cards and write the feedback: a critical card (a BLOCK) is
# accepted (the order is changed, with its first suggestion if any); any
# other card is overridden with the first reason the card offers.
python3 - "$reply" "$feedback" <<'PY'
import json, sys
from datetime import datetime, timezone
cards = json.load(open(sys.argv[1], encoding="utf-8")).get("cards", [])
now = datetime.now(timezone.utc).isoformat(timespec="seconds")
out = []
for c in cards:
    print(f"card {c.get('uuid')}: {c.get('indicator')} {c.get('summary')}")
    for s in c.get("suggestions") or []:
        print(f"  suggestion {s.get('uuid')}: {s.get('label')}")
    if not c.get("uuid"):
        continue  # a card without uuid takes no feedback
    fb = {"card": c["uuid"], "outcomeTimestamp": now}
    reasons = c.get("overrideReasons") or []
    if c.get("indicator") == "critical" or not reasons:
        fb["outcome"] = "accepted"
        if c.get("suggestions"):
            fb["acceptedSuggestions"] = [{"id": c["suggestions"][0]["uuid"]}]
    else:
        fb["outcome"] = "overridden"
        fb["overrideReason"] = {"reason": reasons[0], "userComment": "病情需要，已向患者说明"}
    out.append(fb)
json.dump({"feedback": out}, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY

fetch "$base/$service/feedback" "$feedback"
python3 - "$feedback" <<'PY'
import json, sys
for fb in json.load(open(sys.argv[1], encoding="utf-8"))["feedback"]:
    print(f"feedback: {fb['outcome']} card={fb['card']}")
PY

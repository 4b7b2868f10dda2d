#!/usr/bin/env bash
# National 3101 (明细审核事前分析) against rxguard's HTTP listener: the payload
# a HIS already sends to the provincial platform, pointed at the sidecar.
# Usage: RXGUARD_HTTP=127.0.0.1:7601 3101.sh [3101.json]
# Prints infcode and each result; JSON is read with python3's standard library.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
payload="${1:-$here/3101.json}"
http="${RXGUARD_HTTP:-127.0.0.1:7601}"
body="$(mktemp)" reply="$(mktemp)"
trap 'rm -f "$body" "$reply"' EXIT

# A fresh msgid and task_id per call, as the HIS makes them; inf_time stays:
# it is the check time, so a replayed payload is judged as it was.
python3 - "$payload" "$body" <<'PY'
import json, sys, time
from datetime import datetime, timedelta, timezone
p = json.load(open(sys.argv[1], encoding="utf-8"))
stamp = datetime.now(timezone(timedelta(hours=8))).strftime("%Y%m%d%H%M%S")  # 北京时间
p["msgid"] = f"{p['fixmedins_code']}{stamp}{time.time_ns() % 10000:04d}"
p["input"]["data"]["task_id"] = f"his-{stamp}-{time.time_ns() % 1000000:06d}"
json.dump(p, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY

status="$(curl -sS --max-time 5 -o "$reply" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary @"$body" "http://$http/nhsa/3101")"
[ "$status" = 200 ] || { echo "3101: HTTP $status from http://$http/nhsa/3101: $(cat "$reply")" >&2; exit 1; }

python3 - "$reply" <<'PY'
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
print(f"infcode: {r.get('infcode')}")
# Callers treat a non-empty err_msg as an error even with infcode 0.
if r.get("infcode") != 0 or r.get("err_msg"):
    sys.exit(f"3101 failed: infcode={r.get('infcode')} err_msg={r.get('err_msg')!r}")
for x in (r.get("output") or {}).get("result") or []:
    rx = ",".join(d.get("rx_id", "") for d in x.get("judge_result_detail_dtos") or [] if str(d.get("vola_item_type")) == "1")
    print(f"result {x.get('jr_id')}: {x.get('rule_id')} sev_deg={x.get('sev_deg')} rx_ids={rx} vola_amt={x.get('vola_amt')}")
    print(f"  rule_name: {x.get('rule_name')}")
    print(f"  vola_cont: {x.get('vola_cont')}")
PY

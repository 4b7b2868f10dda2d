#!/usr/bin/env bash
# National 3103 (事前事中服务反馈): the physician's answer to the results of a
# 3101 reply. Sends 3101.json first, then answers its first result: 返回修改
# (dspo_way 2) for 明确违规 (sev_deg 1, a BLOCK, which cannot be continued),
# otherwise 继续执行 (dspo_way 1) with the required reason.
# Usage: RXGUARD_HTTP=127.0.0.1:7601 3103.sh [3101.json]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
payload="${1:-$here/3101.json}"
http="${RXGUARD_HTTP:-127.0.0.1:7601}"
body="$(mktemp)" reply="$(mktemp)"
trap 'rm -f "$body" "$reply"' EXIT

# post PATH: POST $body to the sidecar, the reply into $reply; fails unless
# HTTP 200 with infcode 0 and no err_msg.
post() {
  local status
  status="$(curl -sS --max-time 5 -o "$reply" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$body" "http://$http$1")"
  [ "$status" = 200 ] || { echo "$1: HTTP $status: $(cat "$reply")" >&2; return 1; }
  python3 - "$1" "$reply" <<'PY'
import json, sys
r = json.load(open(sys.argv[2], encoding="utf-8"))
print(f"{sys.argv[1]} infcode: {r.get('infcode')}")
if r.get("infcode") != 0 or r.get("err_msg"):
    sys.exit(f"{sys.argv[1]} failed: infcode={r.get('infcode')} err_msg={r.get('err_msg')!r}")
PY
}

python3 - "$payload" "$body" <<'PY'
import json, sys, time
from datetime import datetime, timedelta, timezone
p = json.load(open(sys.argv[1], encoding="utf-8"))
stamp = datetime.now(timezone(timedelta(hours=8))).strftime("%Y%m%d%H%M%S")  # 北京时间
p["msgid"] = f"{p['fixmedins_code']}{stamp}{time.time_ns() % 10000:04d}"
p["input"]["data"]["task_id"] = f"his-{stamp}-{time.time_ns() % 1000000:06d}"
json.dump(p, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY
post /nhsa/3101

# The 3103 envelope reuses the 3101 one; input.data is the answer.
python3 - "$body" "$reply" <<'PY'
import json, sys, time
from datetime import datetime, timedelta, timezone
env = json.load(open(sys.argv[1], encoding="utf-8"))
results = ((json.load(open(sys.argv[2], encoding="utf-8")).get("output") or {}).get("result")) or []
if not results:
    sys.exit("3101 answered no result: nothing to answer in 3103")
r = results[0]
warn = {"warn_rslt_id": r["jr_id"], "dspo_way": "2"}
if str(r.get("sev_deg")) != "1":
    warn = {"warn_rslt_id": r["jr_id"], "dspo_way": "1", "dspo_way_rea": "病情需要，已向患者说明"}
env["infno"] = "3103"
now = datetime.now(timezone(timedelta(hours=8)))  # 北京时间, as inf_time is read
env["msgid"] = f"{env['fixmedins_code']}{now:%Y%m%d%H%M%S}{time.time_ns() % 10000:04d}"
env["inf_time"] = f"{now:%Y-%m-%d %H:%M:%S}"
env["input"] = {"data": {"warn_type": "1", "warns": [warn]}}
json.dump(env, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False)
print(f"3103 warn_rslt_id={warn['warn_rslt_id']} sev_deg={r.get('sev_deg')} dspo_way={warn['dspo_way']}")
PY
post /nhsa/3103

#!/usr/bin/env bash
# The HIS flow with grpcurl through server reflection (no .proto files):
# check a prescription, apply the first structured suggestion (Finding.fixes)
# and check again, then record the physician's response to the findings.
# Usage: RXGUARD_ADDR=127.0.0.1:7600 client.sh [prescription.json]
# JSON is read and written with python3's standard library (no jq needed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
order="${1:-$here/../prescription.json}"
addr="${RXGUARD_ADDR:-127.0.0.1:7600}"
grpcurl="${GRPCURL:-grpcurl}"
fixed="$(mktemp)"
trap 'rm -f "$fixed"' EXIT

# call METHOD < request.json: one unary call, bounded like a real HIS call.
call() { "$grpcurl" -plaintext -max-time 5 -d @ "$addr" "rxguard.v1.GuardService/$1"; }

# show LABEL RESPONSE: the verdict and each finding with its fixes. grpcurl
# leaves out fields at their default (false, 0, empty lists).
show() {
  python3 - "$@" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
print(f"{sys.argv[1]}: {r['verdict']} decision={r['decisionId']}")
for f in r.get("findings", []):
    print(f"finding {f['findingId']}: {f['ruleType']} {f['action']} lines={','.join(f.get('lineIds', []))}")
    print(f"  message: {f.get('message', '')}")
    print(f"  suggestion: {f.get('suggestion', '')}")
    for x in f.get("fixes", []):
        print(f"  fix: {x['kind']} line={x.get('lineId', '')} quantity={x.get('quantity', 0):g} "
              f"days={x.get('days', 0)} item={x.get('itemCode', '')} label={x.get('label', '')}")
PY
}

resp="$(call CheckOrders < "$order")"
show verdict "$resp"

# (a) Write the request with the first fix applied to $fixed; print what
# was applied, or nothing when no finding offers a fix.
applied="$(python3 - "$order" "$resp" "$fixed" <<'PY'
import json, sys
req = json.load(open(sys.argv[1], encoding="utf-8"))
resp = json.loads(sys.argv[2])
fix = next((f["fixes"][0] for f in resp.get("findings", []) if f.get("fixes")), None)
if fix is None:
    sys.exit(0)
lines = req["orders"]
line = next((l for l in lines if l.get("lineId") == fix.get("lineId", "")), None)
if line is None:
    sys.exit(f"fix names line {fix.get('lineId')!r}, which the request does not have")
kind = fix["kind"]
if kind == "FIX_KIND_REDUCE_QUANTITY":
    line["quantity"] = fix.get("quantity", 0)
elif kind == "FIX_KIND_REDUCE_DAYS":
    line["days"] = fix.get("days", 0)
elif kind == "FIX_KIND_MARK_SELF_PAY":
    line["selfPay"] = True  # only after the patient's informed consent
elif kind == "FIX_KIND_ATTEST_RESTRICTION":
    line["restrictionAttested"] = True
elif kind == "FIX_KIND_REMOVE_LINE":
    lines.remove(line)
elif kind == "FIX_KIND_CHANGE_ITEM":
    line["itemCode"], line["itemName"] = fix.get("itemCode", ""), fix.get("itemName", "")
else:
    sys.exit(f"fix kind {kind} is newer than this client: update the client")
json.dump(req, open(sys.argv[3], "w", encoding="utf-8"), ensure_ascii=False)
print(f"apply: {kind} on line {fix.get('lineId', '')}")
PY
)"
if [ -n "$applied" ]; then
  echo "$applied"
  show "re-check verdict" "$(call CheckOrders < "$fixed")"
else
  echo "no fix offered"
fi

# (b) The physician's answer to the first decision's findings: a BLOCK (not
# overridable) or the fixed finding was modified; anything else continues
# with a reason.
answer="$(python3 - "$resp" <<'PY'
import json, sys
resp = json.loads(sys.argv[1])
findings = resp.get("findings", [])
fixed = next((f["findingId"] for f in findings if f.get("fixes")), None)
out = []
for f in findings:
    if f.get("overridable") and f["findingId"] != fixed:
        out.append({"findingId": f["findingId"], "response": "RESPONSE_CONTINUE",
                    "reasonCode": "CLINICAL_NEED", "reasonText": "病情需要，已向患者说明"})
    else:
        out.append({"findingId": f["findingId"], "response": "RESPONSE_MODIFY"})
if out:
    print(json.dumps({"decisionId": resp["decisionId"], "responses": out}, ensure_ascii=False))
PY
)"
if [ -n "$answer" ]; then
  rec="$(call RecordResponse <<<"$answer")"
  echo "recorded: $(python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get("recorded", 0))' "$rec")"
fi

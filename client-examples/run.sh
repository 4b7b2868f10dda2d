#!/usr/bin/env bash
# Runs every HIS client example against a live `rxguard serve` (a temp data
# directory, the embedded demo release, loopback ports picked by the kernel)
# and asserts what each prints. Installs what the clients need when missing
# (Debian packages; the Node.js modules from the committed package-lock.json).
# `make clients` runs it (part of `make test`); it needs `make build tools`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="$root/bin"
rxguard="${RXGUARD_BIN:-$bin/rxguard}"
prescription="$here/prescription.json"
export GOWORK=off GOFLAGS=-buildvcs=false
# Debian's python3: python3-grpcio and python3-grpc-tools install for it, not
# for another python3 earlier on PATH (pyenv, a virtualenv).
py="${PYTHON:-/usr/bin/python3}"

# The gRPC clients, each asserted by assert_grpc.
GRPC_CLIENTS=(go python node grpcurl)
# The curl scripts of the HTTP endpoints (national 3101/3103, CDS Hooks),
# each asserted by assert_http; RXGUARD_HTTP_CLIENTS="curl-3101 …" runs a
# subset.
HTTP_CLIENTS=(curl-3101 curl-3103 curl-cds-hooks)
if [ -n "${RXGUARD_HTTP_CLIENTS:-}" ]; then read -r -a HTTP_CLIENTS <<<"$RXGUARD_HTTP_CLIENTS"; fi

work="$(mktemp -d)"
pid=""
# stop: SIGTERM the sidecar and wait for it to exit before its data directory
# goes (Badger retries a flush into a removed directory for ever). Answers
# the sidecar's exit status, 137 when it had to be killed after 20 s.
stop() {
  local rc=0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" || rc=$?
  pid=""
  return "$rc"
}
cleanup() { [ -z "$pid" ] || stop || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "clients: FAIL: $*" >&2; exit 1; }
now() { echo "${EPOCHREALTIME/./}"; } # microseconds
took() { local us=$(($(now) - $1)); printf '%d.%03ds' $((us / 1000000)) $((us / 1000 % 1000)); }

[ -x "$rxguard" ] || fail "$rxguard is missing: run 'make build' first"
[ -x "$bin/grpcurl" ] || fail "$bin/grpcurl is missing: run 'make tools' first"

# --- dependencies: Debian packages only when missing (CI runs as root).
t0=$SECONDS
missing=()
[ -x "$py" ] || missing+=(python3)
{ [ -x "$py" ] && "$py" -c 'import grpc, grpc_tools' 2>/dev/null; } || missing+=(python3-grpcio python3-grpc-tools)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "missing Debian packages: ${missing[*]}; install them with 'sudo apt-get install ${missing[*]}' (or run as root) and run again"
  echo "clients: installing ${missing[*]}"
  apt-get update -qq || fail "apt-get update failed: check the Debian mirror in /etc/apt/sources.list*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log"; fail "apt-get install ${missing[*]} failed (log above)"; }
fi
echo "clients: dependencies ready in $((SECONDS - t0))s"

# --- build each client: Go binary, Python stubs from proto/, Node modules.
t0=$SECONDS
(cd "$here/go" && go vet . && go test -count=1 . && go build -o "$work/go-client" .) || fail "vetting, testing or building the Go client"
mkdir -p "$work/py"
"$py" -m grpc_tools.protoc -I "$root/proto" --python_out="$work/py" --grpc_python_out="$work/py" \
  "$root/proto/rxguard/v1/guard.proto" || fail "generating the Python stubs from proto/"
(cd "$here/node" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1) ||
  { cat "$work/npm.log"; fail "npm ci in client-examples/node failed (log above)"; }
echo "clients: clients built in $((SECONDS - t0))s"

# --- a real sidecar; its addresses come from its "rxguard serving" log line.
# CDS Hooks is off by default: it needs this hospital's code and level.
cat >"$work/rxguard.yaml" <<'YAML'
cds_hooks:
  enabled: true
  hospital:
    code: H370800001
    level: 2
YAML
(cd "$work" && exec "$rxguard" serve -config "$work/rxguard.yaml" -grpc 127.0.0.1:0 -http 127.0.0.1:0) >"$work/serve.log" 2>&1 &
pid=$!
serving=""
for _ in $(seq 1 150); do
  serving="$(grep -m1 'msg="rxguard serving"' "$work/serve.log" || true)"
  [ -n "$serving" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; fail "rxguard serve exited (log above)"; }
  sleep 0.2
done
[ -n "$serving" ] || { cat "$work/serve.log"; fail "rxguard serve not serving after 30 s (log above)"; }
grpc_addr="$(sed -E 's/.* grpc=([^ ]+).*/\1/' <<<"$serving")"
http_addr="$(sed -E 's/.* http=([^ ]+).*/\1/' <<<"$serving")"
export RXGUARD_ADDR="$grpc_addr" RXGUARD_HTTP="$http_addr"
echo "clients: rxguard serving gRPC $grpc_addr, HTTP $http_addr"

# assert_grpc OUTPUT: the contract every gRPC client prints (see README.md).
assert_grpc() {
  "$py" - "$1" <<'PY'
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()

def decision(start):
    """The findings printed after lines[start] (a verdict line), up to the next top-level line."""
    found, i = [], start + 1
    while i < len(lines) and lines[i].startswith(("finding ", "  ")):
        m = re.match(r"finding (\S+): (\S+) (ACTION_\w+) lines=(\S*)$", lines[i])
        if m:
            found.append({"id": m[1], "rule": m[2], "action": m[3], "lines": m[4], "fixes": []})
        elif lines[i].startswith("  fix: ") and found:
            found[-1]["fixes"].append(lines[i][len("  fix: "):])
        i += 1
    return found, i

def fail(msg):
    sys.exit(f"assert: {msg}")

m = re.match(r"verdict: (VERDICT_\w+) decision=(\S+)$", lines[0] if lines else "")
if not m or m[1] != "VERDICT_BLOCK":
    fail(f"first line is {lines[:1]}, want 'verdict: VERDICT_BLOCK decision=…'")
first_id = m[2]
findings, i = decision(0)
gender = [f for f in findings if f["rule"] == "DRUG_GENDER" and f["action"] == "ACTION_BLOCK" and f["lines"] == "1"]
if not gender:
    fail(f"no DRUG_GENDER ACTION_BLOCK finding on line 1 in {findings}")
if any(not f["id"].startswith(first_id + "-") for f in findings):
    fail(f"finding ids are not '<decision_id>-<n>' of {first_id}: {findings}")

offered = next((f for f in findings if f["fixes"]), None)
rest = lines[i:]
if offered is None:
    fail(f"the DRUG_GENDER BLOCK offers no structured fix (MARK_SELF_PAY or REMOVE_LINE): {findings}")
kind, line = offered["fixes"][0].split()[0], re.search(r"line=(\S*)", offered["fixes"][0])[1]
if rest[:1] != [f"apply: {kind} on line {line}"]:
    fail(f"{offered['rule']} offers {kind} on line {line} first; the client printed {rest[:1]}")
m = re.match(r"re-check verdict: (VERDICT_\w+) decision=(\S+)$", rest[1] if len(rest) > 1 else "")
if not m or m[2] == first_id:
    fail(f"no re-check as a new decision after the fix: {rest[1:2]}")
again, i = decision(i + 1)
if any(f["rule"] == offered["rule"] and f["lines"] == offered["lines"] for f in again):
    fail(f"the {offered['rule']} finding is still there after its fix {kind}: {again}")
# The prescription's only finding is the DRUG_GENDER BLOCK: its fix passes.
if m[1] != "VERDICT_PASS":
    fail(f"re-check after applying {kind}: {m[1]}, want VERDICT_PASS: {again}")

m = re.match(r"recorded: (\d+)$", lines[i] if i < len(lines) else "")
if not m or int(m[1]) != len(findings):
    fail(f"want 'recorded: {len(findings)}' (one new response per finding), got {lines[i:i+1]}")
if lines[i + 1:]:
    fail(f"unexpected output after the recorded count: {lines[i + 1:]}")
PY
}

# assert_http NAME OUTPUT: what each curl script prints for the prescription.
assert_http() {
  "$py" - "$1" "$2" <<'PY'
import re, sys
name, out = sys.argv[1], open(sys.argv[2], encoding="utf-8").read()
def need(pattern, what):
    if not re.search(pattern, out, re.M):
        sys.exit(f"assert: {what} (no line matching {pattern!r})")
if name == "curl-3101":
    need(r"^infcode: 0$", "3101 did not answer infcode 0")
    need(r"^result \S+: DRUG_GENDER/\S+ sev_deg=1 rx_ids=1 ", "no DRUG_GENDER result, sev_deg 1 (明确违规), on rx_id 1")
elif name == "curl-3103":
    need(r"^/nhsa/3101 infcode: 0$", "3101 did not answer infcode 0")
    need(r"^3103 warn_rslt_id=\S+ sev_deg=1 dspo_way=2$", "the BLOCK result was not answered 返回修改 (dspo_way 2)")
    need(r"^/nhsa/3103 infcode: 0$", "3103 did not answer infcode 0")
elif name == "curl-cds-hooks":
    need(r"^services: (\S+,)*rxguard-order-sign(,\S+)*$", "discovery does not list rxguard-order-sign")
    need(r"^card \S+: critical ", "no critical card (the DRUG_GENDER BLOCK)")
    need(r"^feedback: accepted card=\S+$", "no feedback accepted for the critical card")
else:
    sys.exit(f"assert: unknown HTTP client {name}")
PY
}

# run NAME COMMAND...: run one client, assert what it printed on stdout;
# on failure show its stdout and stderr and why.
passed=0 failed=0
run() {
  local name="$1" t0 out="$work/$1.out" err="$work/$1.err" why="" rc=0
  shift
  t0="$(now)"
  (cd "$here" && timeout 60 "$@") >"$out" 2>"$err" || rc=$?
  if [ "$rc" != 0 ]; then
    why="exited with status $rc"
  elif ! why="$(case "$name" in curl-*) assert_http "$name" "$out" ;; *) assert_grpc "$out" ;; esac 2>&1)"; then
    why="${why:-its output does not match}"
  else
    why=""
  fi
  if [ -z "$why" ]; then
    passed=$((passed + 1))
    echo "clients: ok   $name ($(took "$t0"))"
  else
    failed=$((failed + 1))
    echo "clients: FAIL $name ($(took "$t0")): $why"
    echo "  --- stdout"; sed 's/^/    /' "$out"
    echo "  --- stderr"; sed 's/^/    /' "$err"
  fi
}

for c in "${GRPC_CLIENTS[@]}"; do
  case "$c" in
    go) run go "$work/go-client" "$prescription" ;;
    python) run python env PYTHONPATH="$work/py" "$py" python/client.py "$prescription" ;;
    node) run node node node/client.js "$prescription" ;;
    grpcurl) run grpcurl env GRPCURL="$bin/grpcurl" bash grpcurl/client.sh "$prescription" ;;
  esac
done
for c in "${HTTP_CLIENTS[@]}"; do
  case "$c" in
    curl-3101) run curl-3101 bash curl/3101.sh curl/3101.json ;;
    curl-3103) run curl-3103 bash curl/3103.sh curl/3101.json ;;
    curl-cds-hooks) run curl-cds-hooks bash curl/cds-hooks.sh curl/order-sign.json ;;
    *) fail "unknown HTTP client '$c' in HTTP_CLIENTS (curl-3101, curl-3103, curl-cds-hooks)" ;;
  esac
done
[ ${#HTTP_CLIENTS[@]} -gt 0 ] || echo "clients: curl scripts not run (RXGUARD_HTTP_CLIENTS is empty)"

kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; fail "rxguard serve died during the clients (log above)"; }
stop || { rc=$?; cat "$work/serve.log"; fail "rxguard serve exited with status $rc on SIGTERM (log above)"; }
echo "clients: $passed passed, $failed failed"
[ "$failed" = 0 ] || { echo "--- server log"; cat "$work/serve.log"; exit 1; }

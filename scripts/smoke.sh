#!/usr/bin/env bash
# Smoke test of the README's first command and its grpcurl example, with real
# processes: `rxguard serve` with no arguments in an empty directory builds the
# embedded demo release into ./data and listens on the default ports; the
# grpcurl client example must get a BLOCK with a DRUG_GENDER finding, and the
# admission example (examples/readmission.json) a WARN with READMISSION. Then a
# restart must serve the persisted release.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
work="$(mktemp -d)"
pid=""
# Wait for the server before removing its directory: Badger retries a
# flush into a vanished directory forever, and the process would linger.
cleanup() {
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "smoke: FAIL: $*"; echo "--- server log"; cat "$work/serve.log" 2>/dev/null || true; exit 1; }

for port in 7600 7601; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "port $port is already in use; stop the running rxguard first"
  fi
done

# http_get PATH: GET from the sidecar's HTTP port with bash alone (no curl on
# a bare machine); prints the body, fails unless the status is 200.
http_get() {
  local resp
  exec 3<>/dev/tcp/127.0.0.1/7601 || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
  resp="$(cat <&3)"
  exec 3>&-
  [[ "$resp" == "HTTP/1.0 200"* || "$resp" == "HTTP/1.1 200"* ]] || return 1
  printf '%s' "${resp#*$'\r\n\r\n'}"
}

start() {
  (cd "$work" && exec "$bin/rxguard" serve) >>"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    if http_get /readyz >"$work/ready.json" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || fail "rxguard serve exited"
    sleep 0.2
  done
  fail "rxguard serve not ready after 20 s"
}

stop() {
  kill -TERM "$pid"
  wait "$pid" || fail "rxguard serve exited with an error on SIGTERM"
  pid=""
}

start
version="$(sed -E 's/.*"knowledge_version":"([^"]+)".*/\1/' "$work/ready.json")"
[[ "$version" == demo-* ]] || fail "readyz knowledge_version is '$version'"

out="$(GRPCURL="$bin/grpcurl" "$root/client-examples/grpcurl/check.sh" "$root/examples/male-aifu-nuangong.json")"
[[ "$out" == *'"verdict": "VERDICT_BLOCK"'* ]] || fail "no VERDICT_BLOCK: $out"
[[ "$out" == *'"ruleType": "DRUG_GENDER"'* ]] || fail "no DRUG_GENDER finding: $out"
# An admission (住院登记, no order lines) 10 days after a discharge with the
# same ICD-10 category: READMISSION (分解住院) WARN from the demo release.
out="$(GRPCURL="$bin/grpcurl" "$root/client-examples/grpcurl/check.sh" "$root/examples/readmission.json")"
[[ "$out" == *'"verdict": "VERDICT_WARN"'* ]] || fail "readmission example: no VERDICT_WARN: $out"
[[ "$out" == *'"ruleType": "READMISSION"'* ]] || fail "readmission example: no READMISSION finding: $out"
# Outputs are captured before matching: `cmd | grep -q` under pipefail
# fails when grep exits first and cmd gets SIGPIPE writing the rest.
out="$("$bin/grpcurl" -plaintext 127.0.0.1:7600 grpc.health.v1.Health/Check)" || fail "health check failed"
[[ "$out" == *SERVING* ]] || fail "health not SERVING: $out"
out="$("$bin/grpcurl" -plaintext 127.0.0.1:7600 list)" || fail "reflection list failed"
[[ "$out" == *rxguard.v1.GuardService* ]] || fail "reflection does not list the service: $out"
out="$("$bin/rxguard" check "$root/examples/male-aifu-nuangong.json")" || fail "rxguard check exited non-zero: $out"
[[ "$out" == *DRUG_GENDER* ]] || fail "rxguard check: no DRUG_GENDER: $out"
stop

# A restart serves the persisted release, without rebuilding it.
start
grep -q "\"knowledge_version\":\"$version\"" "$work/ready.json" || fail "restart serves $(cat "$work/ready.json"), want $version"
grep -q "serving persisted release" "$work/serve.log" || fail "restart rebuilt the release"
stop
echo "smoke: ok (README grpcurl example → VERDICT_BLOCK DRUG_GENDER, readmission example → VERDICT_WARN READMISSION on $version; restart served the persisted release)"

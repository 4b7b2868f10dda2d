#!/usr/bin/env bash
# Send a CheckOrdersRequest (protojson file) to a running rxguard with grpcurl.
# Usage: check.sh [order.json] [address]
# grpcurl discovers the API through server reflection: no .proto files needed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
order="${1:-$here/../../examples/male-aifu-nuangong.json}"
addr="${2:-${RXGUARD_ADDR:-127.0.0.1:7600}}"
grpcurl="${GRPCURL:-grpcurl}"
exec "$grpcurl" -plaintext -d @ "$addr" rxguard.v1.GuardService/CheckOrders < "$order"

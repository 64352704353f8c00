#!/usr/bin/env bash
# Runs tikv/client-go's own client against cmd/mocktikv: four fresh mocks
# (API v1, v1ttl, v2 with keyspace ks1, v1 with raw regions split), the
# smoke suite in this directory, then stops the mocks.
#
# The Go module proxy serves client-go only up to v2.0.7, older than the
# kvproto this suite speaks, so the suite runs against a client-go source
# tree: CLIENT_GO_DIR names it (go.mod pins the commit the suite was
# written for, b75f6efa8ddd of 2026-08-07). The replace goes into a
# temporary copy of go.mod, leaving the tree clean.
#
#   CLIENT_GO_DIR=/path/to/client-go make test-clientgo [ARGS='-run TestTxn']
set -euo pipefail
cd "$(dirname "$0")"
: "${CLIENT_GO_DIR:?set CLIENT_GO_DIR to a client-go source tree (github.com/tikv/client-go/v2)}"
tmp=$(mktemp -d)
pids=()
cleanup() {
	if ((${#pids[@]})); then kill "${pids[@]}" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

(cd ../.. && go build -o "$tmp/mocktikv" ./cmd/mocktikv)
cp go.mod "$tmp/go.mod"
cp go.sum "$tmp/go.sum"
go mod edit -modfile="$tmp/go.mod" -replace="github.com/tikv/client-go/v2=$CLIENT_GO_DIR"

start() { # name, then mocktikv flags
	local name=$1
	shift
	"$tmp/mocktikv" "$@" >"$tmp/$name.out" 2>&1 &
	pids+=($!)
}
start v1 -stores 3
start ttl -stores 3 -api-version v1ttl
start v2 -stores 3 -api-version v2 -keyspace ks1
start rawsplit -stores 3 -split rs3,rs6
pd() { # the PD address a mock printed
	for _ in $(seq 50); do
		if a=$(awk '/^pd /{print $2; exit}' "$tmp/$1.out") && [ -n "$a" ]; then
			echo "$a"
			return
		fi
		sleep 0.1
	done
	echo "mock $1 printed no PD address" >&2
	cat "$tmp/$1.out" >&2
	exit 1
}
MOCK_PD=$(pd v1) MOCK_PD_TTL=$(pd ttl) MOCK_PD_V2=$(pd v2) MOCK_KEYSPACE=ks1 MOCK_PD_RAWSPLIT=$(pd rawsplit)
export MOCK_PD MOCK_PD_TTL MOCK_PD_V2 MOCK_KEYSPACE MOCK_PD_RAWSPLIT
go test -modfile="$tmp/go.mod" -count=1 -timeout 300s "$@" ./...

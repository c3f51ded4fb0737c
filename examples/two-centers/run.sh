#!/usr/bin/env bash
# examples/two-centers/run.sh: the README's walk-through, unattended.
#
# Builds bulwark and the example backend into a temp directory, starts five backends and the
# two gateways on 127.0.0.1 (the ports of sz.yaml and sh.yaml), runs the curl checks of
# README.md, prints ok/FAIL for each, and stops everything it started (also on Ctrl-C or an
# error). Every wait is bounded. Exit status: 0 when every check passed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
ROOT=$(cd ../.. && pwd)

command -v curl >/dev/null 2>&1 || { echo "run.sh: needs curl (apt-get install -y curl)" >&2; exit 1; }
command -v go >/dev/null 2>&1 || { echo "run.sh: needs go on PATH" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/two-centers.XXXXXX")
STARTED=() # PIDs of the processes this script started, and nothing else
declare -A PID

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local pid i alive
	for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for ((i = 0; i < 50; i++)); do # up to 5 s to drain
		alive=0
		for pid in "${STARTED[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for pid in "${STARTED[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ ${KEEP_LOGS:-0} == 1 ]]; then
		echo "logs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for port in 7001 7002 7003 7101 7102 8080 8081 9901 9902; do
	if [[ -n $(ss -Htln "sport = :$port" 2>/dev/null) ]]; then
		echo "run.sh: port $port is in use; stop what uses it first" >&2
		exit 1
	fi
done

echo "== building bulwark and the backend into $TMP"
(cd "$ROOT" && go build -o "$TMP/bulwark" ./cmd/bulwark && go build -o "$TMP/backend" ./examples/two-centers/backend)

# start NAME CMD...: runs CMD in the background, output in $TMP/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$TMP/$name.log" 2>&1 &
	PID[$name]=$!
	STARTED+=("$!")
}

# wait_ok NAME URL: polls URL until it answers 200, for up to 10 s.
wait_ok() {
	local i
	for ((i = 0; i < 100; i++)); do
		curl -fsS -o /dev/null --max-time 1 "$2" 2>/dev/null && return 0
		kill -0 "${PID[$1]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "run.sh: $1 is not answering $2" >&2
	tail -n 20 "$TMP/$1.log" >&2 || true
	exit 1
}

echo "== starting 5 backends and 2 gateways"
for b in sz-a:7001 sz-b:7002 sz-orders:7003 sh-a:7101 sh-b:7102; do
	start "${b%%:*}" "$TMP/backend" -name "${b%%:*}" -listen "127.0.0.1:${b#*:}"
done
start gw-sz "$TMP/bulwark" gateway -c "$HERE/sz.yaml"
start gw-sh "$TMP/bulwark" gateway -c "$HERE/sh.yaml"
for b in sz-a:7001 sz-b:7002 sz-orders:7003 sh-a:7101 sh-b:7102; do
	wait_ok "${b%%:*}" "http://127.0.0.1:${b#*:}/healthz"
done
wait_ok gw-sz http://127.0.0.1:8080/api/songs
wait_ok gw-sh http://127.0.0.1:8081/api/songs

failures=0
pass() { echo "ok    $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }

# req ARGS...: curl with a bound; prints "STATUS CENTER BACKEND" from the response.
req() {
	local h
	h=$(curl -sS -o /dev/null -D - --max-time 3 "$@" 2>/dev/null | tr -d '\r') || true
	awk '
		NR == 1 || /^HTTP\// { status = $2 }
		tolower($1) == "bulwark-center:" { center = $2 }
		tolower($1) == "x-backend:" { backend = $2 }
		END { printf "%s %s %s\n", (status ? status : "none"), (center ? center : "-"), (backend ? backend : "-") }
	' <<<"$h"
}

# expect DESCRIPTION WANT ARGS...: WANT is a pattern for "STATUS CENTER BACKEND".
expect() {
	local what=$1 want=$2 got
	shift 2
	got=$(req "$@")
	# shellcheck disable=SC2053 # $want is a glob pattern on purpose
	if [[ $got == $want ]]; then pass "$what: $got"; else fail "$what: got '$got', want '$want'"; fi
}

echo "== reads are served in the center the client reached"
expect "GET sz /api/songs" "200 sz sz-[ab]" http://127.0.0.1:8080/api/songs
expect "GET sh /api/songs" "200 sh sh-[ab]" http://127.0.0.1:8081/api/songs

echo "== a write that reaches sh is served by sz's orders backend"
expect "POST sh /api/orders" "201 sh sz-orders" -X POST -H 'X-User-Id: u1' -d '{"song":2}' http://127.0.0.1:8081/api/orders
expect "POST sz /api/orders" "201 sz sz-orders" -X POST -H 'X-User-Id: u1' -d '{"song":3}' http://127.0.0.1:8080/api/orders

echo "== entry rules"
expect "blocked User-Agent" "403 sz *" -A 'BadBot/1.0' http://127.0.0.1:8080/api/songs
limited=0
for i in 1 2 3 4 5 6 7 8; do
	read -r status _ < <(req -X POST -H 'X-User-Id: u2' -d "{\"n\":$i}" http://127.0.0.1:8080/api/orders)
	[[ $status == 429 ]] && limited=$((limited + 1))
done
if ((limited > 0)); then pass "frequency limit: $limited of 8 quick orders by one user got 429"; else fail "frequency limit: no 429 in 8 quick orders by one user"; fi

echo "== failover: stop sz's songs backends; reads through sz are served by sh"
for b in sz-a sz-b; do kill -TERM "${PID[$b]}"; done
# The retry window allows 1 failover in the first second (SEEDS.md A2); sh's credit opens it
# from the next period on. Wait up to 10 s for 10 reads in a row to be served by sh.
got="" in_row=0 refused=0 first_ok=""
for ((i = 0; i < 200 && in_row < 10; i++)); do
	got=$(req http://127.0.0.1:8080/api/songs)
	if [[ $got == "200 sz sh-"* ]]; then
		in_row=$((in_row + 1))
		[[ -n $first_ok ]] || first_ok="read $((i + 1))"
	else
		in_row=0 refused=$((refused + 1))
		sleep 0.05
	fi
done
if ((in_row >= 10)); then
	pass "GET sz /api/songs after the kill: $got (first failover: $first_ok; $refused read(s) refused while the window opened)"
else
	fail "GET sz /api/songs after the kill: got '$got', want '200 sz sh-*' 10 times in a row"
fi
metrics=$(curl -s --max-time 3 http://127.0.0.1:9901/metrics || true)
if grep -q 'bulwark_failovers_total{.*result="ok"' <<<"$metrics"; then
	pass "sz's /metrics counts the failovers (bulwark_failovers_total, result=ok)"
else
	fail "sz's /metrics has no bulwark_failovers_total with result=ok"
fi

echo "== bulwark check"
if "$TMP/bulwark" check -c "$HERE/sz.yaml" >/dev/null; then pass "bulwark check -c sz.yaml exits 0"; else fail "bulwark check -c sz.yaml"; fi
if "$TMP/bulwark" check -c "$HERE/sh.yaml" >/dev/null; then pass "bulwark check -c sh.yaml exits 0"; else fail "bulwark check -c sh.yaml"; fi

echo
if ((failures > 0)); then
	echo "$failures check(s) FAILED (KEEP_LOGS=1 keeps the logs)"
	exit 1
fi
echo "all checks passed"

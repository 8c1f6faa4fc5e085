#!/bin/sh
# `make demo`: a station on simulated hardware, in the foreground.
#
# rack-sim plays a 4-slot rack (the real slot firmware, on a pty, paced at
# 19200 baud, running tools/rack-sim/scenarios/swap.jsonl); swapd polls it
# as it would a real RS-485 bus, and verifies tokens with keys made fresh
# for this demo. Everything lives under build/demo. A rider comes at once:
# a walk-in ticket is issued and scanned at the kiosk (as `swapctl scan`),
# the station opens slot 4 for the flat battery and then slot 1, and the
# scenario's rider returns and takes them; swapd's log shows each stage.
# From another shell:
#
#   build/bin/swapctl -s build/demo/control.sock status
#   build/bin/swapctl -s build/demo/control.sock swaps
#   build/bin/swapctl -s build/demo/control.sock batteries
#   build/bin/swapctl -s build/demo/control.sock slots
#   build/bin/swapctl -s build/demo/control.sock --json ticket
#
# Ctrl-C stops both.
set -eu
cd "$(dirname "$0")/.."
build="${SWAPD_BUILD:-build}"
demo="$(pwd)/build/demo"
rm -rf "$demo"
mkdir -p "$demo"

# Demo keys: random, never the public test keys of the token contract.
umask 077
cat > "$demo/keys.json" <<JSON
{ "keys": [ { "kid": "demo1", "secret": "$(head -c 32 /dev/urandom | base64)" } ] }
JSON
umask 022

cat > "$demo/swapd.json" <<JSON
{
  "_comment": "written by tools/demo.sh",
  "station": { "id": "ST-DEMO-001", "name": "demo station" },
  "log": { "level": "info" },
  "control": { "socket": "$demo/control.sock", "admin_group": "" },
  "store": { "path": "$demo/swapd.db" },
  "rack": {
    "_comment": "a pty has no parity bit: none, where a real RS-485 line is even",
    "device": "$demo/bus", "baud": 19200, "parity": "none",
    "profile": "$(pwd)/config/profiles/swapd-slot-v1.json",
    "slots": [ { "slot": 1, "unit": 1 }, { "slot": 2, "unit": 2 },
               { "slot": 3, "unit": 3 }, { "slot": 4, "unit": 4 } ]
  },
  "tokens": { "keys": "$demo/keys.json", "walkin_kid": "demo1" }
}
JSON

"$build/bin/rack-sim" --slots 4 --link "$demo/bus" --baud 19200 \
	--control "$demo/sim.sock" --scenario tools/rack-sim/scenarios/swap.jsonl \
	> "$demo/rack-sim.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null' EXIT INT TERM
# rack-sim prints one line when its pty is there
while ! grep -q '^rack-sim: ready' "$demo/rack-sim.log"; do
	kill -0 $sim 2>/dev/null || { cat "$demo/rack-sim.log"; exit 1; }
	sleep 0.1
done

# The rider: a walk-in ticket scanned at the kiosk before the scenario's
# rider steps up to slot 4 (20 s into it), once the rack has been read.
(
	i=0
	while [ ! -S "$demo/control.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	sleep 6
	tok=$("$build/bin/swapctl" -s "$demo/control.sock" ticket demo-rider |
		sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
	echo "swapd demo: a rider scans $tok"
	"$build/bin/swapctl" -s "$demo/control.sock" scan "$tok" >/dev/null
) &

echo "swapd demo: state in $demo; rack-sim log in $demo/rack-sim.log"
echo "swapd demo: try  $build/bin/swapctl -s $demo/control.sock slots   (Ctrl-C here stops)"
"$build/bin/swapd" -c "$demo/swapd.json"

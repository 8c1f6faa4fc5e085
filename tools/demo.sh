#!/bin/sh
# `make demo`: a station on simulated hardware, in the foreground.
#
# rack-sim plays a 4-slot rack (the real slot firmware, on a pty, paced at
# 19200 baud, running tools/rack-sim/scenarios/swap.jsonl); swapd polls it
# as it would a real RS-485 bus, and verifies tokens with keys made fresh
# for this demo. Everything lives under build/demo. From another shell:
#
#   build/bin/swapctl -s build/demo/control.sock status
#   build/bin/swapctl -s build/demo/control.sock slots
#   build/bin/swapctl -s build/demo/control.sock unlock 4
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

echo "swapd demo: state in $demo; rack-sim log in $demo/rack-sim.log"
echo "swapd demo: try  $build/bin/swapctl -s $demo/control.sock slots   (Ctrl-C here stops)"
"$build/bin/swapd" -c "$demo/swapd.json"

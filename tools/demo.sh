#!/bin/sh
# `make demo`: a station on simulated hardware, in the foreground.
#
# rack-sim plays a 6-slot rack (the real slot firmware, on a pty, paced at
# 19200 baud, running tools/rack-sim/scenarios/swap.jsonl); swapd polls it
# as it would a real RS-485 bus, and verifies tokens with keys made fresh
# for this demo. Everything lives under build/demo. The kiosk page is on
# the URL printed first. tools/demo_riders.py owns the kiosk scanner's pty
# and brings the riders: the first scans an S token as soon as the rack is
# read, the station opens slot 4 for the flat battery and then slot 1, and
# the scenario's rider returns and takes them; a second rider leaves the
# door open after taking a battery (the door alarm, then it closes); a
# walk-in joins the queue at the kiosk (kiosk-join) and scans its ticket.
# When mosquitto is installed the demo runs its own broker on a loopback
# port and prints the mosquitto_sub command that shows what the fleet
# receives. From another shell:
#
#   build/bin/swapctl -s build/demo/control.sock kiosk
#   build/bin/swapctl -s build/demo/control.sock swaps
#   build/bin/swapctl -s build/demo/control.sock slots
#
# Ctrl-C stops everything it started.
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

# Free loopback ports for the page and the broker (the kernel picks them).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
station=ST-DEMO-001
pids=""
stop_all() {
	trap - EXIT INT TERM
	# shellcheck disable=SC2086
	[ -n "$pids" ] && kill $pids 2>/dev/null
	wait
}
trap stop_all EXIT
trap 'exit 130' INT TERM

"$build/bin/rack-sim" --slots 6 --link "$demo/bus" --baud 19200 \
	--control "$demo/sim.sock" --scenario tools/rack-sim/scenarios/swap.jsonl \
	> "$demo/rack-sim.log" 2>&1 &
sim=$!
pids="$pids $sim"
# rack-sim prints one line when its pty is there
while ! grep -q '^rack-sim: ready' "$demo/rack-sim.log"; do
	kill -0 $sim 2>/dev/null || { cat "$demo/rack-sim.log"; exit 1; }
	sleep 0.1
done

python3 tools/demo_riders.py "$demo" "$build" "$station" &
pids="$pids $!"
while [ ! -e "$demo/scanner" ]; do sleep 0.1; done

sync_section=""
mosquitto=$(command -v mosquitto || ([ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto) || true)
if [ -n "$mosquitto" ]; then
	mqtt_port=$(free_port)
	printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$mqtt_port" > "$demo/mosquitto.conf"
	"$mosquitto" -c "$demo/mosquitto.conf" > "$demo/mosquitto.log" 2>&1 &
	pids="$pids $!"
	sync_section=", \"sync\": { \"host\": \"127.0.0.1\", \"port\": $mqtt_port }"
fi
kiosk_port=$(free_port)

cat > "$demo/swapd.json" <<JSON
{
  "_comment": "written by tools/demo.sh",
  "station": { "id": "$station", "name": "demo station" },
  "log": { "level": "info" },
  "control": { "socket": "$demo/control.sock", "admin_group": "" },
  "store": { "path": "$demo/swapd.db" },
  "rack": {
    "_comment": "a pty has no parity bit: none, where a real RS-485 line is even",
    "device": "$demo/bus", "baud": 19200, "parity": "none",
    "profile": "$(pwd)/config/profiles/swapd-slot-v1.json",
    "slots": [ { "slot": 1, "unit": 1 }, { "slot": 2, "unit": 2 },
               { "slot": 3, "unit": 3 }, { "slot": 4, "unit": 4 },
               { "slot": 5, "unit": 5 }, { "slot": 6, "unit": 6 } ]
  },
  "tokens": { "keys": "$demo/keys.json", "walkin_kid": "demo1" },
  "scanner": { "backend": "tty", "device": "$(cat "$demo/scanner")" },
  "swap": { "door_close_timeout_s": 10 },
  "kiosk": { "listen": "127.0.0.1", "port": $kiosk_port, "assets": "$(pwd)/daemon/kiosk" }$sync_section
}
JSON

echo "swapd demo: the kiosk page: http://127.0.0.1:$kiosk_port/"
[ -n "$mosquitto" ] &&
	echo "swapd demo: what the fleet receives: mosquitto_sub -h 127.0.0.1 -p $mqtt_port -t 'swap/v1/$station/#' -v"
echo "swapd demo: state in $demo; rack-sim log in $demo/rack-sim.log"
echo "swapd demo: try  $build/bin/swapctl -s $demo/control.sock kiosk   (Ctrl-C here stops)"
"$build/bin/swapd" -c "$demo/swapd.json" &
swapd=$!
pids="$pids $swapd"
wait $swapd

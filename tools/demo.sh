#!/bin/sh
# `make demo`: runs a station on simulated hardware in the foreground, with
# everything (config, database, control socket) under build/demo. Another
# shell can then talk to it:  build/bin/swapctl -s build/demo/control.sock status
# Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
build="${SWAPD_BUILD:-build}"
demo="$(pwd)/build/demo"
mkdir -p "$demo"
cat > "$demo/swapd.json" <<JSON
{
  "_comment": "written by tools/demo.sh",
  "station": { "id": "ST-DEMO-001", "name": "demo station" },
  "log": { "level": "info" },
  "control": { "socket": "$demo/control.sock", "admin_group": "" },
  "store": { "path": "$demo/swapd.db" }
}
JSON
echo "swapd demo: state in $demo"
echo "swapd demo: try  $build/bin/swapctl -s $demo/control.sock status   (Ctrl-C here stops)"
exec "$build/bin/swapd" -c "$demo/swapd.json"

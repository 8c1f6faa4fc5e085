#!/usr/bin/python3
"""The riders of `make demo` (tools/demo.sh): owns the kiosk scanner's pty
and brings, one after the other, what a person watching the kiosk should
see: a swap (rack-sim's scenario is that rider's hands), a rider who leaves
a door open (the alarm, then the door closed), and a walk-in who joins the
queue at the kiosk and scans the ticket's token.

    demo_riders.py DEMO_DIR BUILD_DIR STATION_ID

Writes the scanner pty's name to DEMO_DIR/scanner, then waits for swapd's
control socket there. Tokens are signed with DEMO_DIR/keys.json (kid demo1)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

demo, build, station = sys.argv[1:4]
# Ctrl-C reaches the whole process group: the riders just leave
signal.signal(signal.SIGINT, lambda *_: os._exit(0))
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))


def say(what):
    print(f"swapd demo: {what}", flush=True)


def call(path, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall((json.dumps(req) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf)


def swapd(cmd, **args):
    return call(f"{demo}/control.sock", {"cmd": cmd, "args": args})


def rider(op, **args):
    return call(f"{demo}/sim.sock", dict(op=op, **args))


def until(pred, pace=0.5):
    while True:
        try:
            v = pred()
        except (OSError, ValueError):
            v = None
        if v:
            return v
        time.sleep(pace)


def token(subject):
    return subprocess.run([f"{build}/bin/swaptoken", "issue", "--keys", f"{demo}/keys.json",
                           "--kid", "demo1", "--kind", "S", "--station", station,
                           "--subject", subject, "--ttl", "3600"],
                          capture_output=True, text=True, check=True).stdout.strip()


def in_progress():
    return swapd("swaps")["result"]["in_progress"]


def completed():
    return sum(1 for w in swapd("swaps")["result"]["recent"] if w.get("result") == "completed")


master, slave = os.openpty()
with open(f"{demo}/scanner.tmp", "w") as f:
    f.write(os.ttyname(slave))
os.rename(f"{demo}/scanner.tmp", f"{demo}/scanner")


def scan(who, tok):
    say(f"{who} scans a token at the kiosk")
    os.write(master, tok.encode() + b"\r\n")


# every slot read and a charged battery known: the swap flow can pick
until(lambda: (lambda states: "offline" not in states and "charged" in states)(
    [s["state"] for s in swapd("slots")["result"]["slots"]]))

# 1. a swap: the scenario's rider returns a flat battery at 20 s, takes one at 40 s
scan("rider-1", token("rider-1"))
until(lambda: completed() >= 1)
say("rider-1 swapped")

# 2. a rider who leaves the door open after taking the charged battery: a
# transporter first brings one to slot 5 (charging takes hours, not a demo)
rider("insert", slot=5, battery="0xA005", soc=98, cycles=40, force=True)
until(lambda: swapd("slots")["result"]["slots"][4]["state"] == "charged")
scan("rider-2", token("rider-2"))
w = until(lambda: [w for w in in_progress() if w["stage"] == "wait_insert"])[0]
until(lambda: rider("return", slot=w["slot_in"], battery="0xC0DE02", soc=15, dwell=3)["ok"])
w = until(lambda: [x for x in in_progress() if x["stage"] == "wait_take"])[0]
say(f"rider-2 takes the battery from slot {w['slot_out']} and walks away, door open")
until(lambda: rider("take", slot=w["slot_out"], dwell=25)["ok"])
until(lambda: completed() >= 2)
say("rider-2 swapped; slot 5 alarms until its door closes")

# 3. a walk-in: joins the queue at the kiosk, then scans the ticket. The
# page's "Join the queue" button shows its QR only to the screen that was
# pressed (kiosk-join gives an SVG, not the token), so the demo's walk-in
# gets theirs as staff would print it for them: the same ticket, by `ticket`.
r = swapd("ticket")
if r.get("ok"):
    place = r["result"].get("queue") or {}
    say(f"a walk-in joins the queue: ticket {place.get('ticket')}")
    scan("the walk-in", r["result"]["token"])
else:
    say(f"ticket: {r.get('error')}: {r.get('message')}")
while True:
    time.sleep(3600)

"""Fleet sync's numbers (issue 11; `make bench`), on the real swapd and a
local mosquitto the bench starts on a free loopback port:

1. Drain: a backlog of N events (100,000 by default) is written straight
   into a stopped swapd's outbox with sqlite3, payloads the size of a
   swap.completed; swapd starts with `sync.inflight` W and the time from
   ready to an empty outbox gives events/s. In the same run mosquitto_pub
   sends N messages of the same size at QoS 1 (`-l`, its own window of 20)
   to the same broker: the ratio says what the store (a read per window
   refill, a delete transaction per loop round, each an fsync) costs over
   the bare protocol. swapd's VmRSS is sampled during the drain.
2. Live path: rack-sim inserts a battery whose state of health is under
   ledger.quarantine_soh; the ledger quarantines it, which writes
   battery.quarantined to the outbox; the time from the rack-sim verb to
   mosquitto_sub receiving that event, median and p99, over M changes. It
   includes the rack poll (rack.poll_interval_ms 20 here).

Bounded: each drain stops after BENCH_SYNC_DRAIN_S (120 s) and reports
what drained by then. Sizes: BENCH_SYNC_EVENTS, BENCH_SYNC_CHANGES."""
import getpass
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from conftest import ROOT, read_line  # noqa: E402
from swapd_fixture import Daemon, RackSim, rack_config, wait_until  # noqa: E402

N = int(os.environ.get("BENCH_SYNC_EVENTS", "100000"))
CHANGES = int(os.environ.get("BENCH_SYNC_CHANGES", "50"))
DRAIN_S = float(os.environ.get("BENCH_SYNC_DRAIN_S", "120"))
WINDOWS = (20, 100, 500)
SID = "ST-TEST-1"
PROFILE = os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")

# a swap.completed as the swap flow stores it (mqtt.md's fields)
PAYLOAD = json.dumps({"swap": 123456, "user": "u-00001234", "battery_in": "BAT-00042",
                      "battery_out": "BAT-00043", "soc_in": 18.5, "soc_out": 96.0,
                      "soh_in": 91.2, "duration_s": 74, "ticket": 123456,
                      "slot_in": 3, "slot_out": 7}, separators=(",", ":"))
BOOT = "0123456789abcdef0123456789abcdef"


def message(seq):
    """The event as swapd publishes it (common fields, then the payload)."""
    head = json.dumps({"seq": seq, "id": f"{SID}:{seq}", "type": "swap.completed",
                       "ts": "2026-11-22T10:15:00.123Z", "boot": BOOT}, separators=(",", ":"))
    return head[:-1] + "," + PAYLOAD[1:]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(tmp):
    port = free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                f"user {getpass.getuser()}\n")
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", conf], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False
    wait_until(up, 10, "mosquitto listening")
    return proc, port


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def drain(tmp, port, window):
    d = Daemon(tmp)
    cfg = d.default_config()
    d.write_config(cfg)
    d.start()
    d.stop()
    with sqlite3.connect(d.db) as db:
        db.executemany("INSERT INTO outbox (type, ts, boot, payload) VALUES (?, ?, ?, ?)",
                       (("swap.completed", 1795000000000 + i, BOOT, PAYLOAD) for i in range(N)))
    cfg["sync"] = {"host": "127.0.0.1", "port": port, "inflight": window,
                   "backoff_min_ms": 100, "backoff_max_ms": 500}
    d.write_config(cfg)
    try:
        d.start()
        t0 = time.monotonic()
        base = peak = rss_kb(d.proc.pid)
        left = N
        while time.monotonic() - t0 < DRAIN_S:
            peak = max(peak, rss_kb(d.proc.pid))
            left = d.request("sync")["result"]["outbox"]
            if left == 0:
                break
            time.sleep(0.02)
        took = time.monotonic() - t0
        done = N + 1 - left  # and the start's own station.started
        assert d.stop()[0] == 0
        return done / took, done, took, base, peak
    finally:
        d.close()


def mosquitto_pub_rate(tmp, port):
    path = os.path.join(tmp, "messages")
    with open(path, "w") as f:
        for i in range(1, N + 1):
            f.write(message(i) + "\n")
    t0 = time.monotonic()
    with open(path) as f:
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                        "-t", f"swap/v1/{SID}/bench", "-l"], stdin=f, check=True,
                       timeout=DRAIN_S * 2)
    return N / (time.monotonic() - t0)


class Sub:
    """mosquitto_sub on the event topic; (receive time, payload) per message."""

    def __init__(self, port):
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
             "-d", "-t", f"swap/v1/{SID}/event"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.msgs = []
        self.subscribed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.subscribed.wait(10), "mosquitto_sub did not subscribe"

    def _read(self):
        while True:
            line = read_line(self.proc.stdout, 3600)
            if line is None:
                return
            if "received SUBACK" in line:
                self.subscribed.set()
            elif line.startswith("{"):
                self.msgs.append((time.monotonic(), json.loads(line)))

    def close(self):
        self.proc.kill()
        self.proc.wait()


def live_path(tmp, port):
    sim = RackSim(tmp, slots=2).start()
    d = Daemon(tmp)
    cfg = rack_config(d, sim, PROFILE, slots=2, poll_interval_ms=20)
    cfg["sync"] = {"host": "127.0.0.1", "port": port, "backoff_min_ms": 100,
                   "backoff_max_ms": 500}
    d.write_config(cfg)
    sub = Sub(port)
    lat = []
    try:
        d.start()
        wait_until(lambda: d.request("sync")["result"]["outbox"] == 0, 10, "the start's event")
        for k in range(CHANGES):
            bat = f"BAT-{0xB000 + k:05d}"
            t0 = time.monotonic()
            sim.op("insert", slot=1, battery=hex(0xB000 + k), soc=50, soh=60, force=True)

            def seen():
                return [t for (t, e) in sub.msgs
                        if e["type"] == "battery.quarantined" and e["battery"] == bat]
            wait_until(seen, 10, f"{bat} quarantined")
            lat.append((seen()[0] - t0) * 1000)
            sim.op("remove", slot=1, force=True)
        assert d.stop()[0] == 0
    finally:
        sub.close()
        d.close()
        sim.kill()
    lat.sort()
    return statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))]


def main():
    tmp = tempfile.mkdtemp(prefix="bench_sync.")
    broker, port = start_broker(tmp)
    try:
        size = len(message(N).encode())
        print(f"bench_sync: {N} events of ~{size} bytes to a local mosquitto")
        pub = mosquitto_pub_rate(tmp, port)
        print(f"  mosquitto_pub -q 1 -l (window 20): {pub:9.0f} msg/s")
        for w in WINDOWS:
            wdir = os.path.join(tmp, f"w{w}")
            os.mkdir(wdir)
            rate, done, took, base, peak = drain(wdir, port, w)
            part = "" if done > N else f" (partial: {done} in {took:.0f} s)"
            print(f"  swapd sync.inflight {w:4d}: {rate:9.0f} events/s, "
                  f"ratio to mosquitto_pub {rate / pub:.2f}; VmRSS {base / 1024:.1f} MiB "
                  f"-> peak {peak / 1024:.1f} MiB{part}")
        ldir = os.path.join(tmp, "live")
        os.mkdir(ldir)
        med, p99 = live_path(ldir, port)
        print(f"  live path, slot change -> event received ({CHANGES} changes): "
              f"median {med:.1f} ms, p99 {p99:.1f} ms")
    finally:
        broker.kill()
        broker.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

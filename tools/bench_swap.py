#!/usr/bin/env python3
"""make bench: the swap's own latency and cost (issue 10), on the real swapd
with rack-sim paced at the line speed and the kiosk's scanner on a pty.

- scan-to-unlock: a fresh S token is typed on the scanner pty; t0 is
  CLOCK_MONOTONIC just before the write of its last byte (the CR that ends
  the scan), t1 is rack-sim's `unlocked_at_us` for the slot the swap opened
  for the returned battery (`slot_in` of its swap.started): the moment that
  slot's controller took the unlock write, after the write's own frame and
  t3.5 on the line. Over BENCH_SWAP_SCANS (default 1000) scans at 115200
  and at 19200 baud: median and p99, printed next to the time of one poll
  transaction on the wire at that rate (11 bits a character plus the two
  3.5-character gaps, as bench_rack counts), since the unlock waits at most
  for the transaction in progress. Riders then finish every swap (return a
  full battery, take the one offered), so the slots free up; the batteries
  they carry are full, so the charged stock never runs out.
- software time per swap: swapd's CPU time (utime + stime, /proc/PID/stat)
  over the run, minus its CPU time idle at the same rate over the same wall
  time (measured just before), divided by the swaps completed.

The scanner passes 4 codes a second (drivers/scanner.h, a kiosk's pace),
so 1000 scans take at least 250 s per line speed. Until the swap flow lands
a scan opens nothing: the bench says "swap flow not available" and ends in
seconds. Every wait has a deadline.
"""
import json
import math
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from conftest import bin_path  # noqa: E402
from station import Station  # noqa: E402

SCANS = int(os.environ.get("BENCH_SWAP_SCANS", "1000"))
CONCURRENT = int(os.environ.get("BENCH_SWAP_CONCURRENT", "4"))
DWELL_S = float(os.environ.get("BENCH_SWAP_DWELL_S", "0.3"))  # a rider's door open
IDLE_S = float(os.environ.get("BENCH_SWAP_IDLE_S", "5"))
SLOTS = 12
SCAN_GAP_S = 0.26         # the scanner's 4 lines a second, with a margin
PROBE_S = 5.0             # a scan accepted and no swap by then: no swap flow
SWAP_TIMEOUT_S = 60.0     # one swap that long is given up on (and counted)
FULL = dict(soc=100, soh=98)


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def now_us():
    """CLOCK_MONOTONIC in µs, the clock rack-sim stamps unlocks with."""
    return time.monotonic_ns() / 1000


def line_times(baud):
    """(the fast poll transaction, the health one, the unlock write's own
    frame until the controller takes it) on the wire, in µs: 11 bits
    a character; t3.5 is fixed at 1750 µs above 19200 baud (serial line
    v1.02, 2.5.1.1). The firmware's map is read in two transactions per
    slot: registers 0..4 and 5..19 (drivers/RACK.md)."""
    char = 11e6 / baud
    t35 = 1750 if baud > 19200 else 3.5 * char
    fast = (8 + 3 + 2 * 5 + 2) * char + 2 * t35
    health = (8 + 3 + 2 * 15 + 2) * char + 2 * t35
    return fast, health, 8 * char + t35


def swap_config(st):
    """A swap section allowing CONCURRENT swaps, if this swapd has one
    (swapd -t says); else none."""
    cfg = dict(st.config, swap={"max_concurrent": CONCURRENT})
    path = os.path.join(st.dir, "probe.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    r = subprocess.run([bin_path("swapd"), "-t", "-c", path], capture_output=True, timeout=10)
    return {"swap": cfg["swap"]} if r.returncode == 0 else {}


class Rider:
    """One rider's swap: scanned at t0, then return, take, done."""

    def __init__(self, user, t0, scanned_at):
        self.user, self.t0, self.scanned_at = user, t0, scanned_at
        self.swap = self.slot_in = self.slot_out = None
        self.unlock_us = None
        self.stage = "scanned"  # -> returned -> taken


class Hands:
    """The full batteries riders bring: those taken by earlier riders, or
    new ones."""

    def __init__(self, st):
        self.st, self.pool, self.next_id = st, [], 90001

    def take(self):
        if not self.pool:
            self.st.sim.op("battery", battery=self.next_id, **FULL)
            self.pool.append(self.next_id)
            self.next_id += 1
        return self.pool.pop()

    def give(self, battery):
        self.pool.append(battery)


class Run:
    def __init__(self, st, hands, tokens):
        self.st, self.hands, self.tokens = st, hands, tokens
        self.riders = {}
        self.latencies = []
        self.completed = self.aborted = self.lost = 0
        self.seq = st.last_seq()

    def scan(self, i):
        tok = self.tokens[i]
        os.write(self.st.scanner, tok.encode())
        t0 = now_us()
        os.write(self.st.scanner, b"\r")
        user = tok.split(".")[3]
        self.riders[user] = Rider(user, t0, time.monotonic())

    def events(self):
        """swap.started tells a rider its slots; completed or aborted ends it."""
        for seq, typ, p in self.st.outbox_events(self.seq):
            self.seq = seq
            if typ == "swap.started" and p.get("user") in self.riders:
                r = self.riders[p["user"]]
                r.swap, r.slot_in, r.slot_out = p["swap"], p["slot_in"], p["slot_out"]
            elif typ in ("swap.completed", "swap.aborted"):
                for user, r in list(self.riders.items()):
                    if r.swap is not None and r.swap == p.get("swap"):
                        del self.riders[user]
                        self.completed += typ == "swap.completed"
                        self.aborted += typ == "swap.aborted"

    def riders_act(self):
        """Each rider does the next thing the rack lets it do."""
        waiting = [r for r in self.riders.values() if r.slot_in is not None]
        if not waiting:
            return
        slots = {s["slot"]: s for s in self.st.sim_list()["slots"]}
        for r in waiting:
            s_in, s_out = slots[r.slot_in], slots[r.slot_out]
            if r.unlock_us is None and (s_in["unlocked_at_us"] or 0) >= r.t0:
                r.unlock_us = s_in["unlocked_at_us"]
                self.latencies.append(r.unlock_us - r.t0)
            if r.stage == "scanned" and r.unlock_us is not None and not s_in["lock_closed"]:
                bat = self.hands.take()
                if self.st.rider("return", r.slot_in, False, battery=bat, dwell=DWELL_S,
                                 **FULL)["ok"]:
                    r.stage = "returned"
                else:
                    self.hands.give(bat)
            elif (r.stage == "returned" and (s_out["unlocked_at_us"] or 0) > r.unlock_us and
                  not s_out["lock_closed"] and s_out["battery"] is not None):
                got = self.st.rider("take", r.slot_out, False, dwell=DWELL_S)
                if got["ok"]:
                    self.hands.give(got["battery"])
                    r.stage = "taken"

    def give_up_stuck(self):
        t = time.monotonic()
        for user, r in list(self.riders.items()):
            if t - r.scanned_at > SWAP_TIMEOUT_S:
                del self.riders[user]
                self.lost += 1

    def go(self, deadline, probe=False):
        """Scans at the scanner's pace with at most CONCURRENT swaps in
        flight, until every scan's swap ended. A probe returns False when
        its scan started no swap within PROBE_S (no swap flow)."""
        i, last_scan, first = 0, 0.0, None
        while (i < len(self.tokens) or self.riders) and time.monotonic() < deadline:
            t = time.monotonic()
            if i < len(self.tokens) and len(self.riders) < CONCURRENT and t - last_scan >= SCAN_GAP_S:
                mark = self.st.log_mark()
                self.scan(i)
                if i == 0:
                    first = t
                    line = self.st.wait_log(lambda l: "access: scanner scan: " in l, 10, mark)
                    if not line or "scan: ok" not in line:
                        raise SystemExit(f"bench_swap: the first scan was not accepted: {line}")
                i, last_scan = i + 1, t
            self.events()
            self.riders_act()
            self.give_up_stuck()
            if (probe and not self.latencies and not self.completed and first is not None and
                    time.monotonic() - first > PROBE_S and
                    all(r.slot_in is None for r in self.riders.values())):
                return False
            select.select([], [], [], 0.01)
        self.lost += len(self.riders) + len(self.tokens) - i
        return True


def pct(xs, p):
    return xs[max(0, math.ceil(p * len(xs)) - 1)]


def tokens(st, baud, n):
    """n fresh S tokens from swaptoken, two at a time (25 ms each)."""
    with ThreadPoolExecutor(2) as ex:
        return list(ex.map(lambda i: st.token("S", subject=f"b{baud}-{i}"), range(n)))


def report(baud, run, cpu, wall, idle_rate):
    fast, health, frame = line_times(baud)
    lat = sorted(x / 1000 for x in run.latencies)
    print(f"{baud:>6} baud, {SLOTS} slots, at most {CONCURRENT} swaps at once: {len(run.tokens)} "
          f"scans, {len(lat)} unlocks timed, {run.completed} swaps completed, {run.aborted} "
          f"aborted, {run.lost} given up")
    if lat:
        print(f"{'':>6}       scan-to-unlock: median {statistics.median(lat):.2f} ms, "
              f"p99 {pct(lat, 0.99):.2f} ms, worst {lat[-1]:.2f} ms")
    print(f"{'':>6}       one poll transaction on the wire: {fast / 1000:.2f} ms (registers 0..4), "
          f"{health / 1000:.2f} ms (5..19); the unlock write's own frame and t3.5: "
          f"{frame / 1000:.2f} ms")
    if run.completed:
        per = (cpu - idle_rate * wall) / run.completed
        print(f"{'':>6}       software time per swap: {per * 1000:.2f} ms of swapd CPU "
              f"({cpu:.2f} s over {wall:.0f} s, less {idle_rate * wall:.2f} s idle at the same "
              f"rate, / {run.completed} swaps)")


def run(baud, tmp):
    """One line speed; False when there is no swap flow to measure."""
    batteries = {k: dict(battery=80000 + k, **FULL) for k in range(1, SLOTS // 2 + 1)}
    st = Station(tmp, slots=SLOTS, batteries=batteries, baud=baud,
                 config={"rack": {"poll_interval_ms": 0, "response_timeout_ms": 100}})
    extra = swap_config(st)
    if extra:
        st.config.update(extra)
        st.daemon.write_config(st.config)
    try:
        st.start()
        # the stock first: a battery counts as charged once its health was read
        deadline = time.monotonic() + 20
        while sum(s["state"] == "charged" for s in st.request("slots")["result"]["slots"]) \
                < len(batteries):
            if time.monotonic() > deadline:
                raise SystemExit("bench_swap: the charged stock never showed in `swapctl slots`")
            time.sleep(0.05)
        # one swap first, which is all there is to do without a swap flow
        hands = Hands(st)
        first = Run(st, hands, tokens(st, f"{baud}p", 1))
        if not first.go(time.monotonic() + SWAP_TIMEOUT_S, probe=True):
            print(f"{baud:>6} baud: swap flow not available: a fresh S token scanned on the "
                  f"kiosk's pty was accepted, but no swap.started came within {PROBE_S:.0f} s; "
                  "nothing to measure")
            return False
        toks = tokens(st, baud, SCANS)
        pid = st.pid
        c0, w0 = cpu_s(pid), time.monotonic()
        time.sleep(IDLE_S)  # the idle window itself
        idle_rate = (cpu_s(pid) - c0) / (time.monotonic() - w0)
        r = Run(st, hands, toks)
        c1, w1 = cpu_s(pid), time.monotonic()
        r.go(w1 + SCANS * SCAN_GAP_S * 2 + 120)
        report(baud, r, cpu_s(pid) - c1, time.monotonic() - w1, idle_rate)
        return True
    finally:
        st.close()


def main():
    print(f"swap benchmark: scan-to-unlock over {SCANS} scans a line speed, riders finishing "
          f"each swap (doors open {DWELL_S:g} s), software time per swap")
    for baud in (115200, 19200):
        with tempfile.TemporaryDirectory(prefix="swapd-bench-") as tmp:
            if not run(baud, tmp):
                break


if __name__ == "__main__":
    main()

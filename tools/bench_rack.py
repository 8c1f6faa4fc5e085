#!/usr/bin/env python3
"""make bench: how close swapd's rack polling comes to the RS-485 line limit,
what it costs, and how the control socket fares while a slave times out.

For each line speed it runs rack-sim (which paces its answers at that speed)
with 32 slots and swapd polling without pause, and prints

  achieved transactions/s  /  the line's limit for the same transactions

where the limit counts every request and answer frame at 11 bits a character
plus the two 3.5-character silences of each transaction (swapd sums this
per transaction; `swapctl rack` shows it as line_us). Also swapd's CPU time
per transaction and its resident memory, and control-socket latency while a
slot is timing out against a baseline without timeouts, in the same run.
"""
import json
import os
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from swapd_fixture import Daemon, RackSim, rack_config, slots_of, wait_until  # noqa: E402
from conftest import ROOT  # noqa: E402

PROFILE = os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")
SLOTS = 32
WINDOW_S = float(os.environ.get("BENCH_WINDOW_S", "5"))


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def latencies(daemon, n=300):
    s = daemon.connect()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        s.sendall(b'{"cmd":"status"}\n')
        buf = b""
        while not buf.endswith(b"\n"):
            buf += s.recv(65536)
        out.append((time.perf_counter() - t0) * 1000)
    s.close()
    out.sort()
    return out[len(out) // 2], out[int(len(out) * 0.99) - 1]


def run(baud, tmp):
    sim = RackSim(tmp, slots=SLOTS, baud=baud).start()
    d = Daemon(tmp)
    d.write_config(rack_config(d, sim, PROFILE, slots=SLOTS, baud=baud, poll_interval_ms=0,
                               slow_every=10, heartbeat_ms=1000, response_timeout_ms=100,
                               offline_after=100))
    try:
        d.start()
        wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 30, "slots online")
        a = d.request("rack")["result"]
        c0, t0 = cpu_s(d.proc.pid), time.monotonic()
        time.sleep(WINDOW_S)  # the measurement window itself
        b = d.request("rack")["result"]
        c1, t1 = cpu_s(d.proc.pid), time.monotonic()
        n = b["transactions"] - a["transactions"]
        line = (b["line_us"] - a["line_us"]) / 1e6
        wall = t1 - t0
        print(f"{baud:>6} baud: {n} transactions in {wall:.2f} s = {n / wall:.1f}/s; "
              f"line limit for them {n / line:.1f}/s ({line:.3f} s of frames and 3.5-char gaps, "
              f"gap {b['gap_us']} us)")
        print(f"{'':>6}       ratio achieved/limit = {line / wall:.3f}   "
              f"(timeouts {b['timeouts'] - a['timeouts']}, errors {b['errors'] - a['errors']})")
        print(f"{'':>6}       swapd CPU {1e6 * (c1 - c0) / max(n, 1):.1f} us/transaction, "
              f"RSS {rss_kib(d.proc.pid)} KiB with {SLOTS} slots")
        if baud == 115200:
            base = latencies(d)
            sim.op("silence", slot=5, on=True)
            wait_until(lambda: d.request("rack")["result"]["timeouts"] > b["timeouts"] + 3, 10,
                       "timeouts")
            slow = latencies(d)
            t = d.request("rack")["result"]["timeouts"]
            print(f"control socket latency, baseline: p50 {base[0]:.2f} ms, p99 {base[1]:.2f} ms")
            print(f"  while slot 5 times out ({t - b['timeouts']} timeouts of 100 ms): "
                  f"p50 {slow[0]:.2f} ms, p99 {slow[1]:.2f} ms  (p99 ratio {slow[1] / base[1]:.2f})")
    finally:
        d.close()
        sim.kill()


def main():
    print(f"rack polling benchmark: {SLOTS} slots, rack-sim paced at the line speed, "
          f"{WINDOW_S:.0f} s windows")
    for baud in (19200, 115200):
        with tempfile.TemporaryDirectory(prefix="swapd-bench-") as tmp:
            run(baud, tmp)


if __name__ == "__main__":
    main()

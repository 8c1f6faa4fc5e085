#!/usr/bin/env python3
"""make bench: how fast the safety rules act, each against a baseline
measured in the same run.

- restart: swapd is SIGKILLed right after an unlock and started again; the
  time from its start to every door locked in rack-sim, over N restarts,
  against the firmware's own master watchdog (5 s), which is what would lock
  the doors without swapd.
- emergency stop: 32 slots charging, the stop pressed on the simulated GPIO
  chip; the time until rack-sim shows every charger off, against one poll
  cycle of the same rack measured just before.
- stop: SIGTERM with a door unlocked, until swapd exited with every door
  locked, against the 2 s the docs promise.
"""
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from swapd_fixture import Daemon, RackSim, rack_config, slots_of, wait_until  # noqa: E402
from conftest import ROOT  # noqa: E402
from test_gpio import Chip  # noqa: E402
from test_safety import sim_slots  # noqa: E402

PROFILE = os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")
RESTARTS = int(os.environ.get("BENCH_RESTARTS", "30"))


def until(pred, timeout=10):
    """Seconds until pred() holds (polled every ms)."""
    t0 = time.monotonic()
    wait_until(pred, timeout, "the condition")
    return time.monotonic() - t0


def restarts(tmp):
    sim = RackSim(tmp, slots=4).start()
    d = Daemon(tmp)
    d.write_config(rack_config(d, sim, PROFILE, slots=4))
    rng = random.Random(1)
    took = []
    try:
        for _ in range(RESTARTS):
            t0 = time.monotonic()
            d.start()
            wait_until(lambda: all(s["lock_actuator"] for s in sim_slots(sim).values()), 10,
                       "locked")
            took.append(time.monotonic() - t0)
            wait_until(lambda: any(s["online"] for s in slots_of(d).values()), 5, "online")
            d.request("unlock", slot=rng.randint(1, 4))
            d.kill()
    finally:
        d.close()
        sim.kill()
    took.sort()
    p50, worst = statistics.median(took), took[-1]
    print(f"restart after SIGKILL, start to every door locked ({RESTARTS} restarts): "
          f"p50 {p50 * 1000:.0f} ms, worst {worst * 1000:.0f} ms; "
          f"ratio to the firmware watchdog (5 s): {worst / 5:.3f}")


def estop(tmp):
    n = 32
    sim = RackSim(tmp, slots=n).start()
    chip = Chip(tmp)
    d = Daemon(tmp)
    cfg = rack_config(d, sim, PROFILE, slots=n, poll_interval_ms=0, response_timeout_ms=100)
    cfg["gpio"] = {"chip": "sim:" + chip.path,
                   "lines": [{"role": "estop", "line": "estop", "debounce_ms": 0}]}
    d.write_config(cfg)
    try:
        d.start()
        wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 30, "online")
        for k in range(1, n + 1):
            sim.op("insert", slot=k, battery=500 + k, soc=40, force=True)
            assert d.request("charge", slot=k, on="on")["ok"]
        wait_until(lambda: all(s["charger_on"] for s in sim_slots(sim).values()), 10, "on")
        # one poll cycle: the time slot 1's read_at takes to move on, 5 times
        cycles = []
        for _ in range(5):
            at = slots_of(d)[1]["read_at"]
            cycles.append(until(lambda: slots_of(d)[1]["read_at"] != at))
        cycle = statistics.median(cycles)
        chip.set("estop=1")
        off = until(lambda: not any(s["charger_on"] for s in sim_slots(sim).values()))
        print(f"emergency stop, {n} slots charging: every charger off after {off * 1000:.0f} ms; "
              f"one poll cycle {cycle * 1000:.0f} ms; ratio {off / cycle:.2f} cycles")
    finally:
        d.close()
        sim.kill()


def stop(tmp):
    sim = RackSim(tmp, slots=4).start()
    d = Daemon(tmp)
    d.write_config(rack_config(d, sim, PROFILE, slots=4, watchdog_s=3600))
    try:
        d.start()
        wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 10, "online")
        assert d.request("unlock", slot=2)["ok"]
        rc, took = d.stop()
        locked = all(s["lock_actuator"] for s in sim_slots(sim).values())
        print(f"SIGTERM with a door unlocked: exit {rc} after {took * 1000:.0f} ms, every door "
              f"locked: {locked}; ratio to the promised 2 s: {took / 2:.2f}")
    finally:
        d.close()
        sim.kill()


def main():
    for fn in (restarts, estop, stop):
        with tempfile.TemporaryDirectory(prefix="swapd-bench-") as tmp:
            fn(tmp)


if __name__ == "__main__":
    main()

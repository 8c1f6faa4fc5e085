"""End to end: the database file removed or replaced under a running swapd.
Every door decision is on disk before the door moves, so once the file a
decision would be written to is no longer the station's database, swapd
refuses the decision, the door stays as it was, and `status` says why, until
a restart opens the database at the path afresh."""
import os
import sqlite3
import subprocess

import pytest

from conftest import ROOT, bin_path
from swapd_fixture import Daemon, RackSim, rack_config, slots_of, wait_until

PROFILE = os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")


@pytest.fixture
def sim(tmp_path):
    s = RackSim(tmp_path).start()
    yield s
    s.kill()


@pytest.fixture
def station(tmp_path, sim):
    d = Daemon(tmp_path)
    d.write_config(rack_config(d, sim, PROFILE))
    d.start()
    wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 10, "slots online")
    yield d
    d.close()


def lock_of(sim, slot):
    """The lock command register and the actuator, as the simulator has them."""
    s = sim.op("get", slot=slot)
    return s["registers"]["holding"][0], s["lock_actuator"]


def store_health(d):
    subs = d.request("status")["result"]["subsystems"]
    return next(s for s in subs if s["name"] == "store")


def assert_refused_and_shown(d, sim):
    # the periodic check finds it with nothing written: systemd is told
    assert d.wait_notify(lambda m: "STATUS=" in m and "store failed" in m, 5), d.drain_stderr()
    before = lock_of(sim, 3)
    r = d.request("unlock", slot=3)
    assert not r["ok"] and r["error"] == "store_failed", r
    out = subprocess.run([bin_path("swapctl"), "-s", d.sock, "unlock", "3"], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 1 and "store_failed" in out.stderr, out
    # a command refused is never sent: the controller saw no write
    assert lock_of(sim, 3) == before == (1, True)
    s = store_health(d)
    assert s["state"] == "failed"
    assert "database file was removed or replaced" in s["detail"], s
    assert "until swapd restarts" in s["detail"], s
    assert d.request("status")["result"]["health"] == "failed"
    out = subprocess.run([bin_path("swapctl"), "-s", d.sock, "status"], capture_output=True,
                         text=True, timeout=10)
    assert "database file was removed or replaced" in out.stdout, out.stdout


def assert_restart_heals(d, sim):
    assert d.stop()[0] == 0
    d.start()
    wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 10, "slots online")
    assert store_health(d)["state"] == "ok"
    assert d.request("unlock", slot=3)["ok"]
    assert lock_of(sim, 3) == (0, False)
    assert [w for (w,) in d.sql("SELECT what FROM audit")] == ["unlock"]


def test_removed_database_refuses_door_decisions(station, sim):
    assert station.request("lock", slot=3)["ok"]
    os.unlink(station.db)
    assert_refused_and_shown(station, sim)
    # stays failed: a new file at the path is not the one this run wrote to
    sqlite3.connect(station.db).close()
    assert station.request("unlock", slot=3)["error"] == "store_failed"
    assert_restart_heals(station, sim)


def test_replaced_database_refuses_door_decisions(tmp_path, station, sim):
    # a copy of the database, renamed over it: the same tables, but not the
    # file this run writes its decisions to
    copy = str(tmp_path / "copy.db")
    with sqlite3.connect(station.db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    os.replace(copy, station.db)
    assert_refused_and_shown(station, sim)
    assert station.sql("SELECT count(*) FROM audit WHERE what = 'unlock'") == [(0,)]
    assert_restart_heals(station, sim)

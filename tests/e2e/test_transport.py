"""End to end: a transport job with rack-sim and the real swapd. The job is
announced (swapctl transport-job), its T token scanned, only that job's
doors open, the transporter takes the worn battery and brings two charged
ones, each door locks as it closes, and transport.completed lists what
moved. A job swapd is killed in the middle of ends at the next start from
what the slots hold, with every door locked."""
import json
import os
import subprocess
import time

import pytest

from conftest import ROOT, bin_path
from swapd_fixture import Daemon, RackSim, rack_config, slots_of, wait_until

PROFILE = os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")
STATION = "ST-DEL-001"
K1 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # token.md test key k1


@pytest.fixture
def station(tmp_path):
    """rack-sim with 4 slots: 1 holds the worn BAT-00501, 2 the charged
    BAT-00502, 3 and 4 are empty; swapd with tokens polling it."""
    sim = RackSim(tmp_path, slots=4).start()
    d = Daemon(tmp_path)
    d.keys = str(tmp_path / "keys.json")
    with open(d.keys, "w") as f:
        json.dump({"keys": [{"kid": "k1", "secret": K1}]}, f)
    os.chmod(d.keys, 0o600)
    cfg = rack_config(d, sim, PROFILE, slots=4)
    cfg["station"]["id"] = STATION
    cfg["tokens"] = {"keys": "keys.json"}
    cfg["transport"] = {"timeout_s": 60}
    d.write_config(cfg)
    sim.op("insert", slot=1, battery=501, soc=50, soh=70, force=True)
    sim.op("insert", slot=2, battery=502, soc=100, soh=96, force=True)
    d.start()
    d.sim = sim
    wait_until(lambda: slots_of(d)[1].get("battery") == "BAT-00501"
               and slots_of(d)[2].get("battery") == "BAT-00502", 10, "the batteries read")
    yield d
    d.close()
    sim.kill()


def bolts(sim):
    """Each slot's bolt (True: locked), by slot number: it follows the lock
    actuator a moment later, and holds the door shut."""
    return {s["slot"]: s["lock_closed"] for s in sim.op("list")["slots"]}


def scan_t(d, job, arg):
    tok = subprocess.run([bin_path("swaptoken"), "issue", "--keys", d.keys, "--kid", "k1",
                          "--kind", "T", "--station", STATION, "--subject", job, "--arg", arg,
                          "--ttl", "3600"], capture_output=True, text=True, timeout=10)
    assert tok.returncode == 0, tok.stderr
    r = d.request("scan", token=tok.stdout.strip())
    assert r["ok"], r
    return r["result"]["result"]


def swapctl(d, *words):
    r = subprocess.run([bin_path("swapctl"), "-s", d.sock, "--json", *words], capture_output=True,
                       text=True, timeout=10)
    return r.returncode, r.stdout, r.stderr


def completed(d):
    return [json.loads(p) for (p,) in
            d.sql("SELECT payload FROM outbox WHERE type = 'transport.completed' ORDER BY seq")]


def test_transport_job(station):
    d, sim = station, station.sim
    assert scan_t(d, "job-e2e", "p1d2") == "unknown_job"
    rc, out, err = swapctl(d, "transport-job", "job-e2e", "1", "2", str(int(time.time()) + 3600))
    assert rc == 0, err
    assert scan_t(d, "job-e2e", "p2d2") == "wrong_counts"
    assert scan_t(d, "job-e2e", "p1d2") == "ok"
    # the worn battery's slot and the two empty ones, and not the charged one's
    wait_until(lambda: bolts(sim) == {1: False, 2: True, 3: False, 4: False}, 5,
               "slots 1, 3, 4 unlocked")
    doors = {x["slot"]: x["role"] for x in d.request("transports")["result"]["jobs"][0]["doors"]}
    assert doors == {1: "pickup", 3: "dropoff", 4: "dropoff"}

    sim.op("open", slot=1)
    wait_until(lambda: slots_of(d)[1]["door"] == "open", 5, "slot 1 seen open")
    sim.op("remove", slot=1)
    sim.op("close", slot=1)
    wait_until(lambda: bolts(sim)[1], 5, "slot 1 locked once closed")
    assert not bolts(sim)[3]
    for n, battery in ((3, 601), (4, 602)):
        sim.op("open", slot=n)
        sim.op("insert", slot=n, battery=battery, soc=100, soh=97)
        wait_until(lambda: slots_of(d)[n].get("battery") == f"BAT-00{battery}", 5, "the battery read")
        sim.op("close", slot=n)
    wait_until(lambda: completed(d), 10, "transport.completed")
    [event] = completed(d)
    assert event["job"] == "job-e2e"
    assert event["picked_up"] == ["BAT-00501"]
    assert event["dropped_off"] == ["BAT-00601", "BAT-00602"]
    wait_until(lambda: all(bolts(sim).values()), 5, "every door locked")

    [job] = d.request("transports")["result"]["jobs"]
    assert job["state"] == "completed" and job["reason"] == "closed"
    assert [s["slot"] for s in job["slots"]] == [1, 3, 4]
    rows = dict(d.sql("SELECT id, place FROM batteries"))
    assert rows[501] == "transport" and rows[601] == "slot" and rows[602] == "slot"
    # the job is done: its token opens nothing more
    assert scan_t(d, "job-e2e", "p1d2") == "job_done"


def test_kill_mid_job_ends_it_at_restart(station):
    d, sim = station, station.sim
    # a single battery by its id, as swapctl passes it
    rc, out, err = swapctl(d, "transport-job", "job-kill", "BAT-00502", "1",
                           str(int(time.time()) + 3600))
    assert rc == 0, err
    assert scan_t(d, "job-kill", "p1d1") == "ok"
    wait_until(lambda: bolts(sim) == {1: True, 2: False, 3: False, 4: True}, 5,
               "slots 2 and 3 unlocked")
    sim.op("open", slot=2)
    sim.op("remove", slot=2)
    wait_until(lambda: not slots_of(d)[2].get("battery"), 5, "slot 2 seen empty")
    d.kill()
    sim.op("close", slot=2)
    d.start()
    wait_until(lambda: all(bolts(sim).values()), 2, "every door locked after the restart")
    wait_until(lambda: completed(d), 10, "transport.completed after the restart")
    [event] = completed(d)
    assert event["job"] == "job-kill" and event["reason"] == "restart"
    assert event["picked_up"] == ["BAT-00502"] and event["dropped_off"] == []
    assert dict(d.sql("SELECT id, place FROM batteries"))[502] == "transport"
    # the job ended without opening anything again
    assert all(bolts(sim).values())
    assert all(s["unlocks"] == (1 if n in (2, 3) else 0)
               for n, s in ((s["slot"], s) for s in sim.op("list")["slots"]))

"""End to end: the station's fault detectors (daemon/fault_station.c,
daemon/FAULTS.md) with a real swapd, rack-sim and mosquitto. A slot
silenced on rack-sim is slot_offline: fault.raised at the fleet, `swapctl
faults` with the level-1 action (the rack's probing with backoff), and
the outcome recorded once the slot answers again. The clearing (60 s of
the slot answering) is tested in simulated time (tests/unit/
test_fault_station.c), to keep this test short."""
import pytest

from station import STATION, Station
from swapd_fixture import slots_of, wait_until
from test_sync import Broker
from test_sync_cmd import Fleet

ACTION = "probe with backoff (the rack retries)"


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def station(tmp_path, broker):
    st = Station(tmp_path, slots=3,
                 config={"sync": {"host": "127.0.0.1", "port": broker.port,
                                  "backoff_min_ms": 100, "backoff_max_ms": 500, "keepalive_s": 5}})
    try:
        st.sim.start()
        st._start_swapd()
        wait_until(lambda: st.request("sync")["result"]["state"] == "connected", 10, "connected")
        wait_until(lambda: all(s["online"] for s in slots_of(st.daemon).values()), 10,
                   "slots online")
        yield st
    finally:
        st.close()


def offline_faults(st):
    out = st.swapctl("faults")
    assert out.returncode == 0, out.stderr
    return [f for f in out.json["faults"] if f["code"] == "slot_offline"]


def test_slot_offline(broker, station):
    st = station
    fleet = Fleet(broker.port, STATION)

    def heard(kind):
        return [e for e in fleet.of("event") if e["type"] == kind]

    try:
        st.sim.op("silence", slot=2)
        wait_until(lambda: heard("fault.raised"), 10, "fault.raised at the fleet")
        raised = heard("fault.raised")[0]
        assert raised["code"] == "slot_offline" and raised["slot"] == 2, raised
        assert raised["level"] == 1 and raised["action"] == ACTION, raised
        (f,) = offline_faults(st)
        assert f["fault"] == raised["fault"] and f["slot"] == 2
        assert [a["outcome"] for a in f["actions"] if a["action"] == ACTION] == ["taken"], f

        st.sim.op("silence", slot=2, on=False)
        wait_until(lambda: any(a["outcome"] == "ok: the slot answers again"
                               for a in offline_faults(st)[0]["actions"]), 10,
                   "the probe's outcome recorded")
        assert len(heard("fault.raised")) == 1
        assert heard("fault.cleared") == []  # not before 60 s of answering
    finally:
        fleet.close()

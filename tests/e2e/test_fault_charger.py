"""End to end: the charger's fault (daemon/fault_battery.c, FAULTS.md
charger_fault) on rack-sim with a real mosquitto subscriber. The charger's
fault line cuts charging at the controller, which latches the fault bit;
swapd raises charger_fault (fault.raised at the fleet), and once the line
is off it resets the latch (10 s after the raise) and the fault clears
(fault.cleared). The retries that fail, the escalation and current
mismatch are driven in simulated time by tests/unit/test_fault_battery.c."""
import pytest

from station import STATION, Station
from swapd_fixture import wait_until
from test_sync import Broker
from test_sync_cmd import Fleet


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def station(tmp_path, broker):
    """Two slots, a half-charged battery charging in slot 1, clearing times
    at 1 % (charger_fault's 300 s in 3 s), connected to the broker."""
    st = Station(tmp_path, slots=2,
                 config={"sync": {"host": "127.0.0.1", "port": broker.port,
                                  "backoff_min_ms": 100, "backoff_max_ms": 500, "keepalive_s": 5},
                         "charge": {"auto": True},
                         "faults": {"clear_after_pct": 1}})
    try:
        st.sim.start()
        st.sim.op("insert", slot=1, battery=4301, soc=50, soh=97, force=True)
        st._start_swapd()
        wait_until(lambda: st.request("sync")["result"]["state"] == "connected", 10, "connected")
        wait_until(lambda: st.sim_slot(1)["charger_on"], 10, "charging on slot 1")
        yield st
    finally:
        st.close()


def heard(fleet, kind, code):
    return [e for e in fleet.of("event") if e["type"] == kind and e.get("code") == code]


def test_charger_fault_reset_and_cleared(broker, station):
    st = station
    fleet = Fleet(broker.port, STATION)
    try:
        st.sim.op("fault", slot=1, kind="charger_fault")
        wait_until(lambda: not st.sim_slot(1)["charger_on"], 2, "charging off at rack-sim")
        assert st.sim_slot(1)["fault_bits"] == 32
        wait_until(lambda: heard(fleet, "fault.raised", "charger_fault"), 5, "fault.raised")
        raised = heard(fleet, "fault.raised", "charger_fault")[0]
        assert raised["slot"] == 1 and raised["battery"] is None and raised["level"] == 1
        f = next(f for f in st.swapctl("faults").json["faults"] if f["code"] == "charger_fault")
        stop = next(a for a in f["actions"] if a["action"] == "stop charging")
        assert stop["outcome"] == "ok", f
        slot = next(s for s in st.swapctl("slots").json["slots"] if s["slot"] == 1)
        assert "charger" in slot["faults"], slot

        st.sim.op("fault", slot=1, kind="clear")  # the line off; the bit stays latched
        assert st.sim_slot(1)["fault_bits"] == 32
        wait_until(lambda: st.sim_slot(1)["fault_bits"] == 0, 12, "the latch reset at rack-sim")
        wait_until(lambda: heard(fleet, "fault.cleared", "charger_fault"), 6, "fault.cleared")
        out = st.swapctl("faults", "all=true")
        assert out.returncode == 0, out.stderr
        f = next(f for f in out.json["faults"] if f["code"] == "charger_fault")
        reset = [a for a in f["actions"] if a["action"].startswith("reset the latch")]
        assert reset and reset[-1]["outcome"] == "ok", f
        assert len(heard(fleet, "fault.raised", "charger_fault")) == 1
    finally:
        fleet.close()

"""End to end: the charger's fault (daemon/fault_battery.c, FAULTS.md
charger_fault) on rack-sim with a real mosquitto subscriber. The charger's
fault line cuts charging at the controller, which latches the fault bit;
swapd raises charger_fault (fault.raised at the fleet), and once the line
is off it resets the latch (10 s after the raise) and the fault clears
(fault.cleared). The retries that fail, the escalation and current
mismatch are driven in simulated time by tests/unit/test_fault_battery.c."""
import pytest

from station import broker, fleet_station  # noqa: F401 (fixtures)
from swapd_fixture import wait_until


@pytest.fixture
def station(fleet_station):
    """Two slots, a half-charged battery charging in slot 1, clearing times
    at 1 % (charger_fault's 300 s in 3 s), connected to the broker."""
    st = fleet_station(slots=2, batteries={1: dict(battery=4301, soc=50, soh=97)},
                       config={"charge": {"auto": True}, "faults": {"clear_after_pct": 1}})
    wait_until(lambda: st.sim_slot(1)["charger_on"], 10, "charging on slot 1")
    return st


def is_charger(e):
    return e["code"] == "charger_fault"


def test_charger_fault_reset_and_cleared(station):
    st = station
    st.sim.op("fault", slot=1, kind="charger_fault")
    wait_until(lambda: not st.sim_slot(1)["charger_on"], 2, "charging off at rack-sim")
    assert st.sim_slot(1)["fault_bits"] == 32
    raised = st.wait_heard("fault.raised", is_charger, 5)
    assert raised["slot"] == 1 and raised["battery"] is None and raised["level"] == 1
    f = next(f for f in st.swapctl("faults").json["faults"] if f["code"] == "charger_fault")
    stop = next(a for a in f["actions"] if a["action"] == "stop charging")
    assert stop["outcome"] == "ok", f
    slot = next(s for s in st.swapctl("slots").json["slots"] if s["slot"] == 1)
    assert "charger" in slot["faults"], slot

    st.sim.op("fault", slot=1, kind="clear")  # the line off; the bit stays latched
    assert st.sim_slot(1)["fault_bits"] == 32
    wait_until(lambda: st.sim_slot(1)["fault_bits"] == 0, 12, "the latch reset at rack-sim")
    st.wait_heard("fault.cleared", is_charger, 6)
    out = st.swapctl("faults", "all=true")
    assert out.returncode == 0, out.stderr
    f = next(f for f in out.json["faults"] if f["code"] == "charger_fault")
    reset = [a for a in f["actions"] if a["action"].startswith("reset the latch")]
    assert reset and reset[-1]["outcome"] == "ok", f
    assert len(st.heard("fault.raised", is_charger)) == 1

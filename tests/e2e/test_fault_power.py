"""End to end: mains lost (daemon/fault_station.c, FAULTS.md power_lost)
from the power_sense line of swapd's simulated GPIO chip, beside rack-sim:
charging held off at rack-sim, the fault at the fleet's subscriber and in
`swapctl faults`, a rider's scan refused `unsafe`; mains back: the fault
clears and charging resumes."""
import os
import socket

import pytest

from station import broker, fleet_station  # noqa: F401 (fixtures)
from swapd_fixture import wait_until


class Chip:
    """The test's end of swapd's simulated GPIO chip (as in test_gpio.py)."""

    def __init__(self, tmp):
        self.path = os.path.join(str(tmp), "gpio.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(os.path.join(str(tmp), "gpio-test.sock"))

    def set(self, text):
        self.sock.sendto(text.encode(), self.path)


@pytest.fixture
def station(tmp_path, fleet_station):
    """Two slots, a battery charging in slot 1, a mains sense that pulls
    its line low while mains is present, clearing times at 10 %
    (power_lost's 60 s in 6 s)."""
    chip = Chip(tmp_path)
    st = fleet_station(slots=2, batteries={1: dict(battery=4401, soc=50, soh=97)},
                       config={"charge": {"auto": True, "retry_s": 5},
                               "faults": {"clear_after_pct": 10},
                               "gpio": {"chip": "sim:" + chip.path, "lines": [
                                   {"role": "power_sense", "line": "mains", "active_low": True,
                                    "debounce_ms": 0}]}})
    wait_until(lambda: st.sim_slot(1)["charger_on"], 10, "charging on slot 1")
    st.chip = chip
    return st


def is_power(e):
    return e["code"] == "power_lost"


def test_power_lost_and_back(station):
    st = station
    assert not any(f["code"] == "power_lost" for f in st.swapctl("faults").json["faults"])
    st.chip.set("mains=1")  # active low: the sense line released, mains gone
    wait_until(lambda: not st.sim_slot(1)["charger_on"], 3, "charging off at rack-sim")
    raised = st.wait_heard("fault.raised", is_power, 5)
    assert raised["slot"] is None or raised["slot"] == 0, raised
    assert raised["level"] == 1
    assert st.scanned(st.token("S")) == "unsafe"
    wait_until(lambda: any(a["outcome"].startswith("ok") for f in st.swapctl("faults").json["faults"]
                           if f["code"] == "power_lost" for a in f["actions"]),
               3, "charging off read back on every slot")
    assert not st.sim_slot(1)["charger_on"]  # the charge module's retries refused

    st.chip.set("mains=0")
    st.wait_heard("fault.cleared", is_power, 9)
    wait_until(lambda: st.sim_slot(1)["charger_on"], 6, "charging again")

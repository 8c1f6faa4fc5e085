"""The station fixture (station.py) against the real swapd: batteries placed
in rack-sim are what swapd reads, a token typed on the kiosk's scanner pty
is verified and recorded (and stays used across a SIGKILL), a token for
another station is refused and the fleet hears of it, and the riders'
verbs meet the doors swapd drives."""
from station import station  # noqa: F401
from swapd_fixture import slots_of, wait_until

BATTERIES = {1: dict(battery=4201, soc=95, soh=97), 2: dict(battery=4202, soc=40, soh=88)}


def test_scanned_token_is_recorded_ok_and_stays_used(station):
    st = station(slots=3, batteries=BATTERIES)
    wait_until(lambda: {k: (s["battery"], round(s.get("soc", 0)), round(s.get("soh", 0)))
                        for k, s in slots_of(st.daemon).items()} ==
               {1: ("BAT-04201", 95, 97), 2: ("BAT-04202", 40, 88), 3: (None, 0, 0)}, 10,
               "swapd to read the batteries placed")
    assert [(s["door_open"], s["lock_closed"]) for s in st.sim_list()["slots"]] == \
        [(False, True)] * 3

    tok = st.token("S", subject="u-1")
    assert st.scanned(tok) == "ok"
    scans = st.request("scans")["result"]["scans"]
    assert (scans[0]["source"], scans[0]["result"], scans[0]["kind"]) == ("scanner", "ok", "S")
    assert not [e for e in st.outbox_events() if e[1] == "token.rejected"]

    st.kill9()
    st.restart()
    assert st.scanned(tok) == "replayed"
    r = st.swapctl("scans")
    assert r.returncode == 0 and [s["result"] for s in r.json["scans"]][:2] == ["replayed", "ok"]


def test_token_for_another_station_is_refused_and_reported(station):
    st = station(slots=2, batteries=BATTERIES)
    before = st.last_seq()
    tok = st.token("S", subject="u-2", station="ST-OTHER-9")
    assert st.scanned(tok) == "wrong_station"
    seq, _, p = st.wait_event("token.rejected", after=before)
    assert (p["reason"], p["kind"], p["subject"], p["nonce"]) == \
        ("wrong_station", "S", "u-2", tok.split(".")[5])
    assert tok.split(".")[-1] not in str(st.outbox_events())  # never the mac


def test_riders_at_the_doors_swapd_drives(station):
    st = station(slots=2, batteries={1: dict(battery=4201, soc=95)})
    r = st.rider_return(2, 77, soc=12)
    assert not r["ok"] and "locked" in r["error"]
    assert st.swapctl("unlock", 2).returncode == 0
    wait_until(lambda: not st.sim_slot(2)["lock_closed"], 5, "slot 2 unlocked")
    r = st.rider_return(2, 77, soc=12, soh=90, dwell=0.5)
    assert r["ok"] and r["battery"] == 77
    assert not st.sim_slot(2)["door_open"]  # the rider shut it before returning
    wait_until(lambda: slots_of(st.daemon)[2]["battery"] == "BAT-00077", 5, "swapd to read it")
    assert st.swapctl("unlock", 1).returncode == 0
    wait_until(lambda: not st.sim_slot(1)["lock_closed"], 5, "slot 1 unlocked")
    assert st.rider_take(1, dwell=0)["battery"] == 4201
    wait_until(lambda: slots_of(st.daemon)[1]["battery"] is None, 5, "swapd to see it gone")
    assert st.rider_leave_open(1)["door_open"]
    wait_until(lambda: slots_of(st.daemon)[1]["door"] == "open", 5, "swapd to see the door open")

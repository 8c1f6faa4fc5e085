"""End to end: fleet telemetry (shared/spec/mqtt.md, "Telemetry") against a
real mosquitto and mosquitto_sub, with rack-sim's slots: the live message at
QoS 0 with the contract's fields, an offline slot's stale values marked with
read_at, and the samples kept while the broker is unreachable (bounded)
published after the reconnect with "historical":true, oldest first, after
every event made during the outage."""
import os

import pytest

from conftest import ROOT
from swapd_fixture import Daemon, RackSim, rack_config, wait_until
from test_sync import TIME, Broker, Sub, make_events

PROFILE = os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")


@pytest.fixture
def sim(tmp_path):
    s = RackSim(tmp_path, slots=3).start()
    s.op("insert", slot=1, battery="0xA1", soc=64, soh=91, force=True)
    yield s
    s.kill()


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path).start()
    yield b
    b.stop()


def station(tmp_path, sim, port, **sync):
    d = Daemon(tmp_path)
    cfg = rack_config(d, sim, PROFILE, slots=3)
    cfg["sync"] = {"host": "127.0.0.1", "port": port, "backoff_min_ms": 100,
                   "backoff_max_ms": 500, "keepalive_s": 5, "telemetry_interval_s": 1, **sync}
    d.write_config(cfg)
    return d


def test_live_telemetry_and_an_offline_slot(tmp_path, sim, broker):
    sub = Sub(broker.port)
    d = station(tmp_path, sim, broker.port)
    try:
        d.start()
        sub.wait(lambda: any(t["slots"][0].get("battery") for t in sub.of("telemetry")), 10,
                 "live telemetry with slot 1's battery")
        t = [t for t in sub.of("telemetry") if t["slots"][0].get("battery")][-1]
        assert TIME.match(t["ts"]) and "historical" not in t
        assert t["queue"] == 0 and t["charged"] == 0 and t["power_kw"] == 0
        s1, s2 = t["slots"][0], t["slots"][1]
        assert s1["slot"] == 1 and s1["battery"] == "BAT-00161" and s1["soc"] == 64
        assert s1["soh"] == 91 and isinstance(s1["v"], float) and s1["door"] == "closed"
        assert s1["fault"] is None and s1["state"] in ("idle", "charged", "charging")
        assert "read_at" not in s1
        assert s2["battery"] is None and s2["state"] == "empty" and "soc" not in s2
        # live telemetry is QoS 0: retained never, and no outbox row
        assert not any(r for (k, r, _) in sub.msgs if k == "telemetry")

        # a controller that stops answering: its last values, with their time
        sim.op("silence", slot=1)
        sub.wait(lambda: sub.of("telemetry")[-1]["slots"][0]["state"] == "offline", 10,
                 "slot 1 offline in telemetry")
        s1 = sub.of("telemetry")[-1]["slots"][0]
        assert s1["battery"] == "BAT-00161" and s1["soc"] == 64 and TIME.match(s1["read_at"])
        assert s1["read_at"] < sub.of("telemetry")[-1]["ts"]
        assert d.request("sync")["result"]["telemetry"]["live_sent"] >= 2
        assert d.stop()[0] == 0
    finally:
        d.close()
        sub.close()


def test_historical_telemetry_after_the_events(tmp_path, sim, broker):
    sub = Sub(broker.port)
    d = station(tmp_path, sim, broker.port, offline_telemetry_interval_s=1,
                offline_telemetry_max=3)
    try:
        d.start()
        sub.wait(lambda: sub.of("telemetry"), 10, "live telemetry")
        # the consumer goes first, so that its persistent session holds all
        # that swapd sends after the broker is back
        sub.close()
        broker.stop()
        wait_until(lambda: d.request("sync")["result"]["telemetry"]["samples_kept"] >= 5, 15,
                   "five samples kept")
        make_events(d, 0, 3)
        tel = d.request("sync")["result"]["telemetry"]
        assert tel["kept"] == 3  # bounded: the oldest went
        assert d.sql("SELECT count(*) FROM telemetry_history")[0][0] == 3
        last = d.sql("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")[0][0]

        broker.start()
        back = Sub(broker.port)
        try:
            wait_until(lambda: d.request("sync")["result"]["telemetry"]["kept"] == 0, 20,
                       "the kept samples published and acknowledged")
            back.wait(lambda: len([t for t in back.of("telemetry") if t.get("historical")]) >= 3,
                      10, "three historical samples")
            with back.lock:
                msgs = list(back.msgs)
        finally:
            back.close()
        hist = [i for i, (k, _, p) in enumerate(msgs) if k == "telemetry" and p.get("historical")]
        events = [i for i, (k, _, p) in enumerate(msgs) if k == "event"]
        assert any(msgs[i][2]["seq"] == last for i in events)
        assert max(events) < min(hist), "historical telemetry came before the events"
        stamps = [msgs[i][2]["ts"] for i in hist]
        assert stamps == sorted(stamps) and len(set(stamps)) == 3, stamps
        assert all(len(msgs[i][2]["slots"]) == 3 for i in hist)
        assert d.stop()[0] == 0
    finally:
        d.close()

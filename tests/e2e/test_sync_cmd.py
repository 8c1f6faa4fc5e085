"""End to end: commands from the fleet (issue 11, shared/spec/mqtt.md
"Commands") through a real mosquitto broker: mosquitto_pub sends on
swap/v1/<sid>/cmd, mosquitto_sub reads cmd/reply and the events. Every
command and its reply, a repeated id (the same reply and one effect, also
after a restart of swapd), garbage: each gets a reply and/or a
cmd.rejected event, and swapd goes on answering; and ticket.ack of a real
level-3 ticket, opened by an unknown battery returned in a swap."""
import os
import time

import pytest

from conftest import ROOT
from station import Fleet, broker, fleet_station  # noqa: F401 (Fleet for others, the fixtures)
from swapd_fixture import Daemon, RackSim, rack_config, slots_of, wait_until
from test_sync import SID, sync_config

PROFILE = os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")
CMD = f"swap/v1/{SID}/cmd"


@pytest.fixture
def sim(tmp_path):
    s = RackSim(tmp_path, slots=3).start()
    yield s
    s.kill()


@pytest.fixture
def station(tmp_path, broker, sim):
    d = Daemon(tmp_path)
    cfg = rack_config(d, sim, PROFILE, slots=3)
    cfg["sync"] = sync_config(d, broker.port)["sync"]
    d.write_config(cfg)
    d.start()
    wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 10, "slots online")
    wait_until(lambda: d.request("sync")["result"]["state"] == "connected", 10, "connected")
    yield d
    d.close()


@pytest.fixture
def fleet(broker, station):
    f = Fleet(broker.port)
    yield f
    f.close()


def waiting(d):
    return d.request("queue")["result"]["entries"]


def test_every_command_and_its_reply(station, fleet):
    exp = int(time.time()) + 3600
    r = fleet.ask("c-1", "queue.reserve", user="u-0001", nonce="nonce0001", eta_s=600, exp=exp)
    assert r["ok"] is True and r["result"]["position"] == 1, r
    ticket = r["result"]["ticket"]
    assert r["result"]["eta_s"] >= 0 and set(r) == {"id", "ok", "result"}
    r = fleet.ask("c-2", "queue.reserve", user="u-0002", nonce="nonce0001", eta_s=60)
    assert r["ok"] is False and r["error"] == "duplicate" and r["message"]
    r = fleet.ask("c-3", "queue.arrival", ticket=ticket, distance_m=200)
    assert r["ok"] and r["result"]["arrival"] == "arrived"
    r = fleet.ask("c-4", "queue.cancel", ticket=ticket)
    assert r["ok"] and r["result"] == {"ticket": ticket, "reason": "cancelled"}
    assert waiting(station) == []
    assert fleet.ask("c-5", "queue.cancel", ticket=ticket)["error"] == "unknown_ticket"

    r = fleet.ask("c-6", "token.revoke", nonce="abcdef123456", exp=exp)
    assert r["ok"] and r["result"] == {"nonce": "abcdef123456", "exp": exp}
    assert station.sql("SELECT nonce, exp FROM token_revoked") == [("abcdef123456", exp)]
    assert fleet.ask("c-7", "token.revoke", nonce="abc def!", exp=exp)["error"] == "bad_request"

    r = fleet.ask("c-8", "slot.quarantine", slot=2, reason="inspection")
    assert r["ok"] and r["result"] == {"slot": 2, "in_service": False}
    wait_until(lambda: slots_of(station)[2]["state"] == "quarantined", 5, "slot 2 quarantined")
    assert fleet.ask("c-9", "slot.quarantine", slot=2, reason="x")["error"] == "already_quarantined"
    assert fleet.ask("c-10", "slot.release", slot=2, reason="fixed")["result"]["in_service"] is True
    assert fleet.ask("c-11", "slot.release", slot=9, reason="x")["error"] == "unknown_slot"

    r = fleet.ask("c-12", "ticket.ack", ticket="swap-1-slot-2", by="tech-7")
    assert r["ok"] is False and r["error"] == "unknown_ticket"

    r = fleet.ask("c-13", "transport.job", job="job-1", pickup=0, dropoff=1, exp=exp)
    assert r["ok"] and r["result"] == {"job": "job-1", "state": "announced"}, r
    r = fleet.ask("c-14", "transport.job", job="job-2", pickup=["BAT-00001", 2], dropoff=0, exp=exp)
    assert r["ok"], r
    r = fleet.ask("c-15", "transport.job", job="job-3", pickup={"no": 1}, dropoff=0, exp=exp)
    assert r["error"] == "bad_request"
    jobs = {j["job"] for j in station.request("transports")["result"]["jobs"]}
    assert {"job-1", "job-2"} <= jobs and "job-3" not in jobs

    r = fleet.ask("c-16", "status.get")
    assert r["ok"] and r["result"]["station"] == SID and len(r["result"]["slots"]) == 3
    assert "seq_next" in r["result"] and "entries" in r["result"]["queue"]

    births = len(fleet.of("birth"))
    assert fleet.ask("c-17", "rebirth")["ok"] is True
    wait_until(lambda: len(fleet.of("birth")) > births, 10, "a birth on rebirth")

    # each ran once, recorded with its reply, audited as the fleet's
    assert station.sql("SELECT count(*) FROM cmd_replies")[0][0] == 17
    assert fleet.rejections() == []


def test_a_repeated_id_gets_the_same_reply_and_no_second_effect(station, fleet, sim):
    first = fleet.ask("r-1", "queue.reserve", user="u-0001", nonce="nonce0001", eta_s=600)
    assert first["ok"]
    again = fleet.ask("r-1", "queue.reserve", user="u-0001", nonce="nonce0001", eta_s=600)
    assert again == first
    assert len(waiting(station)) == 1
    wait_until(lambda: len([e for e in fleet.of("event") if e["type"] == "queue.joined"]) == 1,
               5, "one queue.joined")
    joined = [e for e in fleet.of("event") if e["type"] == "queue.joined"]

    # also after a restart: the reply is on disk, so is the effect
    station.stop()
    station.start()
    wait_until(lambda: station.request("sync")["result"]["state"] == "connected", 10, "connected")
    after = fleet.ask("r-1", "queue.reserve", user="u-0001", nonce="nonce0001", eta_s=600)
    assert after == first
    assert len(waiting(station)) == 1
    assert len([e for e in fleet.of("event") if e["type"] == "queue.joined"]) == len(joined)

    # the same id for another command: refused, and the first stays
    r = fleet.ask("r-1", "queue.cancel", ticket=first["result"]["ticket"])
    assert r["ok"] is False and r["error"] == "bad_request"
    wait_until(lambda: any(e["reason"] == "duplicate_id" and e["cmd_id"] == "r-1"
                           for e in fleet.rejections()), 10, "cmd.rejected duplicate_id")
    assert len(waiting(station)) == 1


def test_garbage_gets_a_reply_or_a_rejection_and_swapd_goes_on(station, fleet):
    fleet.send_raw("not json {")
    fleet.send_raw(b"{\"id\":\"big\",\"cmd\":\"status.get\",\"pad\":\"" + b"x" * 100000 + b"\"}")
    fleet.send_raw("[1, 2, 3]")
    fleet.send_raw('{"cmd": "status.get"}')
    want = {"not_json", "too_large", "not_object", "bad_id"}
    wait_until(lambda: want <= {e["reason"] for e in fleet.rejections()}, 10,
               "a cmd.rejected for each")
    assert all(e["cmd_id"] is None for e in fleet.rejections())

    r = fleet.ask("g-1", "self.destruct")
    assert r["ok"] is False and r["error"] == "unknown_command"
    r = fleet.ask("g-2", "queue.reserve", user="u-1", nonce="nonce0001")
    assert r["error"] == "bad_request" and "eta_s" in r["message"]
    r = fleet.ask("g-3", "queue.reserve", user="u-1", nonce="nonce0001", eta_s="soon")
    assert r["error"] == "bad_request"
    r = fleet.ask("g-4", "queue.arrival", ticket=1, distance_m=-5)
    assert r["error"] == "bad_request"
    r = fleet.ask("g-5", "slot.quarantine", slot=1, reason="x", force=True)
    assert r["error"] == "bad_request" and "force" in r["message"]
    fleet.send_raw('{"id": "g-6", "cmd": 42}')
    wait_until(lambda: fleet.replies("g-6"), 10, "the reply to g-6")
    assert fleet.replies("g-6")[0]["error"] == "bad_request"
    fleet.send_raw('{"id": "g-7", "cmd": "status.get", "args": [1]}')
    wait_until(lambda: fleet.replies("g-7"), 10, "the reply to g-7")
    assert fleet.replies("g-7")[0]["error"] == "bad_request"
    ids = {"g-1", "g-2", "g-3", "g-4", "g-5", "g-6", "g-7"}
    wait_until(lambda: ids <= {e["cmd_id"] for e in fleet.rejections()}, 10,
               "a cmd.rejected for each bad command")
    assert waiting(station) == []

    # still answering, on both sides
    assert fleet.ask("g-8", "status.get")["ok"] is True
    assert station.request("status")["ok"]
    assert station.proc.poll() is None


@pytest.fixture
def rack_station(fleet_station):
    """A station with a scanner, keys and rack-sim (tests/e2e/station.py),
    one charged battery in slot 1, connected to the broker; and off the
    rack battery 777, whose BMS talks nonsense (made so in slot 3 before
    swapd starts, so that swapd never reads it sane)."""
    def nonsense_777(sim):
        sim.op("insert", slot=3, battery=777, force=True)
        sim.op("fault", slot=3, kind="bms_nonsense")
        sim.op("remove", slot=3, force=True)

    st = fleet_station(slots=3, batteries={1: dict(battery=4201, soc=100, soh=97)},
                       config={"swap": {"insert_timeout_s": 10, "door_close_timeout_s": 5}},
                       before=nonsense_777)
    wait_until(lambda: slots_of(st.daemon)[1]["battery"] == "BAT-04201", 10,
               "swapd to read the charged battery")
    return st


def test_ticket_ack_of_a_real_ticket(rack_station):
    """An unknown battery returned in a swap on rack-sim opens the level-3
    ticket F<fault> (daemon/FAULTS.md); the fleet's ticket.ack takes it:
    ok with its state, again the same (the first taker kept), `swapctl
    faults` shows it acknowledged; a made-up ticket is unknown_ticket."""
    st = rack_station
    fleet = st.fleet

    def heard(kind):
        return [e for e in fleet.of("event") if e["type"] == kind]

    assert st.scanned(st.token("S", subject="u-1")) == "ok"
    wait_until(lambda: not st.sim_slot(2)["lock_closed"], 5, "slot 2 unlocked")
    assert st.rider_return(2, 777)["ok"]
    wait_until(lambda: heard("ticket.opened"), 15, "ticket.opened at the fleet")
    raised, opened = heard("fault.raised")[0], heard("ticket.opened")[0]
    assert raised["code"] == "unknown_battery" and raised["slot"] == 2 and raised["level"] == 3
    ticket = opened["ticket"]
    assert ticket == f"F{raised['fault']}" and opened["fault"] == raised["fault"]

    r = fleet.ask("a-1", "ticket.ack", ticket=ticket, by="tech-7")
    assert r["ok"] is True and r["result"] == {"ticket": ticket, "state": "acknowledged"}, r
    r = fleet.ask("a-2", "ticket.ack", ticket=ticket, by="tech-8")
    assert r["ok"] is True and r["result"] == {"ticket": ticket, "state": "acknowledged"}, r
    out = st.swapctl("faults")
    assert out.returncode == 0, out.stderr
    f = next(f for f in out.json["faults"] if f["fault"] == raised["fault"])
    assert f["ticket"]["state"] == "acknowledged" and f["ticket"]["by"] == "tech-7", f
    assert f["code"] == "unknown_battery" and f["slot"] == 2
    r = fleet.ask("a-3", "ticket.ack", ticket="F9999", by="tech-7")
    assert r["ok"] is False and r["error"] == "unknown_ticket"
    assert fleet.rejections() == []


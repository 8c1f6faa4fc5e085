"""End to end: the queue through the real swapd's control socket and
swapctl: the fleet's reserve, arrival and cancel commands with mqtt.md's
results and error codes, walk-in tickets joining (or told the queue is
full), every change in the fleet outbox, and the queue surviving SIGKILL.
No rack here: every rider waits for charging, and says so."""
import json
import os
import subprocess

import pytest

from conftest import bin_path
from swapd_fixture import Daemon

K2 = "Ly1ouluLZIcmLDPq0s+VCAjMpRuxiy1JUJzisw8J+A4="  # token.md test key k2


@pytest.fixture
def station(tmp_path):
    d = Daemon(tmp_path)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [{"kid": "k2", "secret": K2}]}))
    os.chmod(keys, 0o600)
    cfg = d.default_config()
    cfg["station"]["id"] = "ST-DEL-001"
    cfg["tokens"] = {"keys": "keys.json", "walkin_kid": "k2", "walkin_ttl_s": 3600}
    cfg["queue"] = {"capacity": 3}
    d.write_config(cfg)
    d.start()
    yield d
    d.close()


def ok(reply):
    assert reply["ok"], reply
    return reply["result"]


def swapctl(d, *args):
    return subprocess.run([bin_path("swapctl"), "-s", d.sock, *args], capture_output=True,
                          text=True, timeout=10)


def events(d, kind):
    """The payloads, without the "clock":"unsynced" a machine whose clock
    is not synchronised adds (mqtt.md sync, DESIGN.md "Fleet sync")."""
    rows = [json.loads(p) for (p,) in
            d.sql(f"SELECT payload FROM outbox WHERE type = '{kind}' ORDER BY seq")]
    for r in rows:
        r.pop("clock", None)
    return rows


def test_reserve_arrive_cancel(station):
    a = ok(station.request("queue-reserve", user="u-000123", nonce="kQ2xF9aZ", eta_s=300))
    assert a["ticket"] == 1 and a["position"] == 1
    assert a["waits_for_charging"] is True and a["eta_s"] >= 300
    b = ok(station.request("queue-reserve", user="u-000124", nonce="nonce-b1", eta_s=0))
    assert b["ticket"] == 2 and b["position"] == 2 and b["eta_s"] > a["eta_s"]

    dup = station.request("queue-reserve", user="u-000125", nonce="kQ2xF9aZ", eta_s=0)
    assert not dup["ok"] and dup["error"] == "duplicate"
    bad = station.request("queue-reserve", user="u-000125", nonce="x", eta_s=0)
    assert not bad["ok"] and bad["error"] == "bad_request"

    near = ok(station.request("queue-arrival", ticket=1, distance_m=800))
    assert near["arrival"] == "approaching"
    here = ok(station.request("queue-arrival", ticket=1, distance_m=120))
    assert here["arrival"] == "arrived" and here["position"] == 1
    gone = station.request("queue-arrival", ticket=99, distance_m=120)
    assert not gone["ok"] and gone["error"] == "unknown_ticket"

    assert ok(station.request("queue-cancel", ticket=1)) == {"ticket": 1, "reason": "cancelled"}
    again = station.request("queue-cancel", ticket=1)
    assert not again["ok"] and again["error"] == "unknown_ticket"

    q = ok(station.request("queue", recent=10))
    assert [(e["ticket"], e["position"], e["source"]) for e in q["entries"]] == [(2, 1, "fleet")]
    assert q["capacity"] == 3 and q["charged"] == 0
    assert [(e["ticket"], e["reason"]) for e in q["left"]] == [(1, "cancelled")]

    joined = events(station, "queue.joined")
    assert [(e["ticket"], e["user"], e["source"], e["position"]) for e in joined] == \
        [(1, "u-000123", "fleet", 1), (2, "u-000124", "fleet", 2)]
    assert all(isinstance(e["eta_s"], int) for e in joined)
    assert events(station, "queue.left") == [{"ticket": 1, "reason": "cancelled"}]
    # through the command line too, positional arguments in the listed order
    r = swapctl(station, "queue-reserve", "u-000126", "nonce-c1", "60")
    assert r.returncode == 0, r.stderr
    r = swapctl(station, "queue")
    assert r.returncode == 0 and "u-000126" in r.stdout and "waits for charging" in r.stdout


def test_walkin_joins_until_full(station):
    for i in range(2):
        ok(station.request("queue-reserve", user=f"u-{i}", nonce=f"nonce-{i}x", eta_s=0))
    t = ok(station.request("ticket"))
    assert t["queue"]["position"] == 3 and t["queue"]["arrival"] == "arrived"
    full = ok(station.request("ticket"))
    assert full["token"].startswith("SW1.S.ST-DEL-001.")  # the ticket is still good
    assert full["queue"]["error"] == "queue_full"
    q = ok(station.request("queue"))
    assert [e["source"] for e in q["entries"]] == ["fleet", "fleet", "walkin"]
    assert q["entries"][2]["user"] == t["subject"]
    more = station.request("queue-reserve", user="u-9", nonce="nonce-9x", eta_s=0)
    assert not more["ok"] and more["error"] == "queue_full"
    assert [e["source"] for e in events(station, "queue.joined")] == ["fleet", "fleet", "walkin"]


def test_queue_survives_sigkill(station):
    ok(station.request("queue-reserve", user="u-1", nonce="nonce-1x", eta_s=600))
    ok(station.request("queue-reserve", user="u-2", nonce="nonce-2x", eta_s=0))
    ok(station.request("queue-arrival", ticket=2, distance_m=50))
    before = ok(station.request("queue"))["entries"]
    station.kill()
    station.start()
    after = ok(station.request("queue"))["entries"]
    keep = ("ticket", "position", "user", "source", "arrival", "distance_m", "joined_ms")
    assert [{k: e[k] for k in keep} for e in after] == [{k: e[k] for k in keep} for e in before]
    # a new place gets a new ticket, never one given before
    assert ok(station.request("queue-reserve", user="u-3", nonce="nonce-3x", eta_s=0))["ticket"] == 3

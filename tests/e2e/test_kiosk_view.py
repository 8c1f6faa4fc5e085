"""The kiosk's view (daemon/kiosk.c, issue 12) through the real swapd on
rack-sim: what `swapctl kiosk-view --json` shows after a scan on the
scanner pty (its result in plain words, the slot to go to) and what the
"Join the queue" button's command gives (a place and a QR as SVG)."""
import os
import socket
import time

from conftest import ROOT
from station import station  # noqa: F401 (the fixture)

CHARGED = {1: dict(battery="0xA1", soc=95, soh=97), 2: dict(battery="0xA2", soc=96, soh=97)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kiosk_station(station):
    return station(slots=4, batteries=CHARGED, config={
        "tokens": {"walkin_kid": "k1"},
        "kiosk": {"assets": os.path.join(ROOT, "daemon", "kiosk"), "port": free_port()},
    })


def view_when(st, pred, timeout, what):
    """The view once pred(view) holds, polling swapctl (the view is pulled,
    nothing tells a test it changed but the page's event stream)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = view(st)
        if pred(v):
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def view(st):
    r = st.swapctl("kiosk-view")
    assert r.returncode == 0, r.stderr
    return r.json.get("result", r.json)


def test_scan_result_and_slot(station):
    st = kiosk_station(station)
    assert st.scanned("not-a-token") == "malformed"
    v = view_when(st, lambda v: v["scan"], 5, "the scan's result")
    assert v["scan"]["result"] == "malformed"
    assert v["scan"]["text"] == "This is not a station code: scan again"
    assert v["text"]["join"] == "Join the queue"

    # the rack's first readings: until then a swap is "starting"
    view_when(st, lambda v: [x["state"] for x in v["slots"][:2]] == ["charged"] * 2, 10,
              "the charged slots")
    assert st.scanned(st.token("S", subject="rider-4711")) == "ok"
    _, _, started = st.wait_event("swap.started")

    v = view_when(st, lambda v: v["serving"] and v["serving"][0]["action"] == "put", 10,
                  "the slot to put the battery in")
    assert v["serving"][0]["slot"] == started["slot_in"]
    assert v["serving"][0]["headline"] == f"Put your battery in slot {started['slot_in']}"
    assert v["serving"][0]["rider"] == "\u20264711"
    assert "rider-4711" not in str(v)


def test_join_gives_svg_and_place(station):
    st = kiosk_station(station)
    r = st.request("kiosk-join")
    assert r["ok"], r
    res = r["result"]
    assert res["svg"].startswith("<?xml") and "<svg" in res["svg"]
    assert res["position"] == 1 and res["ticket"] > 0
    assert "token" not in res
    again = st.request("kiosk-join")
    assert again["error"] == "busy"
    v = view(st)
    assert [q["ticket"] for q in v["queue"]] == [res["ticket"]]
    assert v["queue"][0]["rider"].startswith("\u2026")
    assert v["walkin"]["enabled"] is True

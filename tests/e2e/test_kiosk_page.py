"""The kiosk page (issue 12) in headless Chromium against the real swapd on
rack-sim: a token scanned on the scanner pty puts the slot to go to on the
open page without a reload, in the catalogue's words; a staff badge brings
the staff actions, which work through the same commands and audit as
swapctl, and go away when the session times out. Screenshots at the two
kiosk sizes are written under build/kiosk/ for a person to look at."""
import json
import os
import sqlite3

import pytest

from browser import Browser
from conftest import ROOT
from station import station  # noqa: F401 (the fixture)
from swapd_fixture import wait_until
from test_kiosk_view import free_port
from test_swap import CHARGED, wait_read

SHOTS = os.path.join(ROOT, "build", "kiosk")
SESSION_S = 10  # staff.session_s's least


def catalogue(lang="en"):
    with open(os.path.join(ROOT, "daemon", "kiosk", "lang", f"{lang}.json")) as f:
        return json.load(f)["messages"]


def kiosk_station(station, lang="en", slots=4, batteries=None):
    port = free_port()
    st = station(slots=slots, batteries=batteries or {1: dict(battery=7101, **CHARGED)}, config={
        "kiosk": {"assets": os.path.join(ROOT, "daemon", "kiosk"), "port": port,
                  "language": lang},
        "staff": {"session_s": SESSION_S},
        "tokens": {"walkin_kid": "k1"},  # the "Join the queue" button on screen
    })
    st.url = f"http://127.0.0.1:{port}/"
    return st


@pytest.fixture
def browser(tmp_path):
    b = Browser(str(tmp_path / "chromium.log"), timeout=20)
    yield b
    b.close()


def text_of(b, element_id):
    return b.evaluate(f"document.getElementById({element_id!r}).textContent")


def js_has(element_id, text):
    return f"document.getElementById({element_id!r}).textContent.includes({text!r})"


def open_page(b, st, slots):
    """The page loaded, its stream up, every slot's tile drawn; a mark left
    in the page that a reload would wipe."""
    b.set_size(800, 480)
    b.open(st.url)
    b.wait_for(f"document.querySelectorAll('#slots > *').length === {slots}", 10)
    b.evaluate("window.swapdTestMark = 'same page'")


@pytest.mark.parametrize("lang", ["en", "hi"])
def test_scan_shows_the_slot_to_go_to_without_a_reload(station, browser, lang):
    st = kiosk_station(station, lang)
    wait_read(st, {1: 7101})
    msgs = catalogue(lang)
    open_page(browser, st, 4)
    os.makedirs(SHOTS, exist_ok=True)

    st.scan(st.token("S", subject="u-page-1"))
    _, _, p = st.wait_event("swap.started")
    put = msgs["headline.put"].replace("{slot}", str(p["slot_in"]))
    browser.wait_for(js_has("headline", put), 10)
    assert browser.evaluate("window.swapdTestMark") == "same page", "the page was reloaded"
    assert text_of(browser, "join") == msgs["label.join"]
    assert browser.evaluate("document.documentElement.lang") == lang
    browser.screenshot(os.path.join(SHOTS, f"put-{lang}-800x480.png"))
    browser.set_size(1080, 1920)
    browser.screenshot(os.path.join(SHOTS, f"put-{lang}-1080x1920.png"))
    # the headline is still on screen, and readable, at the portrait size
    assert browser.evaluate(
        "(r => r.width > 0 && r.bottom <= innerHeight && r.right <= innerWidth)"
        "(document.getElementById('headline').getBoundingClientRect())")

    assert st.rider_return(p["slot_in"], 7190, soc=12, soh=95)["ok"]
    take = msgs["headline.take"].replace("{slot}", str(p["slot_out"]))
    browser.wait_for(js_has("headline", take), 10)
    assert browser.evaluate("window.swapdTestMark") == "same page"


def test_a_refused_scan_is_told_in_plain_words(station, browser):
    st = kiosk_station(station)
    open_page(browser, st, 4)
    st.scan("not a token at all")
    want = catalogue()["scan.malformed"]
    browser.wait_for(js_has("scan", want), 10)
    assert "malformed" not in text_of(browser, "scan")


def audit(st, what):
    with sqlite3.connect(f"file:{st.daemon.db}?mode=ro", uri=True, timeout=5) as db:
        return db.execute("SELECT who, detail FROM audit WHERE what = ?", (what,)).fetchall()


def test_staff_badge_actions_work_are_audited_and_time_out(station, browser):
    st = kiosk_station(station, batteries={1: dict(battery=7201, **CHARGED)})
    wait_read(st, {1: 7201})
    open_page(browser, st, 4)
    assert browser.evaluate("document.getElementById('staff').hidden")

    assert st.scanned(st.badge("staff-42", "staff")) == "ok"
    browser.wait_for("!document.getElementById('staff').hidden && "
                     "document.querySelector('#staff button[data-cmd=\"staff-quarantine\"]')", 10)
    cmds = browser.evaluate("[...document.querySelectorAll('#staff button[data-cmd]')]"
                            ".map(b => b.dataset.cmd)")
    assert "staff-quarantine" in cmds and "staff-open" not in cmds  # opening needs admin

    # quarantine the battery in slot 1 through the page's own form
    browser.evaluate("document.querySelector('#staff button[data-cmd=\"staff-quarantine\"]').click()")
    browser.wait_for("!document.getElementById('ask').hidden", 5)
    browser.evaluate("(f => { f.elements['battery'].value = 'BAT-07201';"
                     " f.elements['reason'].value = 'swollen case';"
                     " document.getElementById('ask-ok').click(); })"
                     "(document.getElementById('ask'))")
    browser.wait_for("document.getElementById('reply').className === 'ok'", 10)
    bats = {b["battery"]: b for b in st.swapctl("batteries").json["batteries"]}
    assert bats["BAT-07201"]["quarantined"]
    # audited as swapctl's battery-quarantine is, under the badge's staff id
    assert [w for w, _ in audit(st, "battery-quarantine")] == ["staff-42"]
    browser.wait_for("document.querySelector('#slots .quarantined')", 10)

    # the session ends on its own: the actions leave the screen
    browser.wait_for("document.getElementById('staff').hidden", SESSION_S + 8)
    assert browser.evaluate("document.querySelectorAll('#staff button').length") == 0
    assert ("staff-42", "timeout") in audit(st, "staff-end")


def test_admin_opens_a_slot_from_the_page_once_it_reads_back(station, browser):
    # staff-open's reply is deferred until the bolt reads back: the page's
    # POST waits for it, suspended in swapd's loop, while the page stays live
    st = kiosk_station(station)
    open_page(browser, st, 4)
    assert st.scanned(st.badge("admin-7", "admin")) == "ok"
    browser.wait_for("document.querySelector('#staff button[data-cmd=\"staff-open\"]')", 10)
    browser.evaluate("document.querySelector('#staff button[data-cmd=\"staff-open\"]').click()")
    browser.wait_for("!document.getElementById('ask').hidden", 5)
    # the slot typed on the form's number pad, as a finger would
    browser.evaluate("[...document.querySelectorAll('#ask-fields .pad button')]"
                     ".find(b => b.textContent === '3').click()")
    assert browser.evaluate("document.getElementById('ask').elements['slot'].value") == "3"
    browser.evaluate("document.getElementById('ask-ok').click()")
    browser.wait_for("document.getElementById('reply').className === 'ok'", 10)
    # when the page says done, the controller has taken the unlock and
    # reads it back; the bolt then follows
    sim = st.sim_slot(3)
    assert sim["unlocks"] == 1 and not sim["lock_actuator"], sim
    assert text_of(browser, "reply") == catalogue()["label.done"]
    wait_until(lambda: not st.sim_slot(3)["lock_closed"], 5, "slot 3's bolt open")
    assert [w for w, _ in audit(st, "staff-open")] == ["admin-7"]

"""End to end: the swap flow of issue 10 against the real swapd, rack-sim
and the kiosk's scanner on a pty (station.py). Riders act with rack-sim's
rider verbs; what swapd decided is read where the fleet and the people see
it: the outbox, `swapctl swaps` and `swapctl batteries`, and rack-sim's
own truth about every door (the bolt, and how often its actuator let go).

Each case of the issue's "Done when": a full swap; three at once; a rider
who never inserts; a door closed empty; a charged battery not taken; a
replayed token; a token for another station; a staff override; a
transport job; a quarantine on low SOH; a swap refused during the
emergency stop (and one ended by it). Then a SIGHUP during a swap
(nothing disturbed) and a SIGTERM during two (doors locked, stages
stored, one taken up and one aborted at the next start).

The waits are the configured minimums (CONFIG.md) so the file stays
short; nothing sleeps, every wait is on the thing itself with a timeout."""
import signal
import sqlite3
import subprocess
import time

from conftest import bin_path
from station import station  # noqa: F401
from swapd_fixture import slots_of, wait_until
from test_gpio import Chip

INSERT_S = 10  # swap.insert_timeout_s, its minimum
TAKE_S = 10    # swap.take_timeout_s, its minimum
FAST = {"swap": {"insert_timeout_s": INSERT_S, "take_timeout_s": TAKE_S,
                 "door_close_timeout_s": 5, "unlock_timeout_s": 2}}
CHARGED = dict(soc=100, soh=97)


def bolts(st):
    """Each slot's bolt in rack-sim, by slot number (True: locked)."""
    return {s["slot"]: s["lock_closed"] for s in st.sim_list()["slots"]}


def unlocks(st):
    """How often each slot's lock actuator let go since rack-sim started."""
    return {s["slot"]: s["unlocks"] for s in st.sim_list()["slots"]}


def wait_locked(st, timeout=3):
    wait_until(lambda: all(bolts(st).values()), timeout, "every door locked")


def wait_seen_locked(st, timeout=3):
    """Until swapd itself reads every door locked: a slot is picked for a
    swap only then, a poll cycle after rack-sim's bolt went home."""
    wait_until(lambda: all(s["lock"] == "locked" for s in slots_of(st.daemon).values()), timeout,
               "swapd to read every door locked")


def wait_unlocked(st, slot, timeout=5):
    """Until the bolt is open in rack-sim and swapd has read it back, so the
    swap's stage has moved on with it."""
    wait_until(lambda: not st.sim_slot(slot)["lock_closed"], timeout, f"slot {slot} unlocked")
    wait_until(lambda: slots_of(st.daemon)[slot]["lock"] == "unlocked", timeout,
               f"swapd to read slot {slot} unlocked")


def wait_read(st, batteries):
    """Until swapd reads each {slot: battery id} placed in rack-sim."""
    want = {n: f"BAT-{b:05d}" for n, b in batteries.items()}
    wait_until(lambda: {n: slots_of(st.daemon)[n]["battery"] for n in want} == want, 10,
               "swapd to read the batteries placed")


def start_swap(st, user, after=0):
    """A rider's S token scanned and accepted: (token, swap.started payload)."""
    tok = st.token("S", subject=user)
    assert st.scanned(tok) == "ok"
    _, _, p = st.wait_event("swap.started", after=after, pred=lambda p: p["user"] == user)
    return tok, p


def events(st, *types):
    return [(t, p) for _, t, p in st.outbox_events() if t in types]


def swap_row(st, swap):
    """The swap as `swapctl swaps` shows it, in progress or ended."""
    j = st.swapctl("swaps").json
    return next(s for s in j["in_progress"] + j["recent"] if s["swap"] == swap)


def swapctl_text(st, *args):
    """What a person reads: swapctl's table, not its JSON."""
    r = subprocess.run([bin_path("swapctl"), "-s", st.daemon.sock, *args], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout


def ledger(st):
    r = st.swapctl("batteries")
    assert r.returncode == 0, r.stderr
    return {b["battery"]: b for b in r.json["batteries"]}


def aborted(st, swap, timeout):
    _, _, p = st.wait_event("swap.aborted", timeout=timeout, pred=lambda p: p["swap"] == swap)
    return p


def test_full_swap(station):
    st = station(slots=3, batteries={1: dict(battery=4201, **CHARGED)}, config=FAST)
    wait_read(st, {1: 4201})
    _, p = start_swap(st, "u-1")
    assert (p["slot_in"], p["slot_out"], p["ticket"]) == (2, 1, None)
    # in, then out: only the empty slot opens until the battery is in and locked
    wait_unlocked(st, 2)
    assert bolts(st) == {1: True, 2: False, 3: True}
    assert st.rider_return(2, 77, soc=12, soh=90)["ok"]
    wait_unlocked(st, 1)
    assert bolts(st)[2], "the returned battery's door unlocked with the charged one"
    assert st.rider_take(1)["battery"] == 4201
    _, _, c = st.wait_event("swap.completed")
    wait_locked(st)
    assert {k: c[k] for k in ("swap", "user", "battery_in", "battery_out", "soc_in", "soc_out",
                              "soh_in")} == \
        dict(swap=p["swap"], user="u-1", battery_in="BAT-00077", battery_out="BAT-04201",
             soc_in=12, soc_out=100, soh_in=90)
    assert 0 < c["duration_s"] < 10
    assert [t for t, _ in events(st, "swap.started", "swap.completed", "swap.aborted")] == \
        ["swap.started", "swap.completed"]
    assert unlocks(st) == {1: 1, 2: 1, 3: 0}

    b = ledger(st)
    assert (b["BAT-00077"]["place"], b["BAT-00077"]["slot"]) == ("slot", 2)
    assert {k: b["BAT-04201"][k] for k in ("place", "holder", "swap")} == \
        dict(place="rider", holder="u-1", swap=p["swap"])
    row = swap_row(st, p["swap"])
    assert (row["stage"], row["result"], row["battery_in"], row["battery_out"]) == \
        ("completed", "completed", "BAT-00077", "BAT-04201")
    assert not st.swapctl("swaps").json["in_progress"]
    table = swapctl_text(st, "swaps")
    line = next(l for l in table.splitlines() if l.split()[0] == str(p["swap"]))
    assert "completed" in line and "BAT-00077" in line and "BAT-04201" in line and "u-1" in line


def test_three_swaps_at_once(station):
    charged = {n: dict(battery=4300 + n, soc=100 - n, soh=95) for n in (1, 2, 3, 4)}
    st = station(slots=8, batteries=charged, config=FAST)
    wait_read(st, {n: b["battery"] for n, b in charged.items()})
    started = [start_swap(st, f"u-{k}")[1] for k in (1, 2, 3)]
    # swap.max_concurrent is 3: a fourth rider is told so, and nothing opens for them
    assert st.scanned(st.token("S", subject="u-4")) == "busy"
    held = [n for p in started for n in (p["slot_in"], p["slot_out"])]
    assert len(set(held)) == 6, f"a slot in two swaps: {started}"
    assert {p["slot_out"] for p in started} <= set(charged)
    j = st.swapctl("swaps").json
    assert sorted(s["swap"] for s in j["in_progress"]) == sorted(p["swap"] for p in started)

    for k, p in enumerate(started):
        wait_unlocked(st, p["slot_in"])
        assert st.rider_return(p["slot_in"], 500 + k, wait=False, soc=10, soh=90)["ok"]
    for p in started:
        wait_unlocked(st, p["slot_out"])
        assert st.rider_take(p["slot_out"], wait=False)["ok"]
    for p in started:
        st.wait_event("swap.completed", pred=lambda c, p=p: c["swap"] == p["swap"])
    wait_locked(st)
    assert not events(st, "swap.aborted")
    # each door opened once, for its one swap; the slot left over never
    assert unlocks(st) == {n: int(n in held) for n in range(1, 9)}
    b = ledger(st)
    for k, p in enumerate(started):
        assert (b[f"BAT-{500 + k:05d}"]["place"], b[f"BAT-{500 + k:05d}"]["slot"]) == \
            ("slot", p["slot_in"])
        out = f"BAT-{4300 + p['slot_out']:05d}"
        assert (b[out]["place"], b[out]["holder"], b[out]["swap"]) == \
            ("rider", p["user"], p["swap"])
    # the fourth rider's token was refused for the station's sake: still good
    wait_seen_locked(st)
    assert st.scanned(st.token("S", subject="u-4")) == "ok"


def test_rider_never_inserts(station):
    # two riders who never put a battery in: u-1 opens the door and walks
    # away, u-2 never comes to theirs
    batteries = {1: dict(battery=4401, **CHARGED), 2: dict(battery=4402, soc=99, soh=97)}
    st = station(slots=4, batteries=batteries, config=FAST)
    wait_read(st, {1: 4401, 2: 4402})
    tok, p = start_swap(st, "u-1")
    _, q = start_swap(st, "u-2")
    assert (p["slot_in"], q["slot_in"]) == (3, 4)
    wait_unlocked(st, 3)
    assert st.rider_leave_open(3)["door_open"]
    wait_unlocked(st, 4)
    for s in (p, q):
        a = aborted(st, s["swap"], INSERT_S + 5)
        assert (a["reason"], a["stage"]) == ("insert_timeout", "wait_insert")
        assert swap_row(st, s["swap"])["result"] == "aborted"
    assert st.wait_log(lambda l: "slot 3's door was left open" in l)
    wait_until(lambda: st.sim_slot(4)["lock_closed"], 3, "slot 4 locked")
    assert not events(st, "swap.completed")
    assert (unlocks(st)[1], unlocks(st)[2]) == (0, 0), "a charged battery's door moved"
    assert {b: ledger(st)[b]["place"] for b in ("BAT-04401", "BAT-04402")} == \
        {"BAT-04401": "slot", "BAT-04402": "slot"}
    # the token was used by the swap that started: never a second one
    assert st.scanned(tok) == "replayed"
    # no new swap on the slot whose door stands open, until it is shut
    wait_until(lambda: all(slots_of(st.daemon)[n]["lock"] == "locked" for n in (1, 2, 4)), 3,
               "swapd to read the other doors locked")
    _, r = start_swap(st, "u-3", after=st.last_seq())
    assert r["slot_in"] == 4
    wait_unlocked(st, 4)
    st.sim.op("close", slot=3)
    assert st.wait_log(lambda l: "slot 3: the door left open is closed" in l)
    wait_until(lambda: st.sim_slot(3)["lock_closed"], 3, "slot 3 locked once shut")
    assert unlocks(st)[3] == 1


def test_door_closed_empty(station):
    st = station(slots=2, batteries={1: dict(battery=4501, **CHARGED)}, config=FAST)
    wait_read(st, {1: 4501})
    _, p = start_swap(st, "u-1")
    wait_unlocked(st, 2)
    assert st.rider_close_empty(2)["ok"]
    # opened once more for a second go
    wait_until(lambda: swap_row(st, p["swap"])["reopens"] == 1, 5, "the reopen recorded")
    wait_unlocked(st, 2)
    assert not events(st, "swap.aborted")
    assert st.rider_close_empty(2)["ok"]
    a = aborted(st, p["swap"], 5)
    assert (a["reason"], a["stage"]) == ("door_closed_empty", "wait_insert")
    wait_locked(st)
    assert unlocks(st)[1] == 0
    assert ledger(st)["BAT-04501"]["place"] == "slot"


def test_charged_battery_not_taken(station):
    # two riders who return theirs and leave the charged one: u-1 opens its
    # door and walks away, u-2 never opens theirs
    batteries = {1: dict(battery=4601, **CHARGED), 2: dict(battery=4602, soc=99, soh=97)}
    st = station(slots=5, batteries=batteries, config=FAST)
    wait_read(st, {1: 4601, 2: 4602})
    _, p = start_swap(st, "u-1")
    _, q = start_swap(st, "u-2")
    assert [(s["slot_in"], s["slot_out"]) for s in (p, q)] == [(3, 1), (4, 2)]
    for s, battery in ((p, 81), (q, 82)):
        wait_unlocked(st, s["slot_in"])
        assert st.rider_return(s["slot_in"], battery, soc=15, soh=92)["ok"]
        wait_unlocked(st, s["slot_out"])
    assert st.rider_leave_open(1)["door_open"]
    for s in (p, q):
        a = aborted(st, s["swap"], TAKE_S + 5)
        assert (a["reason"], a["stage"]) == ("battery_out_timeout", "wait_take")
    assert st.wait_log(lambda l: "slot 1's door was left open" in l)
    wait_until(lambda: all(bolts(st)[n] for n in (2, 3, 4)), 3, "the shut doors locked")
    # back in stock, each in its slot; the returned ones in theirs
    b = ledger(st)
    assert [(b[f"BAT-{n:05d}"]["place"], b[f"BAT-{n:05d}"]["slot"]) for n in (4601, 4602, 81, 82)] \
        == [("slot", 1), ("slot", 2), ("slot", 3), ("slot", 4)]
    # the next rider gets slot 2's: slot 1's would be the fuller, but its door is open
    wait_until(lambda: slots_of(st.daemon)[2]["lock"] == "locked", 3, "swapd to read 2 locked")
    _, r = start_swap(st, "u-3", after=st.last_seq())
    assert (r["slot_in"], r["slot_out"]) == (5, 2)
    st.sim.op("close", slot=1)
    assert st.wait_log(lambda l: "slot 1: the door left open is closed" in l)
    wait_until(lambda: st.sim_slot(1)["lock_closed"], 3, "slot 1 locked once shut")
    wait_until(lambda: slots_of(st.daemon)[1]["state"] == "charged", 5, "slot 1 charged again")
    assert unlocks(st)[1] == 1


def test_replayed_token(station):
    st = station(slots=4, batteries={1: dict(battery=4701, **CHARGED),
                                     2: dict(battery=4702, **CHARGED)}, config=FAST)
    wait_read(st, {1: 4701, 2: 4702})
    tok, p = start_swap(st, "u-1")
    wait_unlocked(st, p["slot_in"])
    assert st.rider_return(p["slot_in"], 91, soc=20, soh=90)["ok"]
    # the same code again (a screenshot), past the scanner's repeat window
    before = st.last_seq()
    assert st.scanned(tok) == "replayed"
    _, _, r = st.wait_event("token.rejected", after=before)
    assert (r["reason"], r["kind"], r["subject"], r["nonce"]) == \
        ("replayed", "S", "u-1", tok.split(".")[5])
    wait_unlocked(st, p["slot_out"])
    assert st.rider_take(p["slot_out"])["ok"]
    st.wait_event("swap.completed")
    wait_locked(st)
    assert st.scanned(tok) == "replayed"
    assert len(events(st, "swap.started")) == 1
    assert unlocks(st) == {1: 1, 2: 0, 3: 1, 4: 0}, "a door moved for the replayed token"


def test_token_for_another_station(station):
    st = station(slots=3, batteries={1: dict(battery=4801, **CHARGED)}, config=FAST)
    wait_read(st, {1: 4801})
    tok = st.token("S", subject="u-1", station="ST-OTHER-9")
    assert st.scanned(tok) == "wrong_station"
    _, _, r = st.wait_event("token.rejected")
    assert (r["reason"], r["kind"], r["subject"], r["nonce"]) == \
        ("wrong_station", "S", "u-1", tok.split(".")[5])
    assert tok.split(".")[-1] not in str(st.outbox_events())  # never the mac
    # the station's own token after it: its door is the first to move
    _, p = start_swap(st, "u-1")
    wait_unlocked(st, p["slot_in"])
    assert unlocks(st) == {1: 0, 2: 1, 3: 0}
    assert [p["swap"] for _, p in events(st, "swap.started")] == [p["swap"]]


def audit(st, what):
    with sqlite3.connect(f"file:{st.daemon.db}?mode=ro", uri=True, timeout=5) as db:
        return db.execute("SELECT who, detail FROM audit WHERE what = ? ORDER BY id",
                          (what,)).fetchall()


def test_staff_override(station):
    st = station(slots=3, batteries={1: dict(battery=4901, **CHARGED)}, config=FAST)
    wait_read(st, {1: 4901})
    _, p = start_swap(st, "u-1")
    wait_unlocked(st, 2)
    # the rider is gone and the slot stands open: staff end it from the kiosk
    assert st.request("staff-abort", swap=p["swap"], reason="rider left")["error"] == "no_session"
    assert st.scanned(st.badge("staff-17", "staff")) == "ok"
    r = st.request("staff-open", slot=1)
    assert r["error"] == "not_permitted" and "admin badge" in r["message"]
    assert st.request("staff-abort", swap=p["swap"], reason="rider left")["ok"]
    a = aborted(st, p["swap"], 5)
    assert (a["reason"], a["stage"]) == ("staff_abort", "wait_insert")
    wait_locked(st)
    assert swap_row(st, p["swap"])["note"] == "staff-17: rider left"
    assert audit(st, "swap-abort") == [("staff-17", f"swap {p['swap']}: rider left")]

    # an admin badge opens a slot: the battery taken goes with them
    wait_seen_locked(st)
    assert st.scanned(st.badge("eng-3", "admin")) == "ok"
    assert st.request("staff-session")["result"]["staff"] == "eng-3"
    r = st.request("staff-open", slot=1)
    assert r["ok"], r
    assert [w for w, _ in audit(st, "staff-open")] == ["eng-3"]
    wait_unlocked(st, 1)
    assert st.rider_take(1)["battery"] == 4901
    wait_locked(st)
    b = ledger(st)["BAT-04901"]
    assert (b["place"], b["holder"]) == ("staff", "eng-3")


def test_transport_job(station):
    st = station(slots=5, batteries={1: dict(battery=501, soc=50, soh=70),
                                     2: dict(battery=502, **CHARGED)}, config=FAST)
    wait_read(st, {1: 501, 2: 502})
    # found at the start with a low SOH: quarantined, so the job takes it first
    wait_until(lambda: ledger(st)["BAT-00501"]["quarantined"], 5, "BAT-00501 quarantined")
    exp = int(time.time()) + 3600
    r = st.swapctl("transport-job", "job-7", "1", "1", exp)
    assert r.returncode == 0, r.stderr
    assert st.scanned(st.transport("job-7", pickup=1, dropoff=1)) == "ok"
    wait_until(lambda: bolts(st) == {1: False, 2: True, 3: False, 4: True, 5: True}, 5,
               "only the job's slots 1 and 3 unlocked")
    # a rider meanwhile gets slots the job does not hold
    _, p = start_swap(st, "u-1")
    assert (p["slot_in"], p["slot_out"]) == (4, 2)

    assert st.rider_take(1)["battery"] == 501
    assert st.rider_return(3, 601, soc=100, soh=97)["ok"]
    _, _, t = st.wait_event("transport.completed")
    assert (t["job"], t["picked_up"], t["dropped_off"]) == ("job-7", ["BAT-00501"], ["BAT-00601"])
    wait_until(lambda: bolts(st)[1] and bolts(st)[3], 3, "the job's doors locked")
    assert unlocks(st)[5] == 0
    b = ledger(st)
    assert (b["BAT-00501"]["place"], b["BAT-00501"]["holder"]) == ("transport", "job-7")
    assert (b["BAT-00601"]["place"], b["BAT-00601"]["slot"]) == ("slot", 3)


def test_quarantine_on_low_soh(station):
    st = station(slots=3, batteries={1: dict(battery=5001, **CHARGED)}, config=FAST)
    wait_read(st, {1: 5001})
    _, p = start_swap(st, "u-1")
    wait_unlocked(st, 2)
    # full, but worn: it would be the next rider's if it were not quarantined
    assert st.rider_return(2, 66, soc=100, soh=60)["ok"]
    _, _, q = st.wait_event("battery.quarantined")
    assert (q["battery"], q["slot"], q["reason"]) == ("BAT-00066", 2, "low_soh")
    wait_unlocked(st, 1)
    assert st.rider_take(1)["battery"] == 5001
    _, _, c = st.wait_event("swap.completed")
    assert (c["battery_in"], c["soh_in"]) == ("BAT-00066", 60)
    seqs = {t: s for s, t, _ in st.outbox_events()}
    assert seqs["swap.started"] < seqs["battery.quarantined"] < seqs["swap.completed"]
    wait_locked(st)
    assert ledger(st)["BAT-00066"]["quarantined"]
    wait_until(lambda: slots_of(st.daemon)[2]["state"] == "quarantined", 5, "slot 2 quarantined")
    wait_seen_locked(st)
    # the next rider: the only full battery here is the quarantined one
    assert st.scanned(st.token("S", subject="u-2")) == "no_charged_battery"
    assert unlocks(st)[2] == 1


def test_swap_refused_during_estop(station, tmp_path):
    chip = Chip(tmp_path)
    gpio = {"chip": "sim:" + chip.path,
            "lines": [{"role": "estop", "line": "estop", "debounce_ms": 0}]}
    st = station(slots=2, batteries={1: dict(battery=5101, **CHARGED)},
                 config=dict(FAST, gpio=gpio))
    wait_read(st, {1: 5101})
    mark = st.log_mark()
    chip.set("estop=1")
    assert st.wait_log(lambda l: "emergency stop pressed" in l, start=mark)
    tok = st.token("S", subject="u-1")
    assert st.scanned(tok) == "estop"
    scan = st.request("scans")["result"]["scans"][0]
    assert (scan["result"], scan["subject"]) == ("estop", "u-1")
    assert not events(st, "swap.started", "token.rejected")
    mark = st.log_mark()
    chip.set("estop=0")
    assert st.wait_log(lambda l: "emergency stop released" in l, start=mark)
    # refused for the station's sake, the token stays good: the same one now swaps
    _, p = start_swap(st, "u-1")
    wait_unlocked(st, p["slot_in"])
    assert unlocks(st) == {1: 0, 2: 1}, "a door moved during the emergency stop"
    # pressed again while the charged battery's door is open: the swap
    # ends, every door locked, the battery stays in stock
    assert st.rider_return(p["slot_in"], 95, soc=30, soh=90)["ok"]
    wait_unlocked(st, p["slot_out"])
    chip.set("estop=1")
    a = aborted(st, p["swap"], 5)
    assert (a["reason"], a["stage"]) == ("estop", "wait_take")
    wait_locked(st)
    assert (ledger(st)["BAT-05101"]["place"], ledger(st)["BAT-00095"]["slot"]) == ("slot", 2)


def test_sighup_during_a_swap_disturbs_nothing(station):
    st = station(slots=3, batteries={1: dict(battery=5201, **CHARGED)}, config=FAST)
    wait_read(st, {1: 5201})

    def reload(verdict="config reloaded", **swap):
        st.config["swap"].update(swap)
        st.daemon.write_config(st.config)
        mark = st.log_mark()
        st.daemon.signal(signal.SIGHUP)
        assert st.wait_log(lambda l: verdict in l, start=mark), f"no {verdict!r}"

    _, p = start_swap(st, "u-1")
    wait_unlocked(st, 2)
    reload(insert_timeout_s=INSERT_S + 1)  # waiting for the battery
    reload("reload rejected", insert_timeout_s=1)  # below its minimum: kept as it was
    assert st.rider_return(2, 92, soc=10, soh=90)["ok"]
    wait_unlocked(st, 1)
    reload(insert_timeout_s=INSERT_S, take_timeout_s=TAKE_S + 1, min_soc=90)  # at the take
    assert st.rider_take(1)["battery"] == 5201
    _, _, c = st.wait_event("swap.completed")
    assert (c["swap"], c["battery_in"], c["battery_out"]) == (p["swap"], "BAT-00092", "BAT-05201")
    wait_locked(st)
    assert not events(st, "swap.aborted")
    assert unlocks(st) == {1: 1, 2: 1, 3: 0}
    assert st.daemon.proc.poll() is None


def unfinished(st):
    """The swaps the store holds as unfinished: {swap: stage}."""
    with sqlite3.connect(f"file:{st.daemon.db}?mode=ro", uri=True, timeout=5) as db:
        return dict(db.execute("SELECT id, stage FROM swaps WHERE ended_at IS NULL"))


def test_sigterm_during_swaps_locks_and_stores_then_takes_up(station):
    # the take wait long enough that the restart comes while the rider may
    # still be there for their charged battery
    config = {"swap": dict(FAST["swap"], take_timeout_s=60)}
    st = station(slots=4, batteries={1: dict(battery=5301, **CHARGED),
                                     2: dict(battery=5302, soc=99, soh=97)}, config=config)
    wait_read(st, {1: 5301, 2: 5302})
    _, a = start_swap(st, "u-a")
    wait_unlocked(st, a["slot_in"])
    assert st.rider_return(a["slot_in"], 93, soc=11, soh=90)["ok"]
    wait_unlocked(st, a["slot_out"])
    # a second rider scanned, their door opened, and the update comes
    _, b = start_swap(st, "u-b", after=st.last_seq())
    wait_unlocked(st, b["slot_in"])
    # the bolts moved in rack-sim; swapd's stages follow when it reads them back
    want = {a["swap"]: "wait_take", b["swap"]: "wait_insert"}
    wait_until(lambda: unfinished(st) == want, 5, f"the stages {want}")

    code, took = st.stop(timeout=5)  # systemd's TimeoutStopSec
    assert code == 0 and took < 5
    # swapd locked them itself: the controllers' own watchdog (5 s) has not run out
    assert all(bolts(st).values()), f"a door left unlocked by the stop: {bolts(st)}"
    assert unfinished(st) == {a["swap"]: "wait_take", b["swap"]: "wait_insert"}
    before = unlocks(st)
    assert before[a["slot_out"]] == 1 and before[b["slot_in"]] == 1

    st.restart()
    # b's rider put nothing in: aborted, its empty slot not opened again
    x = aborted(st, b["swap"], 10)
    assert (x["reason"], x["stage"]) == ("restart", "wait_insert")
    # a's rider is still there for the charged battery: unlocked again for them
    wait_unlocked(st, a["slot_out"])
    assert st.rider_take(a["slot_out"])["battery"] == 5300 + a["slot_out"]
    _, _, c = st.wait_event("swap.completed", pred=lambda c: c["swap"] == a["swap"])
    assert (c["battery_in"], c["soc_in"]) == ("BAT-00093", 11)
    wait_locked(st)
    assert not unfinished(st)
    after = unlocks(st)
    assert after[a["slot_out"]] == 2 and after[b["slot_in"]] == 1 and after[a["slot_in"]] == 1
    assert [p["swap"] for _, p in events(st, "swap.aborted")] == [b["swap"]]

"""End to end: the swap flow of issue 10 against the real swapd, rack-sim
and the kiosk's scanner on a pty (station.py). Riders act with rack-sim's
rider verbs; what swapd decided is read where the fleet and the people see
it: the outbox, `swapctl swaps` and `swapctl batteries`, and rack-sim's
own truth about every door (the bolt, and how often its actuator let go).

Each case of the issue's "Done when": a full swap; three at once; a rider
who never inserts; a door closed empty; a charged battery not taken; a
replayed token; a token for another station; a staff override; a
transport job; a quarantine on low SOH; a swap refused during the
emergency stop. Then a SIGHUP during a swap (nothing disturbed) and a
SIGTERM during two (doors locked, stages stored, one taken up and one
aborted at the next start).

The waits are the configured minimums (CONFIG.md) so the file stays
short; nothing sleeps, every wait is on the thing itself with a timeout."""
import signal
import sqlite3
import subprocess

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
    wait_until(lambda: not st.sim_slot(slot)["lock_closed"], timeout, f"slot {slot} unlocked")


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
    st = station(slots=2, batteries={1: dict(battery=4401, **CHARGED)}, config=FAST)
    wait_read(st, {1: 4401})
    tok, p = start_swap(st, "u-1")
    wait_unlocked(st, p["slot_in"])
    a = aborted(st, p["swap"], INSERT_S + 5)
    assert (a["reason"], a["stage"]) == ("insert_timeout", "wait_insert")
    wait_locked(st)
    assert unlocks(st) == {1: 0, 2: 1}, "the charged battery's door moved"
    assert not events(st, "swap.completed")
    assert ledger(st)["BAT-04401"]["place"] == "slot"
    assert swap_row(st, p["swap"])["result"] == "aborted"
    # the token was used by the swap that started: never a second one
    assert st.scanned(tok) == "replayed"


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
    st = station(slots=3, batteries={1: dict(battery=4601, **CHARGED)}, config=FAST)
    wait_read(st, {1: 4601})
    _, p = start_swap(st, "u-1")
    wait_unlocked(st, 2)
    assert st.rider_return(2, 88, soc=15, soh=92)["ok"]
    wait_unlocked(st, 1)
    a = aborted(st, p["swap"], TAKE_S + 5)
    assert (a["reason"], a["stage"]) == ("battery_out_timeout", "wait_take")
    wait_locked(st)
    # back in stock: in its slot, free, and the next rider gets it
    b = ledger(st)
    assert (b["BAT-04601"]["place"], b["BAT-04601"]["slot"]) == ("slot", 1)
    assert (b["BAT-00088"]["place"], b["BAT-00088"]["slot"]) == ("slot", 2)
    wait_until(lambda: slots_of(st.daemon)[1]["state"] == "charged", 5, "slot 1 charged again")
    wait_seen_locked(st)
    _, q = start_swap(st, "u-2")
    assert (q["slot_in"], q["slot_out"]) == (3, 1)

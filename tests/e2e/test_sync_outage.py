"""End to end: issue 11's outage test. A whole station (station.py:
rack-sim, the scanner pty, swapd) swaps batteries for riders while its fleet
link lives through what a cellular station meets, and a fleet consumer
nobody here wrote (mosquitto_sub) ends with every event, in order.

The story, each step while swaps are under way:
  boot 1, broker up:   swap A whole; swap B started, then swapd SIGKILLed:
                       the broker publishes the Last Will naming boot 1.
  boot 2, broker up:   B aborted by the restart; swap C started, its
                       battery returned; then the broker stops.
  boot 2, broker down: C's charged battery taken; swap D started and its
                       battery returned; swapd SIGKILLed again.
  boot 3, broker down: D taken up and finished; swap E whole.
  boot 3, broker back: the backlog, then the samples kept meanwhile
                       ("historical":true); swap F whole, live.

What it proves, and what it does not. The consumer is started before
swapd and runs to the end, as a fleet backend does: a fixed client id,
clean session off, QoS 1, so the broker keeps its subscription and queues
for it while it is away. The broker is stopped with SIGTERM and given a
persistence file (test_sync.Broker), so its restart keeps that session:
a broker upgrade or restart, not a broker that loses what it acknowledged
(once the broker sent PUBACK the message is the broker's to keep, and
swapd rightly forgot it). Each connection of swapd is a clean session
with no memory: what arrives after the restart comes from swapd's store
(the outbox resent from its oldest unacknowledged event, rows written by
boots 2 and 3 while nothing could be sent, one of them SIGKILLed), through
a window of 3 so that the backlog needs several refills. The Will that
tells of a SIGKILL is boot 1's, killed while connected; boot 2's is
published by mosquitto itself when it stops (it sends its connected
clients' Wills then), and boot 2's SIGKILL, while the broker was down,
only shows in boot 3's status and unclean_shutdown start. Nothing
waits by sleeping: the subscriber's output, swapd's control socket, its
store and rack-sim are watched with deadlines."""
import signal
import time

import pytest

from station import STATION, broker, station  # noqa: F401 (the fixtures)
from swapd_fixture import wait_until
from test_swap import swap_row, wait_read, wait_seen_locked, wait_unlocked
from test_sync import Sub

SWAP = {"insert_timeout_s": 30, "take_timeout_s": 30, "door_close_timeout_s": 5,
        "unlock_timeout_s": 2}
CHARGED = {n: dict(battery=7000 + n, soc=100 - n, soh=97) for n in range(1, 6)}


@pytest.fixture
def fleet(broker):
    """The fleet's consumer, subscribed before swapd starts."""
    s = Sub(broker.port, "fleet-outage", sid=STATION)
    yield s
    s.close()


def event(st, fleet, type, pred, timeout=10):
    """The payload of the first event of this type matching pred, wherever
    it is first found: received by the fleet, or still in the outbox."""
    found = []

    def look():
        found[:] = [p for p in fleet.of("event") if p["type"] == type and pred(p)][:1] or \
            [p for _, t, p in st.outbox_events() if t == type and pred(p)][:1]
        return bool(found)
    wait_until(look, timeout, f"a {type} event")
    return found[0]


def wait_all_read(st):
    """Until swapd has read every slot since its start (both register
    blocks): before that a scan is told "starting"."""
    wait_until(lambda: all(s["online"] and s.get("health_read_at")
                           for s in st.request("slots")["result"]["slots"]), 10,
               "swapd to read every slot after its start")


def sync(st):
    return st.request("sync")["result"]


def begin(st, fleet, user):
    """A rider's S token scanned and accepted: swap.started's payload. A
    refusal names swapd's ledger warnings, its open faults and its slots:
    what can make an empty slot unusable."""
    wait_seen_locked(st)
    verdict = st.scanned(st.token("S", subject=user))
    assert verdict == "ok", (verdict, [l for l in st.log.lines if "ledger:" in l],
                             st.request("faults")["result"], st.request("slots")["result"])
    return event(st, fleet, "swap.started", lambda p: p["user"] == user)


def give(st, swap, battery):
    """The rider returns battery; the charged one's door opens."""
    wait_unlocked(st, swap["slot_in"])
    assert st.rider_return(swap["slot_in"], battery, soc=12, soh=90)["ok"]
    wait_unlocked(st, swap["slot_out"])


def take(st, fleet, swap):
    """The rider takes the charged battery: swap.completed's payload."""
    assert st.rider_take(swap["slot_out"])["ok"]
    return event(st, fleet, "swap.completed", lambda p: p["swap"] == swap["swap"])


def at_stage(st, swap, stage):
    """Until swapd itself has the swap at this stage (rack-sim's bolt moves
    a poll before swapd reads it)."""
    wait_until(lambda: swap_row(st, swap["swap"])["stage"] == stage, 10,
               f"swap {swap['swap']} at {stage}")


def whole(st, fleet, user, battery):
    s = begin(st, fleet, user)
    give(st, s, battery)
    return s, take(st, fleet, s)


def caught_up(st, fleet):
    """Until the fleet has every event made so far, each acknowledged."""
    n = last_seq(st)
    wait_until(lambda: sync(st)["outbox"] == 0 and any(p["seq"] == n for p in fleet.of("event")),
               10, f"the fleet to have seq {n}")


def save(broker):
    """mosquitto writes its persistence file on SIGUSR1 (as its autosave
    would): the fleet's session and its subscription, which a SIGKILLed
    broker then comes back with."""
    db = broker.dir / "mosquitto.db"

    def stamp():
        try:
            st = db.stat()
            return (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            return None
    before = stamp()
    broker.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: stamp() not in (None, before), 10, "mosquitto's persistence file written")


def first_type(st, seq):
    return next(t for s, t, _ in st.outbox_events() if s == seq)


def last_seq(st):
    return st.daemon.sql("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")[0][0]


def live(fleet, kind):
    """Messages of a kind as published while the consumer was subscribed
    (not the retained copies a new subscription gets)."""
    with fleet.lock:
        return [p for (t, r, p) in fleet.msgs if t == kind and not r]


def test_outage_with_swaps_under_way(station, broker, fleet):
    t0 = time.monotonic()
    st = station(slots=6, batteries=CHARGED, config={"swap": SWAP, "sync": {
        "host": "127.0.0.1", "port": broker.port, "backoff_min_ms": 100, "backoff_max_ms": 500,
        "keepalive_s": 5, "inflight": 3, "telemetry_interval_s": 1,
        "offline_telemetry_interval_s": 1}})
    wait_read(st, {n: b["battery"] for n, b in CHARGED.items()})
    boot1 = st.request("status")["result"]["boot"]
    swaps = {}

    # boot 1, broker up: events flow live
    swaps["A"], done_a = whole(st, fleet, "u-a", 601)
    fleet.wait(lambda: any(p["type"] == "swap.completed" for p in fleet.of("event")), 10,
               "swap A's completion received live")
    swaps["B"] = begin(st, fleet, "u-b")
    at_stage(st, swaps["B"], "wait_insert")
    st.kill9()
    fleet.wait(lambda: fleet.of("status")[-1] == {"online": False, "boot": boot1}, 10,
               "the Last Will of boot 1")

    # boot 2, broker up: B ended by the restart; C under way when the broker goes
    st.restart()
    wait_all_read(st)
    boot2 = st.request("status")["result"]["boot"]
    fleet.wait(lambda: any(p["type"] == "swap.aborted" for p in fleet.of("event")), 10,
               "swap B's abort received live")
    swaps["C"] = begin(st, fleet, "u-c")
    give(st, swaps["C"], 602)
    # the link stalls (the broker frozen): C's end is published and never
    # acknowledged; then the broker is SIGKILLed with it unread
    caught_up(st, fleet)
    save(broker)
    broker.proc.send_signal(signal.SIGSTOP)
    sent = sync(st)["published"]
    done_c = take(st, fleet, swaps["C"])
    wait_until(lambda: sync(st)["published"] > sent, 5, "C's end published on the stalled link")
    r = sync(st)
    assert r["inflight"] == 1 and r["acknowledged"] == sent and r["state"] == "connected"
    stalled = r["oldest_unacked"]
    broker.proc.kill()
    broker.proc.wait()
    wait_until(lambda: sync(st)["state"] != "connected", 10, "swapd to see the broker gone")
    assert sync(st)["oldest_unacked"] == stalled

    # boot 2, broker down: D under way when swapd is SIGKILLed
    swaps["D"] = begin(st, fleet, "u-d")
    give(st, swaps["D"], 603)
    at_stage(st, swaps["D"], "wait_take")
    wait_until(lambda: sync(st)["telemetry"]["samples_kept"] >= 1, 10, "a sample kept by boot 2")
    st.kill9()

    # boot 3, broker still down: D taken up and finished, E whole
    st.restart()
    wait_all_read(st)
    boot3 = st.request("status")["result"]["boot"]
    assert st.wait_log(lambda l: f"swap {swaps['D']['swap']}: taken up at stage wait_take" in l,
                       10), "swap D not taken up"
    wait_unlocked(st, swaps["D"]["slot_out"])
    done_d = take(st, fleet, swaps["D"])
    swaps["E"], done_e = whole(st, fleet, "u-e", 604)
    wait_until(lambda: sync(st)["telemetry"]["samples_kept"] >= 1, 10, "a sample kept by boot 3")
    backlog = last_seq(st)
    waiting = [s for s, _, _ in st.outbox_events()]
    assert waiting == list(range(waiting[0], backlog + 1)) and sync(st)["state"] != "connected"
    seen_before = {p["seq"] for p in fleet.of("event")}
    assert waiting[0] == stalled == max(seen_before) + 1, (waiting, seen_before, stalled)
    assert first_type(st, stalled) == "swap.completed"

    # boot 3, broker back: the backlog, the kept samples, and F live
    broker.start()  # from its file
    fleet.wait(lambda: [b["boot"] for b in live(fleet, "birth")][-1:] == [boot3], 10,
               "boot 3's birth")
    swaps["F"], done_f = whole(st, fleet, "u-f", 605)
    n = last_seq(st)
    fleet.wait(lambda: any(p["seq"] == n for p in fleet.of("event")), 20, f"seq {n}")
    wait_until(lambda: sync(st)["outbox"] == 0 and sync(st)["telemetry"]["kept"] == 0, 20,
               "the outbox and the kept samples acknowledged")
    fleet.wait(lambda: any(t.get("historical") for t in fleet.of("telemetry")), 10,
               "historical telemetry")
    code, _ = st.stop()
    assert code == 0
    fleet.wait(lambda: live(fleet, "status")[-1:] == [{"online": False, "boot": boot3}], 10,
               "boot 3's offline status at its clean stop")
    elapsed = time.monotonic() - t0
    with fleet.lock:
        msgs = list(fleet.msgs)

    # the consumer lived through it all and subscribed again after the restart
    assert fleet.proc.poll() is None and fleet.subacks >= 2

    # every seq from 1 to n, first seen in order; a repeat is the same event
    events = [(i, p) for i, (t, _, p) in enumerate(msgs) if t == "event"]
    first, where = {}, {}
    for i, p in events:
        assert p["id"] == f"{STATION}:{p['seq']}"
        if p["seq"] in first:
            assert p == first[p["seq"]], "a replay differs from the event first sent"
        else:
            first[p["seq"]], where[p["seq"]] = p, i
    assert list(first) == list(range(1, n + 1)), [p["seq"] for _, p in events]

    # the story as the fleet reads it, each event stamped by the boot that made it
    story = [(p["type"], p.get("swap"), p["boot"]) for p in first.values()
             if p["type"] in ("station.started", "swap.started", "swap.completed", "swap.aborted")]
    sid = {k: s["swap"] for k, s in swaps.items()}
    assert story == [
        ("station.started", None, boot1),
        ("swap.started", sid["A"], boot1), ("swap.completed", sid["A"], boot1),
        ("swap.started", sid["B"], boot1),
        ("station.started", None, boot2), ("swap.aborted", sid["B"], boot2),
        ("swap.started", sid["C"], boot2), ("swap.completed", sid["C"], boot2),
        ("swap.started", sid["D"], boot2),
        ("station.started", None, boot3), ("swap.completed", sid["D"], boot3),
        ("swap.started", sid["E"], boot3), ("swap.completed", sid["E"], boot3),
        ("swap.started", sid["F"], boot3), ("swap.completed", sid["F"], boot3)], story
    starts = [p["reason"] for p in first.values() if p["type"] == "station.started"]
    assert starts == ["start", "unclean_shutdown", "unclean_shutdown"]
    aborted = next(p for p in first.values() if p["type"] == "swap.aborted")
    assert (aborted["reason"], aborted["stage"]) == ("restart", "wait_insert")
    for done, battery in ((done_a, 601), (done_c, 602), (done_d, 603), (done_e, 604),
                          (done_f, 605)):
        got = next(p for p in first.values() if p["type"] == "swap.completed"
                   and p["swap"] == done["swap"])
        assert got["battery_in"] == f"BAT-{battery:05d}" and got["soc_in"] == 12
    outs = [p["battery_out"] for p in first.values() if p["type"] == "swap.completed"]
    assert sorted(outs) == [f"BAT-{7000 + k:05d}" for k in range(1, 6)]

    # status: online, boot 1's Will, online for boots 2 and 3, and boot
    # 3's clean stop's own offline status. Boot 2 has no Will: the broker
    # holding its connection was SIGKILLed, and boot 2 died while no broker
    # ran; the fleet learns of it from boot 3's status and its start's
    # unclean_shutdown.
    status = []
    for p in live(fleet, "status"):
        if status[-1:] != [(p["online"], p["boot"])]:
            status.append((p["online"], p["boot"]))  # a QoS 1 repeat aside
    assert status == [(True, boot1), (False, boot1), (True, boot2), (True, boot3),
                      (False, boot3)], status
    # a birth from each boot at its connect: after its status, before the
    # first event it made, boot 3's naming the seq after the backlog
    births = [(i, p) for i, (t, r, p) in enumerate(msgs) if t == "birth" and not r]
    assert [p["boot"] for _, p in births] == [boot1, boot2, boot3]
    for (i, b), boot in zip(births, (boot1, boot2, boot3)):
        online = next(j for j, (t, r, p) in enumerate(msgs)
                      if t == "status" and not r and p == {**p, "online": True, "boot": boot})
        made = min(where[s] for s, p in first.items() if p["boot"] == boot)
        assert online < i < made, (boot, online, i, made)
    assert births[2][1]["seq_next"] == backlog + 1

    # the samples kept during the outage: after every event of the backlog,
    # oldest first, kept by boots 2 and 3 in the store
    hist = [i for i, (t, _, p) in enumerate(msgs) if t == "telemetry" and p.get("historical")]
    assert len(hist) >= 2
    assert max(where[s] for s in range(1, backlog + 1)) < min(hist), \
        "historical telemetry came before the backlog's events"
    stamps = [msgs[i][2]["ts"] for i in hist]
    assert stamps == sorted(stamps), stamps
    assert all(len(msgs[i][2]["slots"]) == 6 for i in hist)
    assert elapsed < 60, f"the outage test took {elapsed:.1f} s"
    print(f"outage: {n} events, {len(events) - n} repeated, {len(hist)} historical samples, "
          f"{elapsed:.1f} s")

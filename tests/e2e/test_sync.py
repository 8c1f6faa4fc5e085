"""End to end: fleet sync (issue 11, shared/spec/mqtt.md) against a real
mosquitto broker the test starts on a free loopback port with its own
config, and a subscriber nobody here wrote (mosquitto_sub). Status and the
Last Will, birth on every connect, events in seq order with the contract's
fields, a clean stop saying offline, a broker that accepts TCP and then says
nothing, the outbox cap, and the outage: events made while the broker is
down and across a SIGKILL of swapd all arrive, in order, none missing."""
import getpass
import json
import os
import re
import signal
import shutil
import socket
import subprocess
import threading

import pytest

from swapd_fixture import Daemon, wait_until
from conftest import read_line, stop

SID = "ST-TEST-1"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# The broker is in /usr/sbin, which is not on an unprivileged user's PATH.
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto on a loopback port, persisting sessions in its directory so
    that a restart keeps what it owes a persistent subscriber. `user` keeps
    it as us when started as root (it would drop to "mosquitto", which
    cannot write the test's directory, and lose the sessions)."""

    def __init__(self, tmp, port=None):
        self.dir = tmp / "broker"
        self.dir.mkdir(exist_ok=True)
        self.port = port or free_port()
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                             f"persistence true\npersistence_location {self.dir}/\n"
                             f"max_queued_messages 0\nuser {getpass.getuser()}\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        wait_until(up, 10, "mosquitto listening")
        return self

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.proc = None


class Sub:
    """mosquitto_sub on swap/v1/<sid>/#, at QoS 1, as a persistent session;
    every message is kept as (topic, retained, payload). Line-buffered
    (stdbuf) so that each message and the SUBACK show as they come.
    `subacks` counts its subscriptions: it subscribes again after each
    reconnect of its own."""

    def __init__(self, port, client_id="fleet-test", sid=SID):
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-p", str(port), "-h", "127.0.0.1", "-q", "1", "-c", "-i", client_id,
             "-d", "-F", "M\t%t\t%r\t%p", "-t", f"swap/v1/{sid}/#"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.msgs = []
        self.subacks = 0
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.subscribed.wait(10):
            self.close()
            raise AssertionError("mosquitto_sub did not subscribe")

    def _read(self):
        while True:
            line = read_line(self.proc.stdout, 3600)
            if line is None:
                return
            if "received SUBACK" in line:
                self.subacks += 1
                self.subscribed.set()
            if line.startswith("M\t"):
                _, topic, retained, payload = line.split("\t", 3)
                with self.lock:
                    self.msgs.append((topic.rsplit("/", 1)[1], retained == "1",
                                      json.loads(payload)))

    def of(self, kind):
        with self.lock:
            return [p for (t, _, p) in self.msgs if t == kind]

    def wait(self, pred, timeout, what):
        wait_until(pred, timeout, what)

    def close(self):
        stop(self.proc)


def sync_config(d, port, **extra):
    cfg = d.default_config()
    cfg["sync"] = {"host": "127.0.0.1", "port": port, "backoff_min_ms": 100,
                   "backoff_max_ms": 500, "keepalive_s": 5, **extra}
    return cfg


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def sub(broker):
    s = Sub(broker.port)
    yield s
    s.close()


@pytest.fixture
def daemon(tmp_path, broker):
    d = Daemon(tmp_path)
    d.write_config(sync_config(d, broker.port))
    yield d
    d.close()


def boot_of(d):
    return d.request("status")["result"]["boot"]


def test_status_birth_events_and_the_will(daemon, sub):
    daemon.start()
    boot = boot_of(daemon)
    sub.wait(lambda: any(e["seq"] == 1 for e in sub.of("event")), 10, "station.started")
    status = sub.of("status")[-1]
    assert status["online"] is True and status["boot"] == boot and TIME.match(status["since"])
    birth = sub.of("birth")[-1]
    assert birth["boot"] == boot and birth["seq_next"] == 2 and birth["models"] == []
    assert birth["slots"] == [] and len(birth["config_digest"]) == 64
    ev = sub.of("event")[0]
    assert ev["id"] == f"{SID}:1" and ev["type"] == "station.started" and ev["boot"] == boot
    assert ev["reason"] == "start" and TIME.match(ev["ts"])
    r = daemon.request("sync")["result"]
    wait_until(lambda: daemon.request("sync")["result"]["outbox"] == 0, 5, "the outbox drained")
    assert r["state"] == "connected" and r["window"] == 20

    # SIGKILL: the broker publishes the Will, naming the boot that died
    daemon.kill()
    sub.wait(lambda: sub.of("status")[-1] == {"online": False, "boot": boot}, 10, "the Last Will")

    # the next run connects again: status and birth again, then its start
    daemon.start()
    boot2 = boot_of(daemon)
    sub.wait(lambda: any(e["seq"] == 2 for e in sub.of("event")), 10, "the second start")
    assert sub.of("status")[-1]["boot"] == boot2 and sub.of("status")[-1]["online"]
    assert [b["boot"] for b in sub.of("birth")] == [boot, boot2]
    assert sub.of("event")[1]["reason"] == "unclean_shutdown"


def test_retained_status_and_birth_for_a_late_subscriber(daemon, broker):
    daemon.start()
    boot = boot_of(daemon)
    wait_until(lambda: daemon.request("sync")["result"]["acknowledged"] >= 1, 10, "a PUBACK")
    late = Sub(broker.port, "late")
    try:
        late.wait(lambda: late.of("birth") and late.of("status"), 10, "retained messages")
        retained = {t: r for (t, r, _) in late.msgs}
        assert retained["status"] and retained["birth"]
        assert late.of("birth")[0]["boot"] == boot
    finally:
        late.close()


def test_clean_stop_says_offline(daemon, sub):
    daemon.start()
    boot = boot_of(daemon)
    sub.wait(lambda: sub.of("status"), 10, "online status")
    code, took = daemon.stop()
    assert code == 0 and took < 2
    sub.wait(lambda: sub.of("status")[-1] == {"online": False, "boot": boot}, 10,
             "the offline status")
    # the stop's own event waits in the outbox for the next run
    assert daemon.sql("SELECT type FROM outbox") == [("station.stopping",)]


def test_a_broker_that_says_nothing_never_stalls_the_loop(tmp_path):
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)  # accepts TCP in the kernel and never answers
    d = Daemon(tmp_path)
    d.write_config(sync_config(d, mute.getsockname()[1], connect_timeout_s=1))
    try:
        d.start()
        wait_until(lambda: "no CONNACK" in (d.request("sync")["result"]["last_error"] or ""),
                   10, "the connect timeout")
        r = d.request("sync")["result"]
        assert r["state"] in ("waiting", "connecting")
        health = {s["name"]: s for s in d.request("status")["result"]["subsystems"]}
        assert health["sync"]["state"] == "degraded"
        assert d.stop()[0] == 0
    finally:
        d.close()
        mute.close()


def test_without_a_sync_section_it_is_disabled(tmp_path):
    d = Daemon(tmp_path)
    try:
        d.start()
        assert d.request("sync")["result"] == {"state": "disabled"}
        health = {s["name"]: s for s in d.request("status")["result"]["subsystems"]}
        assert health["sync"]["state"] == "disabled"
    finally:
        d.close()


def make_events(d, first, n):
    """2n fleet events: n reservations joining the queue and leaving it."""
    for i in range(first, first + n):
        r = d.request("queue-reserve", user=f"u-{i:04d}", nonce=f"nonce{i:04d}", eta_s=300)
        assert r["ok"], r
        assert d.request("queue-cancel", ticket=r["result"]["ticket"])["ok"]


def test_outage_nothing_lost_nothing_reordered(daemon, broker, sub):
    daemon.start()
    make_events(daemon, 0, 10)
    wait_until(lambda: daemon.request("sync")["result"]["outbox"] == 0, 10, "the first drain")
    # a broker restart: swapd comes back by itself, with a new birth
    broker.stop()
    broker.start()
    wait_until(lambda: daemon.request("sync")["result"]["reconnects"] == 1, 10, "a reconnect")
    sub.wait(lambda: len(sub.of("birth")) >= 2, 10, "a birth after the reconnect")

    broker.stop()
    make_events(daemon, 10, 10)
    r = daemon.request("sync")["result"]
    assert r["state"] != "connected" and r["outbox"] >= 20 and r["last_error"]
    health = {s["name"]: s for s in daemon.request("status")["result"]["subsystems"]}
    assert health["sync"]["state"] == "degraded"
    daemon.kill()  # what waited in memory is gone; the store is the truth
    daemon.start()
    make_events(daemon, 20, 10)
    # the fleet's consumer comes back to its persistent session, which the
    # broker kept over its restart with what swapd sent in between (closed
    # first, so that no message goes to the old one after its list is read)
    sub.close()
    seen = [e["seq"] for e in sub.of("event")]
    broker.start()
    back = Sub(broker.port)
    try:
        last = daemon.sql("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")[0][0]
        back.wait(lambda: any(e["seq"] == last for e in back.of("event")), 30, f"seq {last}")
        wait_until(lambda: daemon.request("sync")["result"]["outbox"] == 0, 10, "the drain")
        seen += [e["seq"] for e in back.of("event")]
    finally:
        back.close()
    first = []
    for s in seen:
        if s not in first:
            first.append(s)
    assert first == list(range(1, last + 1)), seen
    assert daemon.stop()[0] == 0


def test_at_the_outbox_cap_sync_fails_and_every_event_stays(tmp_path):
    port = free_port()
    d = Daemon(tmp_path)
    d.write_config(sync_config(d, port, outbox_cap=100))
    broker = Broker(tmp_path, port)
    try:
        d.start()  # no broker yet: events gather
        make_events(d, 0, 50)  # 100 events and the start's: over the cap
        r = d.request("sync")["result"]
        assert r["outbox_full"] and r["outbox"] == 101 and r["oldest_unacked"] == 1
        health = {s["name"]: s for s in d.request("status")["result"]["subsystems"]}
        assert health["sync"]["state"] == "failed" and "outbox full" in health["sync"]["detail"]
        broker.start()
        wait_until(lambda: d.request("sync")["result"]["outbox"] == 0, 20, "the drain")
        assert not d.request("sync")["result"]["outbox_full"]
        health = {s["name"]: s for s in d.request("status")["result"]["subsystems"]}
        assert health["sync"]["state"] == "ok"
        assert d.stop()[0] == 0
    finally:
        d.close()
        broker.stop()

"""A whole station for the end-to-end tests of the swap flow (issue 10) and
its benchmark: rack-sim with N slots and batteries placed in them, the
kiosk's QR scanner on a pty pair, a key file and swaptoken to make S, B and
T tokens, and the real swapd with rack, scanner and tokens configured.

    st = station(slots=4, batteries={1: dict(battery="0xA1", soc=95, soh=97)})
    st.scan(st.token("S", subject="u-1"))          # typed on the scanner pty
    seq, typ, payload = st.wait_event("swap.started")
    st.rider_return(payload["slot_in"], "0xC0FFEE", soc=12)
    st.kill9(); st.restart()

What the test cannot be told about (a row in the outbox, a door in
rack-sim) it waits for by looking every few ms, with a timeout; swapd's log
is read as it comes, by a thread, so that a long run never blocks swapd on
a full pipe.
"""
import base64
import json
import os
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import ROOT, bin_path, read_line, stop
from swapd_fixture import Daemon, RackSim, rack_config, read_reply, slots_of, wait_until
from test_sync import SID, Broker, free_port

STATION = "ST-DEL-001"
KID = "k1"
K1 = base64.b64encode(bytes(range(32))).decode()  # token.md's test key k1
PROFILE = os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")


class Fleet:
    """mosquitto_sub on the replies and the events of station sid;
    mosquitto_pub to send. Payloads that are not JSON are kept as text."""

    def __init__(self, port, sid=SID):
        self.port = port
        self.cmd = f"swap/v1/{sid}/cmd"
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-p", str(port), "-h", "127.0.0.1", "-q", "1",
             "-d", "-F", "M\t%t\t%p", "-t", f"{self.cmd}/reply", "-t", f"swap/v1/{sid}/event",
             "-t", f"swap/v1/{sid}/birth"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.msgs = []
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
                self.subscribed.set()
            if line.startswith("M\t"):
                _, topic, payload = line.split("\t", 2)
                with self.lock:
                    self.msgs.append((topic.rsplit("/", 1)[1], json.loads(payload)))

    def of(self, kind):
        with self.lock:
            return [p for (t, p) in self.msgs if t == kind]

    def replies(self, cid):
        return [r for r in self.of("reply") if r.get("id") == cid]

    def rejections(self):
        return [e for e in self.of("event") if e["type"] == "cmd.rejected"]

    def send_raw(self, payload, topic=None):
        args = ["mosquitto_pub", "-p", str(self.port), "-h", "127.0.0.1", "-q", "1",
                "-t", topic or self.cmd]
        if isinstance(payload, bytes) and len(payload) > 4096:
            subprocess.run(args + ["-s"], input=payload, check=True, timeout=10)
        else:
            subprocess.run(args + ["-m", payload], check=True, timeout=10)

    def send(self, cid, cmd, **args):
        self.send_raw(json.dumps({"id": cid, "cmd": cmd, "args": args}))

    def ask(self, cid, cmd, **args):
        """Sends a command and waits for its (next) reply."""
        n = len(self.replies(cid))
        self.send(cid, cmd, **args)
        wait_until(lambda: len(self.replies(cid)) > n, 10, f"the reply to {cid}")
        return self.replies(cid)[n]

    def close(self):
        stop(self.proc)


class LogPump:
    """swapd's stderr, read line by line as it comes into `lines`."""

    def __init__(self, stream):
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        for raw in iter(stream.readline, b""):
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()

    def wait(self, pred, timeout, start=0):
        """The first line from index start on matching pred, or None."""
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return self.lines[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


class Station:
    """rack-sim, a scanner pty, keys and swapd in directory tmp.

    batteries: {slot: properties of rack-sim's insert verb} (battery id
    required; soc, soh, cycles, temperature...), placed with the service key
    behind closed, locked doors. config: sections merged into swapd's config
    (a dict section updates the one there)."""

    def __init__(self, tmp, slots=4, batteries=None, baud=115200, config=None, sim_extra=()):
        self.dir = str(tmp)
        self.slots = slots
        self.baud = baud
        self.sim = RackSim(tmp, slots=slots, baud=baud, extra=sim_extra)
        self.daemon = Daemon(tmp)
        self.keys = os.path.join(self.dir, "keys.json")
        with open(self.keys, "w") as f:
            json.dump({"keys": [{"kid": KID, "secret": K1}]}, f)
        os.chmod(self.keys, 0o600)
        self.scanner, self._scanner_slave = os.openpty()
        cfg = rack_config(self.daemon, self.sim, PROFILE, slots=slots, baud=baud)
        cfg["station"]["id"] = STATION
        cfg["tokens"] = {"keys": self.keys}
        cfg["scanner"] = {"backend": "tty", "device": os.ttyname(self._scanner_slave),
                          "dedup_ms": 1000}
        for k, v in (config or {}).items():
            if isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k].update(v)
            else:
                cfg[k] = v
        self.config = cfg
        self.daemon.write_config(cfg)
        self.log = None
        self._batteries = batteries or {}

    # --- life cycle

    def start(self):
        self.sim.start()
        for slot, props in self._batteries.items():
            self.sim.op("insert", slot=slot, force=True, **props)
        self._start_swapd()
        return self

    def _start_swapd(self):
        self.daemon.start()
        self.ready_at = time.monotonic()  # READY=1 received
        self.log = LogPump(self.daemon.proc.stderr)
        wait_until(lambda: all(s["online"] for s in slots_of(self.daemon).values()), 20,
                   "every slot online in swapd")

    @property
    def pid(self):
        return self.daemon.proc.pid

    def kill9(self):
        """SIGKILL swapd and reap it; rack-sim, the scanner and the store stay."""
        self.daemon.kill()

    def restart(self):
        """Starts swapd again on the same config and store, until it is
        ready and polls every slot; one still running is SIGKILLed first."""
        if self.daemon.proc.poll() is None:
            self.daemon.kill()
        self._start_swapd()

    def stop(self, timeout=2):
        """SIGTERM; returns (exit code, seconds it took)."""
        return self.daemon.stop(timeout)

    def close(self):
        self.daemon.close()
        self.sim.kill()
        os.close(self.scanner)
        os.close(self._scanner_slave)

    # --- tokens and the scanner

    def token(self, kind="S", subject="u-000123", station=STATION, arg=None, ttl=3600, nonce=None,
              now=None):
        """A token signed with the station's key (swaptoken issue)."""
        args = [bin_path("swaptoken"), "issue", "--keys", self.keys, "--kid", KID, "--kind", kind,
                "--station", station, "--subject", subject, "--ttl", str(ttl)]
        for opt, v in (("--arg", arg), ("--nonce", nonce), ("--now", now)):
            if v is not None:
                args += [opt, str(v)]
        r = subprocess.run(args, capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def badge(self, staff="staff-17", role="staff", ttl=86400):
        """A staff badge (B), valid at every station."""
        return self.token("B", subject=staff, station="*", arg=role, ttl=ttl)

    def transport(self, job="job-1", pickup=0, dropoff=0, ttl=86400):
        """A transport job's token (T)."""
        return self.token("T", subject=job, arg=f"p{pickup}d{dropoff}", ttl=ttl)

    def scan(self, token):
        """Types token on the scanner pty as a scanner does, CR LF after it."""
        os.write(self.scanner, token.encode() + b"\r\n")

    def log_mark(self):
        """Where swapd's log is now, for wait_log(start=...)."""
        return len(self.log.lines)

    def wait_log(self, pred, timeout=5, start=0):
        """The first line of swapd's log from start on matching pred, or None."""
        return self.log.wait(pred, timeout, start)

    def scanned(self, token, timeout=10):
        """scan(token), then swapd's verdict from its log ("ok", "replayed"...)."""
        mark = self.log_mark()
        self.scan(token)
        line = self.wait_log(lambda l: "access: scanner scan: " in l, timeout, mark)
        assert line is not None, "no verdict for the scan in swapd's log"
        return line.split("access: scanner scan: ", 1)[1].split()[0]

    # --- swapd

    def request(self, cmd, **args):
        """One control request; the parsed reply."""
        return self.daemon.request(cmd, **args)

    def swapctl(self, *args):
        """Runs swapctl --json against this swapd; the CompletedProcess, with
        .json the parsed output (None when it is not JSON)."""
        r = subprocess.run([bin_path("swapctl"), "-s", self.daemon.sock, "--json", *map(str, args)],
                           capture_output=True, text=True, timeout=10)
        try:
            r.json = json.loads(r.stdout)
        except ValueError:
            r.json = None
        return r

    def outbox_events(self, after=0):
        """The fleet events in the store's outbox with seq > after, oldest
        first: [(seq, type, payload dict)], read through a read-only
        connection."""
        db = sqlite3.connect(f"file:{self.daemon.db}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT seq, type, payload FROM outbox WHERE seq > ? ORDER BY seq",
                              (after,)).fetchall()
        finally:
            db.close()
        return [(seq, typ, json.loads(p) if p else {}) for seq, typ, p in rows]

    def wait_event(self, type, timeout=10, after=0, pred=None):
        """The first outbox event of this type with seq > after (and
        pred(payload) true) once it is there: (seq, type, payload)."""
        found = []

        def look():
            found[:] = [e for e in self.outbox_events(after)
                        if e[1] == type and (pred is None or pred(e[2]))][:1]
            return bool(found)
        wait_until(look, timeout, f"a {type} event in the outbox")
        return found[0]

    def last_seq(self):
        """The seq of the newest event in the outbox, 0 when empty."""
        events = self.outbox_events()
        return events[-1][0] if events else 0

    # --- faults (daemon/FAULTS.md): the fleet's events, swapctl, the kiosk

    def heard(self, type, pred=None):
        """The events of this type the fleet (st.fleet) received so far,
        in order, those matching pred(payload) when given."""
        return [e for e in self.fleet.of("event")
                if e["type"] == type and (pred is None or pred(e))]

    def wait_heard(self, type, pred=None, timeout=10):
        """The first event of this type (matching pred) at the fleet, once
        it is there."""
        wait_until(lambda: self.heard(type, pred), timeout, f"a {type} event at the fleet")
        return self.heard(type, pred)[0]

    def faults(self, all=False):
        """`swapctl faults` (with all=true: the cleared ones too)."""
        out = self.swapctl("faults", *(["all=true"] if all else []))
        assert out.returncode == 0, out.stderr
        return out.json["faults"]

    def fault(self, fault_id):
        """One fault by id from `swapctl faults all=true`."""
        return next(f for f in self.faults(all=True) if f["fault"] == fault_id)

    def wait_action(self, fault_id, action, outcome="ok", timeout=5):
        """The fault's level-1 action once its recorded outcome starts with
        outcome; the action as `swapctl faults` shows it."""
        def match():
            return [a for a in self.fault(fault_id)["actions"]
                    if a["action"] == action and a["outcome"].startswith(outcome)]
        wait_until(match, timeout, f"{action!r}: {outcome!r} on fault {fault_id}")
        return match()[0]

    def kiosk_view(self):
        r = self.swapctl("kiosk-view")
        assert r.returncode == 0, r.stderr
        return r.json.get("result", r.json)

    def staff_session(self, staff="staff-17"):
        """A staff badge scanned at the kiosk: its session's panel opens."""
        assert self.scanned(self.badge(staff)) == "ok"
        wait_until(lambda: self.kiosk_view().get("staff"), 5, "the staff panel")

    def wait_staff_line(self, text, under="faults", timeout=5):
        """The staff panel's line (under faults or tickets) whose text is
        text, once the kiosk shows it."""
        def find():
            staff = self.kiosk_view().get("staff") or {}
            return [x for x in staff.get(under, []) if x["text"] == text]
        wait_until(find, timeout, f"{text!r} under the staff panel's {under}")
        return find()[0]

    # --- the rack and its riders (rack-sim's verbs)

    def sim_slot(self, slot):
        """rack-sim's truth about a slot (its get verb)."""
        return self.sim.op("get", slot=slot)

    def sim_list(self):
        return self.sim.op("list")

    def rider(self, op, slot, wait=True, **args):
        """A rider verb; refused verbs come back as {"ok": false, "error"}.
        With wait, returns once the rider has shut the door again."""
        self.sim.conn.sendall((json.dumps(dict(op=op, slot=slot, **args)) + "\n").encode())
        reply = read_reply(self.sim.conn)
        if wait and reply.get("ok") and reply.get("closes_at") is not None:
            wait_until(lambda: not self.sim_slot(slot)["door_open"], 10 + args.get("dwell", 1),
                       f"the rider to shut slot {slot}")
        return reply

    def rider_return(self, slot, battery, wait=True, **props):
        """A rider returns battery into slot (open, insert, shut)."""
        return self.rider("return", slot, wait, battery=battery, **props)

    def rider_take(self, slot, wait=True, **args):
        """A rider takes the battery in slot; the reply's battery is its id."""
        return self.rider("take", slot, wait, **args)

    def rider_leave_open(self, slot):
        return self.rider("leave_open", slot, False)

    def rider_close_empty(self, slot, wait=True, **args):
        return self.rider("close_empty", slot, wait, **args)


@pytest.fixture
def station(tmp_path):
    """Factory: station(slots=4, batteries={...}, baud=115200, config={...})
    starts a Station and returns it; each one is closed at the end of the
    test, also on failure."""
    made = []

    def start(**kw):
        # the first in tmp_path itself: UNIX socket paths are short
        d = tmp_path / f"st{len(made)}" if made else tmp_path
        d.mkdir(exist_ok=True)
        st = Station(d, **kw)
        made.append(st)
        return st.start()

    yield start
    for st in made:
        st.close()


@pytest.fixture
def broker(tmp_path):
    """mosquitto on a free loopback port, stopped at the end of the test."""
    b = Broker(tmp_path).start()
    yield b
    b.stop()


def sync_section(broker):
    """swapd's sync section for broker, with short reconnect times."""
    return {"host": "127.0.0.1", "port": broker.port, "backoff_min_ms": 100,
            "backoff_max_ms": 500, "keepalive_s": 5}


def kiosk_section():
    """swapd's kiosk section: the shipped page and catalogues, a free port
    (the staff panel's lines are in its catalogue's words)."""
    return {"assets": os.path.join(ROOT, "daemon", "kiosk"), "port": free_port()}


@pytest.fixture
def fleet_station(tmp_path, broker):
    """Factory: fleet_station(slots=3, batteries={...}, config={...},
    before=fn) starts a Station connected to broker (its sync section
    added to config) and returns it once every slot is online and sync is
    connected, with st.fleet a Fleet (mosquitto_sub) on its replies and
    events. before(sim) runs on rack-sim before swapd starts (a battery
    made faulty before swapd ever reads it). Everything is stopped at the
    end of the test, also on failure."""
    made = []

    def start(slots=3, batteries=None, config=None, before=None, **kw):
        cfg = dict(config or {})
        cfg["sync"] = dict(sync_section(broker), **cfg.get("sync", {}))
        d = tmp_path / f"st{len(made)}" if made else tmp_path
        d.mkdir(exist_ok=True)
        st = Station(d, slots=slots, batteries=batteries, config=cfg, **kw)
        st.fleet = None
        made.append(st)
        st.sim.start()
        if before:
            before(st.sim)
        for slot, props in st._batteries.items():
            st.sim.op("insert", slot=slot, force=True, **props)
        st._start_swapd()
        wait_until(lambda: st.request("sync")["result"]["state"] == "connected", 10, "connected")
        st.fleet = Fleet(broker.port, STATION)
        return st

    yield start
    for st in made:
        if st.fleet:
            st.fleet.close()
        st.close()

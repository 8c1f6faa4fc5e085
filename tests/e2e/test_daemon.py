"""End to end: the real swapd binary, its config check, systemd notify
protocol, reload, control socket robustness and crash safety of its store."""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess

import pytest

from conftest import ROOT, bin_path
from swapd_fixture import Daemon, read_reply, wait_until


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    yield d
    d.close()


def run(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=20, **kw)


def test_version():
    r = run(bin_path("swapd"), "-V")
    assert r.returncode == 0
    assert r.stdout.startswith("swapd ")


def test_check_valid_config(daemon):
    r = run(bin_path("swapd"), "-t", "-c", daemon.config_path)
    assert r.returncode == 0, r.stderr
    assert "ok: station ST-TEST-1" in r.stdout
    assert len(r.stdout.strip().splitlines()) == 1


def test_check_example_config(tmp_path):
    # laid out as it is installed: /etc/swapd/{swapd.json,keys.json,profiles/}
    shutil.copy(os.path.join(ROOT, "config/swapd.example.json"), tmp_path / "swapd.json")
    shutil.copytree(os.path.join(ROOT, "config/profiles"), tmp_path / "profiles")
    shutil.copy(os.path.join(ROOT, "config/keys.example.json"), tmp_path / "keys.json")
    os.chmod(tmp_path / "keys.json", 0o600)
    r = run(bin_path("swapd"), "-t", "-c", str(tmp_path / "swapd.json"))
    assert r.returncode == 0, r.stderr
    assert "station ST-DEL-001" in r.stdout
    os.chmod(tmp_path / "keys.json", 0o640)
    r = run(bin_path("swapd"), "-t", "-c", str(tmp_path / "swapd.json"))
    assert r.returncode == 78 and r.stderr.startswith("tokens.keys: ")


def test_check_bad_config_names_key_and_value(daemon):
    cfg = daemon.default_config()
    cfg["log"]["level"] = "loud"
    cfg["control"]["max_clients"] = 0
    cfg["store"]["busy_timeout_ms"] = "fast"
    cfg["colour"] = "red"
    daemon.write_config(cfg)
    r = run(bin_path("swapd"), "-t", "-c", daemon.config_path)
    assert r.returncode == 78
    lines = r.stderr.strip().splitlines()
    assert sorted(lines) == sorted([
        'log.level: "loud" is not one of err, warning, notice, info, debug',
        "control.max_clients: 0 is out of range 1..256",
        'store.busy_timeout_ms: "fast" is not an integer',
        "colour: unknown key",
    ])


def test_check_duplicate_key_is_an_error(daemon):
    text = json.dumps(daemon.default_config())
    daemon.write_config(text[:-1] + ', "store": {"path": "/tmp/elsewhere.db"}}')
    r = run(bin_path("swapd"), "-t", "-c", daemon.config_path)
    assert r.returncode == 78
    assert r.stderr.strip() == "store: duplicate key"


def test_start_with_bad_config_fails(daemon):
    daemon.write_config('{"station": {"id": "ST-1"}, "log": {"level": "info",}}')
    daemon.start(wait_ready=False)
    assert daemon.proc.wait(10) == 78
    assert "JSON syntax error" in daemon.drain_stderr()


def test_ready_status_and_watchdog(tmp_path):
    d = Daemon(tmp_path, watchdog_usec=200000)
    try:
        d.start()
        # the watchdog is kicked at half of WatchdogSec, from the loop
        for _ in range(3):
            assert d.wait_notify(lambda m: m == "WATCHDOG=1", 2) is not None
        st = d.request("status")
        assert st["ok"] and st["result"]["station"] == "ST-TEST-1"
        subs = {s["name"]: s["state"] for s in st["result"]["subsystems"]}
        assert subs == {"store": "ok", "control": "ok", "systemd": "ok", "rack": "disabled",
                        "tokens": "disabled", "swap": "disabled", "queue": "ok",
                        "sync": "disabled"}
        code, took = d.stop()
        assert code == 0 and took < 2
        assert d.wait_notify(lambda m: "STOPPING=1" in m, 2) is not None
    finally:
        d.close()


def test_ready_carries_status(daemon):
    daemon.start(wait_ready=False)
    msg = daemon.wait_notify(lambda m: "READY=1" in m, 10)
    assert msg is not None
    assert "STATUS=ok" in msg.splitlines()


def test_swapctl_status(daemon):
    daemon.start()
    r = run(bin_path("swapctl"), "-s", daemon.sock, "status")
    assert r.returncode == 0, r.stderr
    assert "station ST-TEST-1" in r.stdout
    assert any(line.split()[:2] == ["store", "ok"] for line in r.stdout.splitlines())
    r = run(bin_path("swapctl"), "-s", daemon.sock, "--json", "status")
    st = json.loads(r.stdout)
    assert st["version"] and len(st["config_digest"]) == 64 and st["uptime_s"] >= 0
    r = run(bin_path("swapctl"), "-s", daemon.sock, "no.such.command")
    assert r.returncode == 1
    assert "unknown_command" in r.stderr
    r = run(bin_path("swapctl"), "-s", os.path.join(daemon.dir, "nothing.sock"), "status")
    assert r.returncode == 69
    assert "is swapd running?" in r.stderr


def test_sighup_bad_config_keeps_old(daemon):
    daemon.start()
    old = daemon.request("status")["result"]["config_digest"]
    cfg = daemon.default_config()
    cfg["log"]["level"] = "chatty"
    daemon.write_config(cfg)
    daemon.signal(signal.SIGHUP)
    assert daemon.wait_log(lambda l: "reload rejected" in l) is not None
    assert any('log.level: "chatty" is not one of' in l for l in daemon.stderr_lines)
    assert daemon.request("status")["result"]["config_digest"] == old

    cfg = daemon.default_config()
    cfg["station"]["id"] = "ST-OTHER"
    daemon.write_config(cfg)
    daemon.signal(signal.SIGHUP)
    assert daemon.wait_log(lambda l: "reload rejected" in l) is not None
    assert any("station.id" in l and "needs a restart" in l for l in daemon.stderr_lines)
    assert daemon.request("status")["result"]["station"] == "ST-TEST-1"

    cfg = daemon.default_config()
    cfg["log"]["level"] = "debug"
    daemon.write_config(cfg)
    daemon.signal(signal.SIGHUP)
    assert daemon.wait_log(lambda l: "config reloaded" in l) is not None
    new = daemon.request("status")["result"]["config_digest"]
    assert new != old
    assert daemon.sql("SELECT detail FROM audit WHERE what = 'config.reload'") == [(new,)]


def test_sighup_relative_profile_reloads(daemon):
    # The shipped example uses a relative rack.profile; it once made every
    # reload fail with "changing the rack section needs a restart".
    shutil.copytree(os.path.join(ROOT, "config/profiles"), os.path.join(daemon.dir, "profiles"))
    cfg = daemon.default_config()
    cfg["rack"] = {"device": os.path.join(daemon.dir, "no-bus"),
                   "profile": "profiles/swapd-slot-v1.json",
                   "slots": [{"slot": 1, "unit": 1}]}
    daemon.write_config(cfg)
    daemon.start()
    daemon.signal(signal.SIGHUP)
    line = daemon.wait_log(lambda l: "config reloaded" in l or "reload rejected" in l)
    assert line is not None and "config reloaded" in line, daemon.drain_stderr()

    cfg["rack"]["baud"] = 9600
    daemon.write_config(cfg)
    daemon.signal(signal.SIGHUP)
    assert daemon.wait_log(lambda l: "reload rejected" in l) is not None, daemon.drain_stderr()
    assert any("rack.baud: 9600 differs from the running 19200; changing it needs a restart" in l
               for l in daemon.stderr_lines)


def test_sighup_fifo_config_is_refused_without_hanging(daemon):
    # A FIFO at the config path once blocked the loop in open() for a
    # writer that never came: no control socket, no SIGTERM.
    daemon.start()
    os.unlink(daemon.config_path)
    os.mkfifo(daemon.config_path)
    daemon.signal(signal.SIGHUP)
    assert daemon.wait_log(lambda l: "reload rejected" in l) is not None, daemon.drain_stderr()
    assert any(f"{daemon.config_path}: not a regular file" in l for l in daemon.stderr_lines)
    assert daemon.request("status")["ok"]
    code, took = daemon.stop(timeout=2)
    assert code == 0 and took < 2


def test_check_fifo_config_exits_promptly(tmp_path):
    fifo = str(tmp_path / "swapd.json")
    os.mkfifo(fifo)
    r = subprocess.run([bin_path("swapd"), "-t", "-c", fifo], capture_output=True, text=True,
                       timeout=5)
    assert r.returncode == 78
    assert r.stderr.strip() == f"{fifo}: not a regular file"


def test_control_socket_garbage(daemon):
    daemon.start()
    good = daemon.connect()          # a well-behaved client, connected throughout
    assert daemon.request("status", conn=good)["ok"]

    bad = daemon.connect()
    for junk, code in [(b"hello\n", "bad_request"), (b"\xff\xfe\x00\x01\n", "bad_request"),
                       (b"[1,2,3]\n", "bad_request"), (b'{"cmd": 5}\n', "bad_request"),
                       (b'{"cmd": "status", "args": 7}\n', "bad_request"),
                       (b'{"cmd": "reboot", "id": "x1"}\n', "unknown_command")]:
        bad.sendall(junk)
        reply = read_reply(bad)
        assert reply["ok"] is False and reply["error"] == code, (junk, reply)
    assert reply["id"] == "x1"
    bad.close()

    # a client vanishing mid-line, and one that stalls mid-line
    gone = daemon.connect()
    gone.sendall(b'{"cmd": "sta')
    gone.close()
    stalled = daemon.connect()
    stalled.sendall(b'{"cmd": ')
    assert daemon.wait_log(lambda l: "stalled" in l, 5) is not None
    assert stalled.recv(10) == b""  # dropped after io_timeout_ms
    stalled.close()

    # a line longer than the limit
    flood = daemon.connect()
    try:
        flood.sendall(b"x" * 70000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    reply = read_reply(flood)
    assert reply["error"] == "line_too_long"
    flood.close()

    # two requests in one write, answered in order
    both = daemon.connect()
    both.sendall(b'{"cmd":"status","id":1}\n{"cmd":"status","id":2}\n')
    buf = b""
    while buf.count(b"\n") < 2:
        buf += both.recv(65536)
    ids = [json.loads(l)["id"] for l in buf.splitlines()]
    assert ids == [1, 2]
    both.close()

    assert daemon.request("status", conn=good)["ok"]
    good.close()
    code, _ = daemon.stop()
    assert code == 0


def test_too_many_clients(daemon):
    cfg = daemon.default_config()
    cfg["control"]["max_clients"] = 2
    cfg["control"]["io_timeout_ms"] = 20000  # a and b stay mid-line throughout
    daemon.write_config(cfg)
    daemon.start()
    a, b = daemon.connect(), daemon.connect()
    # a and b are mid-line, not idle, so even an admin (the test's user is
    # one) cannot take their place; the reply shows the daemon read the rest
    for s in (a, b):
        s.sendall(b'{"cmd": "status"}\n{"cmd": ')
        assert read_reply(s)["ok"]
    c = daemon.connect()
    assert read_reply(c)["error"] == "busy"
    # swapctl says so, with its own exit code, whenever the daemon closed
    r = run(bin_path("swapctl"), "-s", daemon.sock, "status")
    assert r.returncode == 75, r.stderr
    assert r.stderr.startswith("swapctl: busy:") and "Broken pipe" not in r.stderr
    for s in (a, b, c):
        s.close()


def test_sigterm_clean_stop(daemon):
    daemon.start()
    code, took = daemon.stop()
    assert code == 0 and took < 2
    assert not os.path.exists(daemon.sock)
    types = [t for (t,) in daemon.sql("SELECT type FROM outbox ORDER BY seq")]
    assert types == ["station.started", "station.stopping"]
    assert daemon.sql("SELECT stopped_at IS NOT NULL FROM runs") == [(1,)]


def test_sigkill_during_writes_keeps_database_sound(daemon):
    cfg = daemon.default_config()
    cfg["store"]["alive_interval_ms"] = 10
    daemon.write_config(cfg)
    runs = 8
    for i in range(runs):
        daemon.start()
        # wait until this run has written a few times, then kill it while
        # it keeps writing (every 10 ms, and on each SIGHUP)
        boot = daemon.request("status")["result"]["boot"]
        first = daemon.sql(f"SELECT alive_at FROM runs WHERE boot = '{boot}'")[0][0]
        wait_until(lambda: daemon.sql(f"SELECT alive_at FROM runs WHERE boot = '{boot}'")[0][0]
                   > first, 10, "liveness writes")
        for _ in range(i % 4):
            daemon.signal(signal.SIGHUP)
        daemon.kill()
    with sqlite3.connect(daemon.db) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        seqs = [s for (s,) in db.execute("SELECT seq FROM outbox ORDER BY seq")]
        assert seqs == list(range(1, runs + 1))  # one started event per run, no gap
        reasons = [json.loads(p)["reason"] for (p,) in
                   db.execute("SELECT payload FROM outbox ORDER BY seq")]
        assert reasons == ["start"] + ["unclean_shutdown"] * (runs - 1)
    daemon.start()
    assert daemon.request("status")["result"]["health"] == "ok"
    assert daemon.stop()[0] == 0


def test_full_disk_at_run_time_is_a_fault_not_a_crash(daemon):
    daemon.start()
    pid = daemon.proc.pid
    # every write past one byte now fails, as on a full disk
    subprocess.run(["prlimit", f"--pid={pid}", "--fsize=1:unlimited"], check=True)
    daemon.signal(signal.SIGHUP)  # a reload is audited: a write
    assert daemon.wait_log(lambda l: "store: writing the audit trail failed" in l) is not None
    st = daemon.request("status")["result"]
    store = next(s for s in st["subsystems"] if s["name"] == "store")
    assert st["health"] == "failed" and store["state"] == "failed"
    assert daemon.wait_notify(lambda m: m.startswith("STATUS=failed"), 2) is not None
    subprocess.run(["prlimit", f"--pid={pid}", "--fsize=unlimited:unlimited"], check=True)
    daemon.signal(signal.SIGHUP)
    assert daemon.wait_log(lambda l: "store: writing again" in l) is not None
    assert daemon.request("status")["result"]["health"] == "ok"
    code = daemon.stop()[0]
    assert code == 0, daemon.drain_stderr()


def test_corrupt_database_refused_at_start(daemon):
    with open(daemon.db, "wb") as f:
        f.write(b"definitely not sqlite " * 400)
    daemon.start(wait_ready=False)
    assert daemon.proc.wait(10) == 74
    err = daemon.drain_stderr()
    assert daemon.db in err and "data corrupt" in err


def test_second_instance_refused(tmp_path, daemon):
    daemon.start()
    other = Daemon(tmp_path / "second" if (tmp_path / "second").mkdir() is None else None)
    try:
        other.write_config(dict(other.default_config(), control={"socket": daemon.sock}))
        other.start(wait_ready=False)
        assert other.proc.wait(10) == 69
        assert "another swapd is already serving it" in other.drain_stderr()
        assert daemon.request("status")["ok"]
    finally:
        other.close()

"""End to end: tokens scanned at the station (token.md), verified offline by
swapd against its keys and its own store, recorded, single use surviving a
restart; walk-in tickets; key rotation by reload; no secret anywhere."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import bin_path
from swapd_fixture import Daemon, wait_until

STATION = "ST-DEL-001"
K1 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # token.md test key k1
K2 = "Ly1ouluLZIcmLDPq0s+VCAjMpRuxiy1JUJzisw8J+A4="  # and k2
K3 = "c3dhcGQgdGVzdCBrZXkgazMgLS0gbm90IGZvciB1c2U="


def write_keys(path, keys):
    with open(path, "w") as f:
        json.dump({"keys": [{"kid": k, "secret": s} for k, s in keys]}, f)
    os.chmod(path, 0o600)


@pytest.fixture
def station(tmp_path):
    d = Daemon(tmp_path)
    d.keys = str(tmp_path / "keys.json")
    write_keys(d.keys, [("k1", K1), ("k2", K2)])
    cfg = d.default_config()
    cfg["station"]["id"] = STATION
    cfg["tokens"] = {"keys": "keys.json", "walkin_kid": "k2", "walkin_ttl_s": 3600}
    d.write_config(cfg)
    d.start()
    yield d
    d.close()


def issue(d, kind="S", station=STATION, subject="u-000123", arg=None, kid="k1", ttl=3600,
          now=None, keys=None):
    args = [bin_path("swaptoken"), "issue", "--keys", keys or d.keys, "--kid", kid, "--kind", kind,
            "--station", station, "--subject", subject, "--ttl", str(ttl)]
    if arg:
        args += ["--arg", arg]
    if now:
        args += ["--now", str(now)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def forged(tok):
    """tok with the first character of its mac changed (every bit of the
    first character is mac, so the text stays well-formed)."""
    head, mac = tok.rsplit(".", 1)
    return f"{head}.{'B' if mac[0] == 'A' else 'A'}{mac[1:]}"


def scan(d, text):
    r = d.request("scan", token=text)
    assert r["ok"], r
    return r["result"]["result"]


def test_fresh_token_then_replay_across_restart(station):
    tok = issue(station)
    assert scan(station, tok) == "ok"
    assert scan(station, tok) == "replayed"
    assert scan(station, tok + "\r\n") == "replayed"  # as a scanner sends it
    assert station.stop()[0] == 0
    station.start()
    assert scan(station, tok) == "replayed"
    used = station.sql("SELECT kind, exp FROM token_used")
    assert len(used) == 1 and used[0][0] == "S"


def test_badge_is_reusable(station):
    badge = issue(station, kind="B", station="*", subject="staff-17", arg="staff", ttl=86400)
    assert scan(station, badge) == "ok"
    assert scan(station, badge) == "ok"
    transport = issue(station, kind="T", subject="job-5521", arg="p2d3")
    assert scan(station, transport) == "ok"
    assert scan(station, transport) == "replayed"


def test_every_rejection_has_its_reason(station):
    now = int(time.time())
    other = os.path.join(station.dir, "other-keys.json")
    write_keys(other, [("k9", K3)])
    cases = [
        ("hello", "malformed"),
        ("SW1.S.ST-DEL-001.u-1.-.abcdef.1.k1", "malformed"),
        (issue(station, kid="k9", keys=other), "unknown_key"),
        (forged(issue(station)), "bad_mac"),
        (issue(station, station="ST-OTHER-9"), "wrong_station"),
        (issue(station, now=now - 7200, ttl=600), "expired"),
        (issue(station, ttl=3 * 86400), "too_long"),
    ]
    for text, want in cases:
        assert scan(station, text) == want, text
    tok = issue(station)
    nonce = tok.split(".")[5]
    assert station.request("revoke", nonce=nonce, exp=now + 3600)["ok"]
    assert scan(station, tok) == "revoked"
    assert station.request("revoke", nonce="bad nonce!", exp=1)["error"] == "bad_request"

    scans = station.request("scans", limit=50)["result"]["scans"]
    assert [s["result"] for s in scans][::-1] == [w for _, w in cases] + ["revoked"]
    events = station.sql("SELECT payload FROM outbox WHERE type = 'token.rejected' ORDER BY seq")
    assert [json.loads(p)["reason"] for (p,) in events] == [w for _, w in cases] + ["revoked"]
    # never the mac, never the whole token
    macs = [t.split(".")[-1] for t, _ in cases if t.count(".") == 8]
    dump = json.dumps(scans) + json.dumps(events) + station.drain_stderr()
    for mac in macs:
        assert mac not in dump


def test_walkin_ticket(station):
    r = station.request("ticket", user="walkin-42")
    assert r["ok"], r
    tok = r["result"]["token"]
    assert tok.startswith(f"SW1.S.{STATION}.walkin-42.-.") and tok.split(".")[7] == "k2"
    v = subprocess.run([bin_path("swaptoken"), "verify", "--keys", station.keys, "--station",
                        STATION, tok], capture_output=True, text=True, timeout=10)
    assert v.stdout.strip() == "ok"
    assert scan(station, tok) == "ok"
    assert scan(station, tok) == "replayed"
    out = subprocess.run([bin_path("swapctl"), "-s", station.sock, "--json", "ticket"],
                         capture_output=True, text=True, timeout=10)
    assert json.loads(out.stdout)["subject"].startswith("walkin-")


def test_key_rotation_by_reload(station):
    new = issue(station, kid="k3", keys=_with_k3(station))
    assert scan(station, new) == "unknown_key"
    write_keys(station.keys, [("k1", K1), ("k2", K2), ("k3", K3)])
    station.signal(signal.SIGHUP)
    assert station.wait_log(lambda l: "config reloaded" in l) is not None
    assert scan(station, issue(station, kid="k3")) == "ok"
    # a key file that does not load keeps the old keys
    os.chmod(station.keys, 0o644)
    station.signal(signal.SIGHUP)
    assert station.wait_log(lambda l: "reload rejected" in l) is not None
    assert any("config: tokens.keys: " in l and station.keys in l for l in station.stderr_lines)
    os.chmod(station.keys, 0o600)
    assert scan(station, issue(station, kid="k3")) == "ok"


def _with_k3(station):
    path = os.path.join(station.dir, "k3-only.json")
    write_keys(path, [("k3", K3)])
    return path


def test_key_file_readable_by_others_is_refused(tmp_path):
    d = Daemon(tmp_path)
    keys = tmp_path / "keys.json"
    write_keys(str(keys), [("k1", K1)])
    os.chmod(keys, 0o644)
    cfg = d.default_config()
    cfg["tokens"] = {"keys": str(keys), "walkin_kid": "zz"}
    d.write_config(cfg)
    try:
        r = subprocess.run([bin_path("swapd"), "-t", "-c", d.config_path], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 78
        lines = r.stderr.splitlines()
        assert any(l.startswith("tokens.keys: ") and str(keys) in l for l in lines), r.stderr
        for secret in (K1, K2):
            assert secret not in r.stderr and secret not in r.stdout
    finally:
        d.close()


def test_no_secret_leaves_the_daemon(station):
    tok = issue(station)
    scan(station, tok)
    station.request("ticket")
    station.signal(signal.SIGHUP)
    station.wait_log(lambda l: "config reloaded" in l)
    outputs = [station.drain_stderr(), json.dumps(station.request("status")),
               json.dumps(station.request("scans")),
               json.dumps(station.sql("SELECT * FROM outbox")),
               json.dumps(station.sql("SELECT * FROM audit"))]
    for secret in (K1, K2, bytes(range(32)).hex()):
        for o in outputs:
            assert secret not in o


@pytest.fixture
def kiosk(tmp_path):
    """swapd with a QR scanner: a pty whose other end the test types into."""
    master, slave = os.openpty()
    d = Daemon(tmp_path)
    d.keys = str(tmp_path / "keys.json")
    write_keys(d.keys, [("k1", K1)])
    cfg = d.default_config()
    cfg["station"]["id"] = STATION
    cfg["tokens"] = {"keys": d.keys}
    cfg["scanner"] = {"backend": "tty", "device": os.ttyname(slave), "dedup_ms": 1000}
    d.write_config(cfg)
    d.scanner = master
    d.start()
    yield d
    d.close()
    os.close(master)
    os.close(slave)


def scanned(d, text, result):
    """Types text as a scanner does (CR LF after it) and waits for swapd's
    verdict in its log."""
    os.write(d.scanner, text.encode() + b"\r\n")
    line = d.wait_log(lambda l: "access: scanner scan: " in l, 10)
    assert line is not None, d.drain_stderr()
    assert f"access: scanner scan: {result}" in line, line


def test_scanner_fresh_token_replayed_after_restart(kiosk):
    tok = issue(kiosk)
    scanned(kiosk, tok, "ok")
    assert kiosk.stop()[0] == 0
    kiosk.start()
    scanned(kiosk, tok, "replayed")
    badge = issue(kiosk, kind="B", station="*", subject="staff-17", arg="staff", ttl=86400)
    scanned(kiosk, badge, "ok")
    # another code in between: the badge again is a new scan, not the
    # scanner repeating itself, and a badge is reusable
    scanned(kiosk, "garbage that is no token", "malformed")
    scanned(kiosk, badge, "ok")
    results = [s["result"] for s in kiosk.request("scans")["result"]["scans"]
               if s["source"] == "scanner"]
    assert results == ["ok", "malformed", "ok", "replayed", "ok"]


def test_no_tokens_section_refuses_every_scan(tmp_path):
    d = Daemon(tmp_path)
    keys = str(tmp_path / "keys.json")
    write_keys(keys, [("k1", K1)])
    try:
        d.start()
        assert scan(d, issue(d, station="ST-TEST-1", keys=keys)) == "unknown_key"
        assert scan(d, "hello") == "malformed"
        assert d.request("ticket")["error"] == "unknown_command"
    finally:
        d.close()


def scanner_counters(d):
    r = d.request("scans", limit=1)
    assert r["ok"], r
    return r["result"]["scanner"]


def test_scanner_flood_keeps_control_responsive(kiosk):
    """Thousands of distinct lines on the scanner's tty, as from a device
    stuck sending or a hostile one: the control socket keeps answering
    quickly, and the lines over the scan rate are counted and dropped, never
    verified or written to the store one by one."""
    n, chunk = 4000, 25
    conn = kiosk.connect()
    lat = []
    t0 = time.monotonic()
    for start in range(0, n, chunk):
        os.write(kiosk.scanner, b"".join(b"FLOOD-%06d\r\n" % i
                                         for i in range(start, start + chunk)))
        t = time.monotonic()
        assert kiosk.request("status", conn=conn)["ok"]
        lat.append(time.monotonic() - t)
    lat.sort()
    p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
    assert p99 < 0.050, f"status p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    wait_until(lambda: (lambda c: c["lines"] + c["rate_limited"] == n)(scanner_counters(kiosk)),
               10, "every flood line counted")
    elapsed = time.monotonic() - t0
    c = scanner_counters(kiosk)
    # a kiosk's rate: a small burst, then a few lines a second
    assert 1 <= c["lines"] <= 5 + 4 * elapsed + 1, (c, elapsed)
    assert c["rate_limited"] >= n - c["lines"]
    assert len([s for s in kiosk.request("scans", limit=1000)["result"]["scans"]
                if s["source"] == "scanner"]) == c["lines"]
    assert kiosk.wait_log(lambda l: "scanner: more than" in l, 5), kiosk.drain_stderr()


def test_unreadable_scanner_line_is_a_scan(kiosk):
    """A line the scanner read but that is no text (the 0xff of a wrong baud
    rate, or far too long) shows in `scans` as unreadable, so the kiosk can
    ask for the code again; the fleet hears nothing of it (it is no token)."""
    os.write(kiosk.scanner, b"\xff\xfe\x01garbled\r\n")
    assert kiosk.wait_log(lambda l: "access: scanner scan: unreadable" in l, 10), \
        kiosk.drain_stderr()
    os.write(kiosk.scanner, b"x" * 2000 + b"\r\n")
    assert kiosk.wait_log(lambda l: "access: scanner scan: unreadable" in l, 10), \
        kiosk.drain_stderr()
    scanned(kiosk, "hello", "malformed")
    scans = kiosk.request("scans")["result"]
    assert [s["result"] for s in scans["scans"]] == ["malformed", "unreadable", "unreadable"]
    assert scans["scans"][1]["kind"] is None and scans["scans"][1]["source"] == "scanner"
    c = scans["scanner"]
    assert (c["unprintable"], c["too_long"], c["lines"], c["rate_limited"]) == (1, 1, 1, 0), c
    events = kiosk.sql("SELECT payload FROM outbox WHERE type = 'token.rejected'")
    assert [json.loads(p)["reason"] for (p,) in events] == ["malformed"]
    assert "garbled" not in json.dumps(scans) + kiosk.drain_stderr()

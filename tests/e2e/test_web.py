"""The kiosk page's HTTP server (daemon/web.c) in the real swapd: the page
and its headers, the view, the event stream's framing, the POST checks,
the limits on a request, and a start that cannot bind."""
import http.client
import json
import os
import shutil
import socket
import time

import pytest

from conftest import BUILD, ROOT
from swapd_fixture import Daemon

SECURITY = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
PAGE = {
    "index.html": "<!doctype html><html><head><title>Kiosk test page</title>"
                  "<link rel=stylesheet href=kiosk.css><script src=kiosk.js></script>"
                  "</head><body><p id=p>kiosk</p></body></html>",
    "kiosk.css": "body { background: #000; color: #fff; }\n",
    "kiosk.js": "document.documentElement.dataset.script = 'ran';\n",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_assets(d, files=PAGE):
    """A page of the test's own in d, with the station's real catalogues."""
    shutil.copytree(os.path.join(ROOT, "daemon/kiosk/lang"), os.path.join(d, "lang"))
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return d


def kiosk_daemon(tmp_path, **kiosk):
    d = Daemon(tmp_path)
    cfg = d.default_config()
    cfg["kiosk"] = {"listen": "127.0.0.1", "port": free_port(),
                    "assets": write_assets(str(tmp_path / "assets")), **kiosk}
    d.config = cfg
    d.write_config(cfg)
    return d


@pytest.fixture
def web(tmp_path):
    d = kiosk_daemon(tmp_path)
    d.start()
    yield d
    d.close()


def url_of(d):
    return f"http://127.0.0.1:{d.config['kiosk']['port']}"


def fetch(d, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", d.config["kiosk"]["port"], timeout=5)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def raw(d, data, timeout=5):
    """Sends raw bytes and reads until the server closes: (bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", d.config["kiosk"]["port"]), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return out, True
            if not chunk:
                return out, True
            out += chunk
    finally:
        s.close()


def kiosk_health(d):
    subs = d.request("status")["result"]["subsystems"]
    return next(s for s in subs if s["name"] == "kiosk")


def test_page_and_assets_with_their_types_and_headers(web):
    types = {"/": ("index.html", "text/html"), "/kiosk.css": ("kiosk.css", "text/css"),
             "/kiosk.js": ("kiosk.js", "text/javascript")}
    for path, (name, ctype) in types.items():
        status, headers, body = fetch(web, "GET", path)
        assert status == 200, path
        assert headers["Content-Type"].startswith(ctype), headers
        for k, v in SECURITY.items():
            assert headers.get(k) == v, (path, k, headers)
        assert body.decode() == PAGE[name]


def test_view_is_json_with_the_security_headers(web):
    status, headers, body = fetch(web, "GET", "/api/view")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Security-Policy"] == SECURITY["Content-Security-Policy"]
    assert "version" in json.loads(body)


def test_unknown_paths_404_other_methods_405(web):
    for path in ("/nope", "/../etc/passwd", "/index.html/", "/api/", "/lang/en.json"):
        status, _, body = fetch(web, "GET", path)
        assert status == 404, path
        assert json.loads(body)["error"] == "not_found"
    status, headers, _ = fetch(web, "DELETE", "/")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, headers, _ = fetch(web, "GET", "/api/command")
    assert status == 405 and headers["Allow"] == "POST"
    status, _, _ = fetch(web, "POST", "/api/view", body=b"{}")
    assert status == 405


def read_until(s, marker, timeout):
    deadline = time.monotonic() + timeout
    buf = b""
    while marker not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} in {buf!r}"
        s.settimeout(left)
        chunk = s.recv(65536)
        assert chunk, f"stream closed after {buf!r}"
        buf += chunk
    return buf


def sse_text(raw_body):
    """The event stream's text out of an HTTP/1.1 chunked response."""
    head, _, body = raw_body.partition(b"\r\n\r\n")
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        n = int(size_line, 16)
        if n == 0 or len(rest) < n:
            out += rest  # a chunk still arriving: what came of it
            break
        out += rest[:n]
        body = rest[n + 2:]
    return head.decode(), out.decode()


def test_event_stream_starts_with_retry_and_the_view_then_keeps_alive(web):
    s = socket.create_connection(("127.0.0.1", web.config["kiosk"]["port"]), timeout=5)
    try:
        s.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        buf = read_until(s, b"}\n\n", 5)  # the end of the view event
        head, text = sse_text(buf)
        assert head.startswith("HTTP/1.1 200")
        assert "Content-Type: text/event-stream" in head
        assert "Cache-Control: no-cache" in head
        assert text.startswith("retry: 2000\n\nevent: view\ndata: {")
        view = json.loads(text.split("data: ", 1)[1].split("\n", 1)[0])
        assert "version" in view
        assert kiosk_health(web)["detail"].startswith(
            f"serving on 127.0.0.1:{web.config['kiosk']['port']}, 1 streams")
        # the next thing on a quiet station is the keepalive comment, 15 s on
        buf = read_until(s, b": keepalive\n\n", 20)
    finally:
        s.close()


def post(d, body, origin="same", ctype="application/json", headers=None):
    h = {"Content-Type": ctype} if ctype else {}
    if origin == "same":
        origin = url_of(d)
    if origin:
        h["Origin"] = origin
    h.update(headers or {})
    return fetch(d, "POST", "/api/command", body=body, headers=h)


def test_post_needs_the_kiosk_origin_and_json(web):
    body = json.dumps({"cmd": "staff-session", "args": {}})
    for origin, ctype in ((None, "application/json"), ("http://evil.example", "application/json"),
                          ("null", "application/json"),
                          (f"http://127.0.0.1:{web.config['kiosk']['port'] + 1}",
                           "application/json"),
                          ("same", "text/plain"), ("same", None),
                          ("same", "application/x-www-form-urlencoded")):
        status, headers, reply = post(web, body, origin, ctype)
        assert status == 403, (origin, ctype)
        assert headers["Content-Type"] == "application/json"
        r = json.loads(reply)
        assert r["ok"] is False and r["error"] == "forbidden" and r["message"]
    # the page's own origin, and localhost's on loopback, run the command as
    # a kiosk-level client: the control socket's reply shape
    for origin in ("same", f"http://localhost:{web.config['kiosk']['port']}"):
        status, _, reply = post(web, body, origin, "application/json; charset=utf-8")
        assert status == 200
        assert json.loads(reply) == {"ok": True, "result": {"staff": None}}


def test_post_runs_at_the_kiosk_level_only(web):
    status, _, reply = post(web, json.dumps({"cmd": "queue-cancel", "args": {"ticket": 1}}))
    assert status == 200
    r = json.loads(reply)
    assert r["ok"] is False and r["error"] == "forbidden"
    status, _, reply = post(web, json.dumps({"cmd": "no-such"}))
    assert json.loads(reply)["error"] == "unknown_command"
    for bad in (b"{", b"[]", b'{"cmd": 1}', b'{"cmd": "status", "args": []}', b""):
        status, _, reply = post(web, bad)
        assert status == 400, bad
        assert json.loads(reply)["error"] == "bad_request"


def test_oversized_body_gets_413_and_the_connection_closes(web):
    body = b'{"cmd": "status", "args": {"x": "' + b"a" * 5000 + b'"}}'
    port = web.config["kiosk"]["port"]
    req = (f"POST /api/command HTTP/1.1\r\nHost: x\r\nOrigin: http://127.0.0.1:{port}\r\n"
           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    out, closed = raw(web, req + body)
    assert out.startswith(b"HTTP/1.1 413"), out[:200]
    assert closed
    assert b'"error":"too_large"' in out


def test_oversized_headers_are_refused(web):
    big = "b" * 9000  # kiosk.request_max is 8192 by default
    out, closed = raw(web, f"GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n".encode())
    assert closed
    assert out == b"" or out.split(b"\r\n", 1)[0] in (b"HTTP/1.1 431 Request Header Fields Too Large",
                                                      b"HTTP/1.1 413 Content Too Large")
    out, closed = raw(web, f"GET /{'u' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert closed and not out.startswith(b"HTTP/1.1 200")
    assert fetch(web, "GET", "/")[0] == 200  # and it still serves


def expect_start_failure(d, what):
    d.start(wait_ready=False)
    code = d.proc.wait(10)
    log = d.drain_stderr()
    assert code == 69, log  # EX_UNAVAILABLE: the "kiosk page" row
    assert what in log, log


def test_bad_listen_address_fails_the_start(tmp_path):
    d = kiosk_daemon(tmp_path, listen="localhost")
    try:
        expect_start_failure(d, 'kiosk.listen: "localhost" is not an IPv4 or IPv6 address')
    finally:
        d.close()


def test_taken_port_fails_the_start(tmp_path):
    d = kiosk_daemon(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", d.config["kiosk"]["port"]))
        s.listen(1)
        try:
            expect_start_failure(
                d, f"cannot listen on 127.0.0.1:{d.config['kiosk']['port']}: "
                   "Address already in use")
        finally:
            d.close()


def test_missing_asset_fails_the_start_naming_it(tmp_path):
    d = kiosk_daemon(tmp_path)
    os.unlink(os.path.join(d.config["kiosk"]["assets"], "kiosk.js"))
    try:
        expect_start_failure(d, "kiosk.js")
    finally:
        d.close()


def test_ipv6_loopback(tmp_path):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    d = kiosk_daemon(tmp_path, listen="::1")
    try:
        d.start()
        c = http.client.HTTPConnection("::1", d.config["kiosk"]["port"], timeout=5)
        c.request("GET", "/api/view")
        assert c.getresponse().status == 200
        c.close()
        assert f"serving on [::1]:{d.config['kiosk']['port']}" in kiosk_health(d)["detail"]
    finally:
        d.close()


def test_headless_chromium_loads_the_page(web, tmp_path):
    from browser import Browser
    os.makedirs(BUILD, exist_ok=True)
    with Browser(str(tmp_path / "chromium.log")) as b:
        b.open(url_of(web) + "/")
        assert b.evaluate("document.title") == "Kiosk test page"
        # the script ran under the page's CSP (same origin)
        b.wait_for("document.documentElement.dataset.script === 'ran'", 5)
        b.set_size(800, 480)
        assert b.evaluate("window.innerWidth") == 800
        shot = os.path.join(BUILD, "kiosk-test-800x480.png")
        b.screenshot(shot)
        with open(shot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"

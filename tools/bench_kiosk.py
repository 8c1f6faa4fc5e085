#!/usr/bin/env python3
"""make bench: how fast the kiosk's screen follows the station (issue 12),
on the real swapd with rack-sim, the scanner on a pty and the page in
headless Chromium.

- scan-to-screen: a code is typed on the scanner pty (t0: the wall clock
  just before the write); the page's #scan changes (t1: the page's own wall
  clock, performance.timeOrigin + performance.now(), in a MutationObserver,
  the same machine's clock). The baseline, in the same run and for the same
  scans, is a bare server-sent-events client on a socket: t1 there is when
  the `view` event carrying that scan arrives. Their ratio is what the
  browser adds to swapd's push. Every scan is a different malformed code,
  so nothing is opened and every scan changes the view.
- view requests: GET /api/view over HTTP/1.1 keep-alive, one after another,
  against `kiosk-view` on the control socket, for BENCH_KIOSK_S seconds each.

BENCH_KIOSK_SCANS (default 40): the scanner passes 4 codes a second, so 40
take about 10 s. Every wait has a deadline.
"""
import http.client
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from browser import Browser  # noqa: E402
from conftest import ROOT  # noqa: E402
from station import Station  # noqa: E402
from swapd_fixture import read_reply  # noqa: E402

SCANS = int(os.environ.get("BENCH_KIOSK_SCANS", "40"))
REQ_S = float(os.environ.get("BENCH_KIOSK_S", "3"))
SCAN_GAP_S = 0.3  # the scanner's 4 codes a second, with a margin


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stream:
    """A bare SSE client: the arrival wall time of each view's scan `at`."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: bench\r\n\r\n")
        self.seen = {}  # the scan's `at` -> arrival wall ms
        self.cond = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            now = time.time() * 1000
            buf += data
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                for line in block.split(b"\n"):
                    # chunked framing may split a line; a view is one line
                    if line.startswith(b"data: {"):
                        try:
                            scan = json.loads(line[6:]).get("scan")
                        except ValueError:
                            continue
                        if scan:
                            with self.cond:
                                self.seen.setdefault(scan["at"], now)
                                self.cond.notify_all()

    def wait_new(self, before, timeout=5):
        """The arrival time of the first view with a scan not in before."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                new = [t for at, t in self.seen.items() if at not in before]
                if new:
                    return min(new)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit("bench-kiosk: no view with the scan on the stream")
                self.cond.wait(left)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def latencies(st, b, stream):
    b.evaluate("window.benchSeen = []; new MutationObserver(() => window.benchSeen.push("
               "performance.timeOrigin + performance.now())).observe("
               "document.getElementById('scan'), {childList: true, subtree: true,"
               " characterData: true, attributes: true})")
    page, sse = [], []
    for n in range(SCANS):
        before = dict(stream.seen)
        seen = b.evaluate("window.benchSeen.length")
        time.sleep(SCAN_GAP_S)  # the scanner's pace, not a wait for a result
        t0 = time.time() * 1000
        st.scan(f"bench-not-a-token-{n}")
        sse.append(stream.wait_new(before) - t0)
        b.wait_for(f"window.benchSeen.length > {seen}", 5)
        page.append(b.evaluate(f"window.benchSeen[{seen}]") - t0)
    return page, sse


def requests(st, port):
    http_n = ctl_n = 0
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    end = time.monotonic() + REQ_S
    while time.monotonic() < end:
        c.request("GET", "/api/view")
        r = c.getresponse()
        r.read()
        assert r.status == 200
        http_n += 1
    c.close()
    s = socket.socket(socket.AF_UNIX)
    s.connect(st.daemon.sock)
    end = time.monotonic() + REQ_S
    while time.monotonic() < end:
        s.sendall(b'{"cmd":"kiosk-view"}\n')
        assert read_reply(s)["ok"]
        ctl_n += 1
    s.close()
    return http_n / REQ_S, ctl_n / REQ_S


def main():
    tmp = tempfile.mkdtemp(prefix="bench-kiosk-")
    port = free_port()
    st = Station(tmp, slots=8, config={
        "kiosk": {"assets": os.path.join(ROOT, "daemon", "kiosk"), "port": port}})
    st.start()
    try:
        stream = Stream(port)
        with Browser(os.path.join(tmp, "chromium.log"), timeout=20) as b:
            b.set_size(800, 480)
            b.open(f"http://127.0.0.1:{port}/")
            b.wait_for("document.querySelectorAll('#slots > *').length === 8", 10)
            page, sse = latencies(st, b, stream)
        http_rate, ctl_rate = requests(st, port)
    finally:
        st.close()
    print(f"bench-kiosk: scan to screen over {SCANS} scans (ms): "
          f"page median {statistics.median(page):.1f} p95 {pct(page, 0.95):.1f}; "
          f"bare SSE client median {statistics.median(sse):.1f} p95 {pct(sse, 0.95):.1f}; "
          f"ratio page/SSE {statistics.median(page) / statistics.median(sse):.2f}")
    print(f"bench-kiosk: view requests: GET /api/view {http_rate:.0f}/s, control socket "
          f"kiosk-view {ctl_rate:.0f}/s, ratio {http_rate / ctl_rate:.2f}")


if __name__ == "__main__":
    main()

"""Headless Chromium for the kiosk page's tests.

Debian's `chromium` is started with --remote-debugging-pipe: DevTools
protocol messages are JSON, each ended by a NUL byte, written to the
browser on its fd 3 and read from its fd 4. No websocket library needed.
One page target is attached at start; every call waits for its own reply
with a timeout, and events that arrive meanwhile are kept.
"""
import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time


class BrowserError(AssertionError):
    pass


class Browser:
    def __init__(self, log_path, width=800, height=480, timeout=10):
        exe = shutil.which("chromium")
        if exe is None:
            raise BrowserError("chromium is not installed (apt-get install -y chromium)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="swapd-chromium-")
        to_browser_r, self._w = os.pipe()
        self._r, from_browser_w = os.pipe()
        args = [exe, "--headless=new", "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}", "--no-first-run",
                "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
                "--disable-background-networking", "--disable-sync",
                f"--window-size={width},{height}",
                # the page under test is our own on loopback; Chromium's
                # sandbox needs user namespaces (or root's --no-sandbox),
                # which a container or a fresh chroot may not give
                "--no-sandbox",
                # /dev/shm may be small or absent in such a root
                "--disable-dev-shm-usage", "about:blank"]
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            pass_fds=(3, 4), preexec_fn=self._fds(to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._next_id = 0
        self._events = []
        self.session = None
        try:
            self._attach()
        except Exception:
            self.close()
            raise

    @staticmethod
    def _fds(r, w):
        """In the child: the pipe ends on fds 3 and 4, where chromium looks."""
        def setup():
            a, b = os.dup(r), os.dup(w)  # neither is then 3 or 4's other end
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)
        return setup

    def _send(self, method, params=None, session=True):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        return self._next_id

    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            r, _, _ = select.select([self._r], [], [], left)
            if r:
                chunk = os.read(self._r, 65536)
                if not chunk:
                    raise BrowserError("chromium closed its pipe (see its log)")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=True, timeout=None):
        """One DevTools command; its result, or BrowserError with its error."""
        mid = self._send(method, params, session)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            msg = self._read_message(deadline)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self._events.append(msg)

    def _attach(self):
        targets = self.call("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def wait_event(self, method, timeout=None):
        """The next event named method (one already received counts)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, ev in enumerate(self._events):
                if ev["method"] == method:
                    return self._events.pop(i)["params"]
            msg = self._read_message(deadline)
            if "method" in msg:
                self._events.append(msg)

    def open(self, url, timeout=None):
        """Loads url and returns once its load event fired."""
        self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
        res = self.call("Page.navigate", {"url": url})
        if res.get("errorText"):
            raise BrowserError(f"cannot open {url}: {res['errorText']}")
        self.wait_event("Page.loadEventFired", timeout)

    def evaluate(self, js):
        """The value of the expression js in the page (JSON-able values)."""
        res = self.call("Runtime.evaluate",
                        {"expression": js, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in res:
            raise BrowserError(f"{js}: {res['exceptionDetails'].get('text')}: "
                               f"{res['exceptionDetails'].get('exception', {})}")
        return res["result"].get("value")

    def wait_for(self, js_predicate, timeout=None):
        """Waits until js_predicate is truthy in the page, polled in the
        page itself every 20 ms, so nothing sleeps here."""
        t = int((timeout or self.timeout) * 1000)
        ok = self.evaluate(
            "new Promise(done => { const t0 = performance.now(); (function poll() {"
            f" let v; try {{ v = ({js_predicate}); }} catch (e) {{ v = false; }}"
            " if (v) return done(true);"
            f" if (performance.now() - t0 > {t}) return done(false);"
            " setTimeout(poll, 20); })(); })")
        if not ok:
            raise BrowserError(f"timed out waiting for {js_predicate}")

    def set_size(self, width, height):
        """The page's viewport, as on a kiosk screen of that size."""
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": False})

    def screenshot(self, path):
        """Writes the page as a PNG."""
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        if self.proc.poll() is None:
            try:
                self._send("Browser.close", session=False)
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

"""`make demo` (tools/demo.sh), bounded: it prints the kiosk's URL, the
page there (in headless Chromium) tells the first rider which slot to go
to, their swap completes on its own within a minute, and Ctrl-C
(SIGINT to its process group, as a terminal sends it) stops every process
it started: swapd, rack-sim, the riders, mosquitto."""
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request

from browser import Browser
from conftest import BUILD, ROOT
from swapd_fixture import wait_until


def group(pgid):
    """The processes still in process group pgid."""
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,args="], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if int(l.split()[1]) == pgid]


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def test_demo_swaps_and_stops(tmp_path):
    env = dict(os.environ, SWAPD_BUILD=os.path.relpath(BUILD, ROOT))
    p = subprocess.Popen(["sh", os.path.join(ROOT, "tools", "demo.sh")], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    seen = []
    threading.Thread(target=lambda: seen.extend(
        l.decode(errors="replace").rstrip("\n") for l in iter(p.stdout.readline, b"")),
        daemon=True).start()

    def printed(pattern):
        return next((m for m in map(re.compile(pattern).search, list(seen)) if m), None)
    try:
        start = time.monotonic()
        wait_until(lambda: printed(r"the kiosk page: (http://127\.0\.0\.1:\d+/)"), 90,
                   "the kiosk URL")
        url = printed(r"the kiosk page: (http://127\.0\.0\.1:\d+/)").group(1)
        # what a person watching the page sees: the first rider's slot
        # (the URL is printed just before swapd starts to serve it)
        wait_until(lambda: answers(url), 10, "the kiosk page served")
        with Browser(str(tmp_path / "chromium.log"), timeout=70) as b:
            b.open(url)
            b.wait_for("/slot \\d+/.test(document.getElementById('headline').textContent)",
                       max(1, 60 - (time.monotonic() - start)))
        # and the swap runs on its own, within a minute of the start
        wait_until(lambda: printed("swap 1: completed"), max(1, 60 - (time.monotonic() - start)),
                   "the first swap completed")
        assert any("mosquitto_sub -h 127.0.0.1 -p" in l and "swap/v1/ST-DEMO-001/#" in l
                   for l in seen) or not os.path.exists("/usr/sbin/mosquitto")
        assert len(group(p.pid)) >= 4, "swapd, rack-sim, the riders, mosquitto"
    finally:
        os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            raise
    wait_until(lambda: not group(p.pid), 5, "every process of the demo gone")

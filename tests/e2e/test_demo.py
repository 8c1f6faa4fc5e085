"""`make demo` (tools/demo.sh), bounded: it prints the kiosk's URL, the
first rider's swap completes on its own within a minute, and Ctrl-C
(SIGINT to its process group, as a terminal sends it) stops every process
it started: swapd, rack-sim, the riders, mosquitto."""
import os
import re
import signal
import subprocess
import time

from conftest import BUILD, ROOT, read_line
from swapd_fixture import wait_until


def group(pgid):
    """The processes still in process group pgid."""
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,args="], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if int(l.split()[1]) == pgid]


def test_demo_swaps_and_stops(tmp_path):
    env = dict(os.environ, SWAPD_BUILD=os.path.relpath(BUILD, ROOT))
    p = subprocess.Popen(["sh", os.path.join(ROOT, "tools", "demo.sh")], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    seen = []
    try:
        start = time.monotonic()
        url = None
        while url is None:
            line = read_line(p.stdout, max(0, 90 - (time.monotonic() - start)))
            assert line is not None, "no kiosk URL:\n" + "\n".join(seen)
            seen.append(line)
            m = re.search(r"the kiosk page: (http://127\.0\.0\.1:\d+/)", line)
            url = m and m.group(1)
        # the first swap runs on its own, within a minute of the start
        while not any("swap 1: completed" in l for l in seen):
            left = 60 - (time.monotonic() - start)
            line = read_line(p.stdout, max(0, left))
            assert line is not None, "no swap within a minute:\n" + "\n".join(seen[-30:])
            seen.append(line)
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

#!/usr/bin/env python3
"""make bench: the share of a scan-to-unlock path that token verification
takes. A fresh S token is scanned (verified, its single-use mark written
durably) and then a slot is unlocked (audited durably, written to the slot
controller over the simulated RS-485 line at 115200 baud); the path is the
two round trips as a client sees them, verification is what swapd measured
around token_verify() for that scan, in the same run."""
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from swapd_fixture import Daemon, RackSim, rack_config, slots_of, wait_until  # noqa: E402
from conftest import ROOT, bin_path  # noqa: E402

N = int(os.environ.get("BENCH_SCANS", "100"))


def main():
    with tempfile.TemporaryDirectory(prefix="swapd-bench-") as tmp:
        sim = RackSim(tmp, slots=4, baud=115200).start()
        d = Daemon(tmp)
        keys = os.path.join(tmp, "keys.json")
        with open(keys, "w") as f:
            f.write('{"keys":[{"kid":"b1","secret":"%s"}]}' % base64.b64encode(os.urandom(32)).decode())
        os.chmod(keys, 0o600)
        cfg = rack_config(d, sim, os.path.join(ROOT, "config/profiles/swapd-slot-v1.json"),
                          poll_interval_ms=250)
        cfg["tokens"] = {"keys": keys}
        d.write_config(cfg)
        try:
            d.start()
            wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 20, "slots online")
            tokens = [subprocess.check_output(
                [bin_path("swaptoken"), "issue", "--keys", keys, "--kid", "b1", "--kind", "S",
                 "--station", "ST-TEST-1", "--subject", f"u-{i}", "--ttl", "3600"], text=True).strip()
                for i in range(N)]
            conn = d.connect()
            paths, verify, record = [], [], []
            for i, tok in enumerate(tokens):
                t0 = time.perf_counter()
                r = d.request("scan", conn=conn, token=tok)["result"]
                u = d.request("unlock", conn=conn, slot=1 + i % 4)
                paths.append((time.perf_counter() - t0) * 1e6)
                assert r["result"] == "ok" and u["ok"], (r, u)
                verify.append(r["verify_us"])
                record.append(r["record_us"])
            conn.close()
            p, v, w = statistics.median(paths), statistics.median(verify), statistics.median(record)
            print(f"scan-to-unlock over {N} fresh tokens (medians): path {p:.0f} us, of which "
                  f"token verification {v:.0f} us (steps 1-8, with the store's revocation and "
                  f"replay look-ups) and the durable scan record {w:.0f} us")
            print(f"  verification share of the path = {v / p:.4f}  ({v:.0f} / {p:.0f})")
        finally:
            d.close()
            sim.kill()


if __name__ == "__main__":
    main()

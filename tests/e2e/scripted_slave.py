"""A misbehaving Modbus RTU slave on a pty, scripted by the test: it answers
late, or babbles, where rack-sim (the real firmware) never would.

It serves one unit with the firmware's register map (firmware/REGISTERS.md):
20 input registers and 5 holding registers. `delay(n)` says how long to wait
before answering the n-th request (seconds; None: answer at once). Input
register 10 (voltage) carries the slave's clock when the request came, in
units of 10 ms modulo 65536, so a test can tell which request an answer
belongs to."""
import os
import pty
import select
import threading
import time
import tty

from test_rack_sim_util import crc16


def clock10():
    """The wall clock in 10 ms units, modulo 65536 (what register 10 says)."""
    return int(time.time() * 100) % 65536


class ScriptedSlave:
    def __init__(self, link, unit=1, delay=lambda n: None, babble=False):
        self.link = link
        self.unit = unit
        self.delay = delay
        self.babble = babble
        self.inputs = [0] * 20
        self.inputs[0] = 1   # a battery is present
        self.inputs[2] = 1   # the lock is sensed closed
        self.inputs[6] = 42  # battery id 42
        self.holding = [1, 0, 100, 0, 5]
        self.requests = 0
        self.applied = []    # (time, addr, value) of every write taken
        self.lock = threading.Lock()
        self.master, slave = pty.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        self.slave_fd = slave
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.ttyname(slave), link)
        self.stop_flag = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def close(self):
        self.stop_flag = True
        self.thread.join(5)
        os.close(self.master)
        os.close(self.slave_fd)
        if os.path.lexists(self.link):
            os.unlink(self.link)

    def answer(self, req):
        """The reply to one well-formed request, or None."""
        unit, fc = req[0], req[1]
        if unit != self.unit:
            return None
        addr, qty = req[2] << 8 | req[3], req[4] << 8 | req[5]
        with self.lock:
            if fc in (3, 4):
                regs = self.holding if fc == 3 else list(self.inputs)
                if fc == 4:
                    regs[10] = clock10()
                if addr + qty > len(regs):
                    body = bytes([unit, fc | 0x80, 2])
                else:
                    data = b"".join(v.to_bytes(2, "big") for v in regs[addr:addr + qty])
                    body = bytes([unit, fc, 2 * qty]) + data
            elif fc == 6:
                if addr < len(self.holding):
                    self.holding[addr] = qty
                    self.applied.append((time.time(), addr, qty))
                body = bytes(req[:6])
            elif fc == 16:
                for i in range(qty):
                    if addr + i < len(self.holding):
                        self.holding[addr + i] = req[7 + 2 * i] << 8 | req[8 + 2 * i]
                body = bytes(req[:6])
            else:
                body = bytes([unit, fc | 0x80, 1])
        c = crc16(body)
        return body + bytes([c & 0xFF, c >> 8])

    @staticmethod
    def frame_len(buf):
        """Length of the request at the start of buf, or 0 if not complete."""
        if len(buf) < 2:
            return 0
        if buf[1] in (3, 4, 6):
            return 8
        if buf[1] == 16 and len(buf) >= 7:
            return 9 + buf[6]
        return 0 if buf[1] == 16 else len(buf)

    def run(self):
        buf = b""
        pending = []  # (time to send, bytes)
        while not self.stop_flag:
            now = time.monotonic()
            for due, out in [p for p in pending if p[0] <= now]:
                os.write(self.master, out)
                pending.remove((due, out))
            if self.babble:
                os.write(self.master, bytes(range(7, 200, 3)))
            wait = min([p[0] for p in pending], default=now + 0.05) - now
            r, _, _ = select.select([self.master], [], [], max(0.0, min(wait, 0.005 if self.babble else 0.05)))
            if not r:
                continue
            try:
                buf += os.read(self.master, 512)
            except OSError:
                return
            while True:
                n = self.frame_len(buf)
                if not n or len(buf) < n:
                    break
                req, buf = buf[:n], buf[n:]
                if len(req) < 8 or crc16(req[:-2]) != (req[-2] | req[-1] << 8):
                    buf = b""  # lost sync: drop what is there, as a slave does on silence
                    break
                if req[0] == 0:  # broadcast: executed, never answered
                    self.answer(bytes([self.unit]) + req[1:])
                    continue
                out = self.answer(req)
                with self.lock:
                    n_req = self.requests
                    self.requests += 1
                if out is None:
                    continue
                d = self.delay(n_req)
                pending.append((time.monotonic() + (d or 0), out))

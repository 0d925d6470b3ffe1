"""Shared fixtures of the ipm pytest suite.

Environment (ctest sets both): IPM_LIBRARY, the libipm.so to test (else the
package finds its own); IPM_BIN_DIR, where ipm-send and ipm-recv are (else
they are looked up on PATH).
"""

import itertools
import os
import select
import shutil
import subprocess
import time

import pytest

_counter = itertools.count()


@pytest.fixture
def name():
    """A name no other test (or test process) uses."""
    return f"ipm-py-{os.getpid()}-{next(_counter)}"


def tool(which):
    d = os.environ.get("IPM_BIN_DIR")
    path = os.path.join(d, which) if d else shutil.which(which)
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"{which} not found (set IPM_BIN_DIR to the directory holding it)")
    return path


class Proc:
    """A C tool running beside the test, its stderr watched for a line."""

    def __init__(self, args, stdin=None):
        self.p = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.args = args
        self.err = b""

    def write(self, text):
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()

    def wait_stderr(self, needle, timeout=10.0):
        """The first stderr line containing needle (fails the test after timeout)."""
        deadline = time.monotonic() + timeout
        fd = self.p.stderr.fileno()
        while time.monotonic() < deadline:
            for line in self.err.decode(errors="replace").splitlines():
                if needle in line and (self.err.endswith(b"\n") or line != self.err.splitlines()[-1]):
                    return line
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self.err += chunk
        self.kill()
        pytest.fail(f"{self.args[0]} did not print '{needle}'; stderr: {self.err!r}")

    def close_stdin(self):
        self.p.stdin.close()
        self.p.stdin = None

    def finish(self, timeout=20.0):
        """(returncode, stdout, stderr) as text, once it exits."""
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.args[0]} did not exit within {timeout} s")
        return self.p.returncode, out.decode(errors="replace"), (self.err + (err or b"")).decode(
            errors="replace"
        )

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def procs():
    """Start C tools; every one still running at the end is killed."""
    started = []

    def start(args, stdin=None):
        p = Proc(args, stdin)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()

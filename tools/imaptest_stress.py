#!/usr/bin/env python3
"""imaptest's random stress mode against a live pecd: 50 clients for 60 seconds doing
what imaptest's default profile does (SELECT, FETCH, STORE with keywords, APPEND,
EXPUNGE, …) on one mailbox, each client checking what it is told against what the
others did (\\Recent given twice, a keyword used without being in FLAGS, flags or
messages changing under it). Any such error fails the run; the daemon's memory is
reported at the end.

Not part of CI (it runs for a fixed minute). Usage:
    tools/imaptest_stress.py PECD_BINARY SHARED_DIR [clients=50] [secs=60]
imaptest is built as by CI (tests/imaptest/build.sh, cached outside the clone). The
throttle on password guessing is raised for the run: fifty clients logging in at once
from one address would otherwise be locked out, as an attack would be.
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "imaptest"))

import conformance  # noqa: E402

THROTTLE = """
[login]
failures_per_address = 100000
failures_per_address_account = 100000
failures_per_account = 100000
max_pending_checks = 256
"""


def memory(pid):
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pecd, shared = sys.argv[1], sys.argv[2]
    extra = dict(arg.split("=", 1) for arg in sys.argv[3:])
    clients, secs = extra.get("clients", "50"), extra.get("secs", "60")
    built, why = conformance.build_imaptest(shared)
    if built is None:
        print(f"imaptest stress skipped: {why}")
        return 0
    with tempfile.TemporaryDirectory(prefix="pecd-imapstress-") as work:
        work = Path(work)
        process, port = conformance.start_pecd(str(Path(pecd).resolve()), work, THROTTLE)
        try:
            before = memory(process.pid)
            command = [str(built / "imaptest"), "host=127.0.0.1", f"port={port}",
                       f"user={conformance.USER}", f"pass={conformance.PASSWORD}",
                       "ssl=any-cert", f"clients={clients}", f"secs={secs}",
                       f"mbox={built / 'tests' / 'default.mbox'}"]
            print("$ " + " ".join(command).replace(conformance.PASSWORD, "…"))
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=int(secs) + 120)
            after = memory(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    print("\n".join(done.stdout.splitlines()[-6:]))
    kinds = {}
    for line in errors:
        kind = re.sub(r"\d+", "N", line.split(": ", 2)[-1])[:100]
        kinds[kind] = kinds.get(kind, 0) + 1
    for kind, count in sorted(kinds.items(), key=lambda k: -k[1])[:15]:
        print(f"{count:6} × {kind}")
    print(f"imaptest stress: {clients} clients, {secs} s: {len(errors)} errors; "
          f"pecd RSS {before.get('VmRSS')} KiB before, {after.get('VmRSS')} KiB after, "
          f"peak {after.get('VmHWM')} KiB")
    return 1 if errors or done.returncode != 0 else 0


if __name__ == "__main__":
    sys.exit(main())

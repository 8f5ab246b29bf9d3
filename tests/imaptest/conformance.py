#!/usr/bin/env python3
"""Dovecot's imaptest scripted tests against a live pecd, over implicit TLS.

Builds imaptest once into the CI cache (build.sh), makes a provider with `pecd init` in
a temporary folder and one mailbox with a known password, starts `pecd serve`, and runs
each scripted test group of imaptest's `tests/` folder on its own
(`imaptest … ssl=any-cert test=tests/GROUP`), so every group gets its own verdict:

- failed: imaptest reported a failed command, or ended without its summary;
- skipped: no command ran, because pecd does not announce a capability the group
  needs (imaptest's summary line does not count these, so they are told apart here);
- passed: otherwise.

Fails when any group fails. Groups that Dovecot 2.3 passes (dovecot-passes.txt) and
pecd does not run are listed as not run, never counted as passed.

Usage: conformance.py PECD_BINARY SHARED_DIR [GROUP …]
When SHARED_DIR holds no imaptest source (a clone without ../shared), prints why and
exits 0 without testing anything.
"""

import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
USER = "tester@imaptest.test"
PASSWORD = "Imaptest-Password-1"
GROUP_TIMEOUT_SECS = 180


def free_port_base():
    """A base of seven consecutive free loopback ports (pecd init's N … N+6)."""
    for _ in range(50):
        base = random.randrange(20000, 60000)
        sockets = []
        try:
            for port in range(base, base + 7):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                sockets.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free ports")


def wait_for_port(port, process, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pecd serve exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def start_pecd(pecd, work, extra_config=""):
    """`pecd init` + a mailbox + `pecd serve`: the process and its IMAPS port."""
    base = free_port_base()
    directory = work / "provider"
    subprocess.run([pecd, "init", str(directory), "--domain", "imaptest.test", "--name",
                    "Gestore imaptest", "--port-base", str(base)], check=True,
                   capture_output=True)
    config = directory / "pecd.toml"
    if extra_config:
        with open(config, "a") as f:
            f.write(extra_config)
    subprocess.run([pecd, "mailbox", "add", USER, "--config", str(config),
                    "--password-stdin"], input=PASSWORD + "\n", text=True, check=True,
                   capture_output=True)
    log = open(work / "pecd.log", "w")
    process = subprocess.Popen([pecd, "serve", "--config", str(config)], stdout=log,
                               stderr=log)
    wait_for_port(base + 4, process)
    return process, base + 4


def build_imaptest(shared):
    """The folder with `imaptest` and `tests/`, or None (with the reason) when the
    source is not there."""
    tarball = Path(shared) / "tools" / "imaptest" / "imaptest-release-2.3.tar.gz"
    if not tarball.is_file():
        return None, f"{tarball} not found"
    built = subprocess.run(["bash", str(HERE / "build.sh"), str(shared)], check=True,
                           stdout=subprocess.PIPE, text=True)
    return Path(built.stdout.strip().splitlines()[-1]), None


def groups_in(tests):
    """Every scripted test group: the files of tests/ except the .mbox sources."""
    return sorted(p.name for p in tests.iterdir()
                  if p.is_file() and not p.name.endswith(".mbox"))


SUMMARY = re.compile(r"(\d+) test groups: (\d+) failed")
COMMANDS = re.compile(r"(base protocol|extensions): (\d+)/(\d+) individual commands failed")


def run_group(imaptest, tests, group, port):
    """One group's verdict ('passed', 'failed', 'skipped'), its command counts (failed,
    run) and imaptest's error output."""
    command = [str(imaptest), "host=127.0.0.1", f"port={port}", f"user={USER}",
               f"pass={PASSWORD}", "ssl=any-cert", f"test={tests / group}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=GROUP_TIMEOUT_SECS, cwd=tests.parent)
    except subprocess.TimeoutExpired as timeout:
        return "failed", (0, 0), f"timed out after {GROUP_TIMEOUT_SECS} s\n{timeout.stderr or ''}"
    summary = SUMMARY.search(done.stdout)
    counts = [(int(f), int(n)) for _, f, n in COMMANDS.findall(done.stdout)]
    failed = sum(f for f, _ in counts)
    run = sum(n for _, n in counts)
    if summary is None or len(counts) != 2:
        return "failed", (failed, run), f"no summary (exit {done.returncode})\n{done.stdout}{done.stderr}"
    if int(summary.group(2)) > 0 or failed > 0:
        return "failed", (failed, run), done.stderr
    if run == 0:
        return "skipped", (0, 0), done.stderr
    return "passed", (0, run), done.stderr


def dovecot_passes():
    lines = (HERE / "dovecot-passes.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pecd, shared, only = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3:]
    built, why = build_imaptest(shared)
    if built is None:
        print(f"imaptest conformance skipped: {why}")
        return 0
    imaptest, tests = built / "imaptest", built / "tests"
    groups = only or groups_in(tests)
    reference = dovecot_passes()
    with tempfile.TemporaryDirectory(prefix="pecd-imaptest-") as work:
        work = Path(work)
        process, port = start_pecd(pecd, work)
        try:
            results = {g: run_group(imaptest, tests, g, port) for g in groups}
        finally:
            process.terminate()
            process.wait(timeout=30)
        return report(results, reference, work)


def report(results, reference, work):
    verdicts = {v: [g for g, (verdict, _, _) in results.items() if verdict == v]
                for v in ("passed", "failed", "skipped")}
    for group in verdicts["failed"]:
        print(f"--- imaptest group {group} FAILED\n{results[group][2].strip()}\n")
    failed_commands = sum(c[0] for _, c, _ in results.values())
    run_commands = sum(c[1] for _, c, _ in results.values())
    print(f"imaptest: {len(results)} groups, {len(verdicts['passed'])} passed, "
          f"{len(verdicts['failed'])} failed, {len(verdicts['skipped'])} skipped "
          f"(capability not announced); {failed_commands} of {run_commands} commands failed")
    not_run = sorted(set(verdicts["skipped"]) & reference)
    if not_run:
        print(f"imaptest: NOT RUN, though Dovecot 2.3 passes them: {' '.join(not_run)}")
    others = sorted(set(verdicts["skipped"]) - reference)
    if others:
        print(f"imaptest: skipped, as by Dovecot 2.3: {' '.join(others)}")
    if verdicts["failed"]:
        print(f"imaptest: FAILED groups: {' '.join(verdicts['failed'])}")
        log = (work / "pecd.log").read_text(errors="replace")
        tail = "\n".join(log.splitlines()[-40:])
        print(f"pecd log (last lines):\n{tail}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

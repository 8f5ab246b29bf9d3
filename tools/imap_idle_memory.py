#!/usr/bin/env python3
"""Memory per idle IMAP session of a freshly started pecd, as PSS.

1. `pecd init` in a temporary folder, one mailbox, `--messages` small messages APPENDed
   into its INBOX by a first daemon, which is then stopped;
2. a fresh `pecd serve` on the same data; after `--settle` seconds its PSS (the Pss:
   line of /proc/PID/smaps_rollup) and VmRSS are read;
3. `--sessions` TLS sessions are opened to IMAPS (`--login-concurrency` logins in
   flight), each LOGIN then SELECT INBOX (and IDLE with `--idle`), and left open;
   PSS is read one second after every 100 sessions (no login in flight; the password
   checkers may still hold their working memory, alike at every such reading) and
   once more `--settle` seconds after the last;
4. it prints the PSS before and with the sessions, the KiB per session over the whole
   run from the fresh start (`fresh`, everything the sessions made the process take,
   one-time costs of the first logins included) and between the first checkpoint and
   the last (`marginal`, what one more session costs), then closes them.

`--env KEY=VALUE` passes a variable to pecd (e.g. MALLOC_MMAP_THRESHOLD_=131072).
Nothing is asserted: it is a measurement; figures go in docs/performance.md.

Usage: python3 tools/imap_idle_memory.py --pecd target/release/pecd [--sessions 500]
"""

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

USER = "memoria@pec-a.test"
PASSWORD = "Memoria-Password-1"


def smaps_pss(pid):
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def status_field(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def measure(pid):
    return {"pss_kib": smaps_pss(pid), "rss_kib": status_field(pid, "VmRSS"),
            "threads": status_field(pid, "Threads")}


def wait_port(port, process, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pecd exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def raise_nofile(n):
    def apply():
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return apply


def start(pecd, config, port, env, log):
    process = subprocess.Popen([pecd, "serve", "--config", config], stdout=log, stderr=log,
                               env={**os.environ, "RUST_LOG": "warn", **env},
                               preexec_fn=raise_nofile(65536))
    wait_port(port, process)
    return process


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def until(reader, tag):
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed")
        if line.startswith(tag):
            if not line[len(tag):].startswith(b" OK"):
                raise RuntimeError(line)
            return


async def fill(port, ctx, count):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                   server_hostname="localhost")
    await reader.readline()
    writer.write(f'a LOGIN "{USER}" "{PASSWORD}"\r\n'.encode())
    await until(reader, b"a")
    for n in range(count):
        body = (f"From: mittente@pec-b.test\r\nTo: {USER}\r\nSubject: messaggio {n}\r\n"
                f"Message-ID: <m{n}@pec-b.test>\r\n\r\nTesto {n}.\r\n").encode()
        writer.write(f"b{n} APPEND INBOX {{{len(body)}+}}\r\n".encode() + body + b"\r\n")
        await until(reader, f"b{n}".encode())
    writer.close()


async def open_sessions(port, ctx, count, concurrency, idle, checkpoint):
    """Opens the sessions 100 at a time; after each hundred, with no login in flight
    (a password check holds 19 MiB while it runs), `checkpoint` reads the memory."""
    gate = asyncio.Semaphore(concurrency)
    sessions, failures = [], []

    async def one():
        async with gate:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, ssl=ctx, server_hostname="localhost")
                await reader.readline()
                writer.write(f'a LOGIN "{USER}" "{PASSWORD}"\r\n'.encode())
                await until(reader, b"a")
                writer.write(b"b SELECT INBOX\r\n")
                await until(reader, b"b")
                if idle:
                    writer.write(b"c IDLE\r\n")
                    if not (await reader.readline()).startswith(b"+"):
                        raise RuntimeError("no IDLE continuation")
                sessions.append(writer)
            except Exception as error:  # noqa: BLE001 (counted and shown)
                failures.append(repr(error))

    for start in range(0, count, 100):
        await asyncio.gather(*(one() for _ in range(min(100, count - start))))
        await asyncio.sleep(1)
        checkpoint(len(sessions))
    return sessions, failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pecd", required=True)
    ap.add_argument("--sessions", type=int, default=500)
    ap.add_argument("--messages", type=int, default=100, help="messages in the INBOX")
    ap.add_argument("--login-concurrency", type=int, default=4,
                    help="logins in flight (pecd refuses more than [login] failures_per_address_account)")
    ap.add_argument("--idle", action="store_true", help="each session also enters IDLE")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds before the first and the last reading (pecd's password "
                         "checkers give their memory back 2 s after their last check)")
    ap.add_argument("--port-base", type=int, default=34500)
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for pecd")
    a = ap.parse_args()
    print("command: python3 " + " ".join(sys.argv), flush=True)
    pecd = os.path.abspath(a.pecd)
    env = dict(item.split("=", 1) for item in a.env)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.sessions + 1000), hard))
    tmp = tempfile.mkdtemp(prefix="imap-idle-memory-")
    try:
        directory = f"{tmp}/pecd"
        subprocess.run([pecd, "init", directory, "--domain", "pec-a.test", "--name",
                        "Gestore A S.p.A.", "--port-base", str(a.port_base)],
                       check=True, capture_output=True)
        config = f"{directory}/pecd.toml"
        text = open(config).read()
        limit = a.sessions + 100
        text = text.replace("[listen]", f"[limits]\nmax_connections = {limit}\n"
                                        f"connections_per_ip = {limit}\n\n[listen]", 1)
        open(config, "w").write(text)
        subprocess.run([pecd, "mailbox", "add", USER, "--config", config, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)
        port = a.port_base + 4
        ctx = ssl.create_default_context(cafile=f"{directory}/certs/ca.pem")
        log = open(f"{tmp}/pecd.log", "a")
        if a.messages:
            first = start(pecd, config, port, env, log)
            asyncio.run(fill(port, ctx, a.messages))
            stop(first)
        process = start(pecd, config, port, env, log)
        time.sleep(a.settle)
        result = {"sessions": a.sessions, "messages": a.messages, "idle": a.idle, "env": env,
                  "before": measure(process.pid), "checkpoints": {}}

        def checkpoint(n):
            result["checkpoints"][n] = measure(process.pid)

        loop = asyncio.new_event_loop()
        started = time.perf_counter()
        sessions, failures = loop.run_until_complete(open_sessions(
            port, ctx, a.sessions, a.login_concurrency, a.idle, checkpoint))
        result["open_seconds"] = round(time.perf_counter() - started, 1)
        result["opened"], result["failures"] = len(sessions), len(failures)
        if failures:
            result["first_failure"] = failures[0]
        loop.run_until_complete(asyncio.sleep(a.settle))
        result["with_sessions"] = measure(process.pid)
        for writer in sessions:
            writer.close()
        loop.run_until_complete(asyncio.sleep(1))
        loop.close()
        stop(process)
        report(result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(r):
    n = r["opened"]
    before, after = r["before"]["pss_kib"], r["with_sessions"]["pss_kib"]
    print(json.dumps(r), flush=True)
    print(f"PSS fresh {before} KiB, with {n} sessions {after} KiB: "
          f"fresh {(after - before) / max(n, 1):.1f} KiB per session", flush=True)
    marks = sorted(r["checkpoints"].items())
    if len(marks) >= 2:
        (n0, m0), (n1, m1) = marks[0], marks[-1]
        per = (m1["pss_kib"] - m0["pss_kib"]) / (n1 - n0)
        print(f"marginal from {n0} to {n1} sessions: {per:.1f} KiB per session", flush=True)


if __name__ == "__main__":
    main()

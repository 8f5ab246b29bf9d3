#!/usr/bin/env python3
"""Memory per idle IMAP session of a freshly started pecd, as PSS; and what mail to one
holder costs while other holders' sessions sit in IDLE.

1. `pecd init` in a temporary folder, one mailbox, `--messages` small messages APPENDed
   into its INBOX by a first daemon, which is then stopped;
2. a fresh `pecd serve` on the same data; after `--settle` seconds its PSS (the Pss:
   line of /proc/PID/smaps_rollup) and VmRSS are read;
3. `--sessions` TLS sessions are opened to IMAPS (`--login-concurrency` logins in
   flight), each LOGIN then SELECT INBOX (and IDLE with `--idle`, or NOTIFY SET for
   its selected folder and all its own folders with `--notify`), and left open;
   PSS is read one second after every 100 sessions (no login in flight; the password
   checkers may still hold their working memory, alike at every such reading) and
   once more `--settle` seconds after the last;
4. it prints the PSS before and with the sessions, the KiB per session over the whole
   run from the fresh start (`fresh`, everything the sessions made the process take,
   one-time costs of the first logins included) and between the first checkpoint and
   the last (`marginal`, what one more session costs), then closes them.

With `--holders N` the sessions log in as N different mailboxes (made in step 1),
round robin, instead of all as one. With `--deliveries M`, once the sessions are open
(idling with `--idle`, or watching with `--notify`), one more holder that no session watches APPENDs M small
messages into its own INBOX, one after the other, each a store commit that changes only
its mailbox; the daemon's CPU time (utime + stime of /proc/PID/stat) over those M
commits is reported, in all and per commit. `--baseline PECD` runs the same with a
second binary first (e.g. main's build), on a copy of the same data, and prints the
ratio: what waking every idle session at each commit costs against waking only the
sessions of the holder it changed.

`--env KEY=VALUE` passes a variable to pecd (e.g. MALLOC_MMAP_THRESHOLD_=131072).
Nothing is asserted: it is a measurement; figures go in docs/performance.md.

Usage: python3 tools/imap_idle_memory.py --pecd target/release/pecd [--sessions 500]
       python3 tools/imap_idle_memory.py --pecd NEW --baseline OLD --idle \
           --sessions 500 --holders 500 --deliveries 200 --messages 10
"""

import argparse
import asyncio
import concurrent.futures
import json
import os
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

# Run as a script from tools/, beside the IMAP benchmark that starts servers the same way.
from imap_bench import raise_nofile, wait_port

USER = "memoria@pec-a.test"
PASSWORD = "Memoria-Password-1"
# The holder mail is delivered to in `--deliveries`: no session watches it.
RECIPIENT = "destinatario@pec-a.test"


def holder(n, holders):
    """The mailbox of the n-th session: USER, or one of `holders` others."""
    return USER if holders <= 1 else f"titolare{n % holders}@pec-a.test"


def cpu_ticks(pid):
    """utime + stime of the process, in clock ticks (fields 14 and 15 of /proc/PID/stat,
    counted after the parenthesised command name)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


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


def start(pecd, config, port, env, log):
    process = subprocess.Popen([pecd, "serve", "--config", config], stdout=log, stderr=log,
                               env={**os.environ, "RUST_LOG": "warn", **env},
                               preexec_fn=raise_nofile(65536))
    wait_port(port, process, "pecd", timeout=120)
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


async def fill(port, ctx, count, user=USER):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                   server_hostname="localhost")
    await reader.readline()
    writer.write(f'a LOGIN "{user}" "{PASSWORD}"\r\n'.encode())
    await until(reader, b"a")
    for n in range(count):
        body = (f"From: mittente@pec-b.test\r\nTo: {user}\r\nSubject: messaggio {n}\r\n"
                f"Message-ID: <m{n}@pec-b.test>\r\n\r\nTesto {n}.\r\n").encode()
        writer.write(f"b{n} APPEND INBOX {{{len(body)}+}}\r\n".encode() + body + b"\r\n")
        await until(reader, f"b{n}".encode())
    writer.close()


async def open_sessions(port, ctx, count, concurrency, idle, checkpoint, holders=1):
    """Opens the sessions 100 at a time; after each hundred, with no login in flight
    (a password check holds 19 MiB while it runs), `checkpoint` reads the memory."""
    gate = asyncio.Semaphore(concurrency)
    sessions, failures = [], []

    async def one(n):
        async with gate:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, ssl=ctx, server_hostname="localhost")
                await reader.readline()
                writer.write(f'a LOGIN "{holder(n, holders)}" "{PASSWORD}"\r\n'.encode())
                await until(reader, b"a")
                writer.write(b"b SELECT INBOX\r\n")
                await until(reader, b"b")
                if idle == "notify":
                    writer.write(b"c NOTIFY SET STATUS (selected (MessageNew MessageExpunge "
                                 b"FlagChange)) (personal (MessageNew MessageExpunge "
                                 b"MailboxName SubscriptionChange))\r\n")
                    await until(reader, b"c")
                elif idle:
                    writer.write(b"c IDLE\r\n")
                    if not (await reader.readline()).startswith(b"+"):
                        raise RuntimeError("no IDLE continuation")
                sessions.append(writer)
            except Exception as error:  # noqa: BLE001 (counted and shown)
                failures.append(repr(error))

    for start in range(0, count, 100):
        await asyncio.gather(*(one(start + n) for n in range(min(100, count - start))))
        await asyncio.sleep(1)
        checkpoint(len(sessions))
    return sessions, failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pecd", required=True)
    ap.add_argument("--baseline", help="a second pecd, measured first on the same data")
    ap.add_argument("--sessions", type=int, default=500)
    ap.add_argument("--holders", type=int, default=1,
                    help="mailboxes the sessions log in as, round robin")
    ap.add_argument("--deliveries", type=int, default=0,
                    help="messages APPENDed to a holder no session watches, CPU measured")
    ap.add_argument("--messages", type=int, default=100, help="messages in the INBOX")
    ap.add_argument("--login-concurrency", type=int, default=4,
                    help="logins in flight (pecd refuses more than [login] failures_per_address_account)")
    ap.add_argument("--idle", action="store_true", help="each session also enters IDLE")
    ap.add_argument("--notify", action="store_true",
                    help="each session asks for NOTIFY on its folders instead")
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
        config, ctx = prepare(pecd, a, tmp, env)
        runs = [("baseline", os.path.abspath(a.baseline))] if a.baseline else []
        results = {}
        for name, binary in runs + [("pecd", pecd)]:
            results[name] = run(binary, config, ctx, a, env, tmp)
            report(results[name])
        if a.baseline and a.deliveries:
            old = results["baseline"]["delivery_cpu_ticks"]
            new = results["pecd"]["delivery_cpu_ticks"]
            print(f"CPU over the deliveries: baseline {old} ticks, pecd {new} ticks: "
                  f"pecd/baseline = {new / max(old, 1):.3f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prepare(pecd, a, tmp, env):
    """Step 1: the provider, its mailboxes (added through the running daemon, a few at
    a time) and USER's messages."""
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
    port = a.port_base + 4
    ctx = ssl.create_default_context(cafile=f"{directory}/certs/ca.pem")
    log = open(f"{tmp}/pecd.log", "a")
    first = start(pecd, config, port, env, log)
    users = [USER] + [holder(n, a.holders) for n in range(a.holders if a.holders > 1 else 0)]
    users += [RECIPIENT] if a.deliveries else []

    def add(user):
        subprocess.run([pecd, "mailbox", "add", user, "--config", config, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(add, users))
    if a.messages:
        asyncio.run(fill(port, ctx, a.messages))
    stop(first)
    return config, ctx


def run(pecd, config, ctx, a, env, tmp):
    """Steps 2 to 4 with one binary, and the deliveries when asked for."""
    port = a.port_base + 4
    log = open(f"{tmp}/pecd.log", "a")
    process = start(pecd, config, port, env, log)
    time.sleep(a.settle)
    result = {"pecd": pecd, "sessions": a.sessions, "holders": a.holders,
              "messages": a.messages, "idle": a.idle, "notify": a.notify, "env": env,
              "before": measure(process.pid), "checkpoints": {}}

    def checkpoint(n):
        result["checkpoints"][n] = measure(process.pid)

    loop = asyncio.new_event_loop()
    started = time.perf_counter()
    sessions, failures = loop.run_until_complete(open_sessions(
        port, ctx, a.sessions, a.login_concurrency, "notify" if a.notify else a.idle,
        checkpoint, a.holders))
    result["open_seconds"] = round(time.perf_counter() - started, 1)
    result["opened"], result["failures"] = len(sessions), len(failures)
    if failures:
        result["first_failure"] = failures[0]
    loop.run_until_complete(asyncio.sleep(a.settle))
    result["with_sessions"] = measure(process.pid)
    if a.deliveries:
        before = cpu_ticks(process.pid)
        started = time.perf_counter()
        loop.run_until_complete(fill(port, ctx, a.deliveries, RECIPIENT))
        # Wakes still being handled when the last APPEND is answered count too.
        loop.run_until_complete(asyncio.sleep(1))
        result["delivery_cpu_ticks"] = cpu_ticks(process.pid) - before
        result["deliveries"] = a.deliveries
        result["delivery_seconds"] = round(time.perf_counter() - started, 1)
    for writer in sessions:
        writer.close()
    loop.run_until_complete(asyncio.sleep(1))
    loop.close()
    stop(process)
    return result


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
    if "delivery_cpu_ticks" in r:
        ticks, tick = r["delivery_cpu_ticks"], os.sysconf("SC_CLK_TCK")
        n = r["deliveries"]
        print(f"{r['pecd']}: {ticks} ticks ({ticks / tick:.2f} s) of CPU over {n} deliveries "
              f"in {r['delivery_seconds']} s, {1000 * ticks / tick / n:.1f} ms each", flush=True)


if __name__ == "__main__":
    main()

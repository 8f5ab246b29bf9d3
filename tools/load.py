#!/usr/bin/env python3
"""Load tool for the provider daemon (a benchmark, not a timed test).

Starts two providers A and B with `pecd init` + `pecd serve` on loopback, sends N
messages from C concurrent SMTP connections (AUTH over STARTTLS) through A to B, waits
until every ricevuta di avvenuta consegna is back at A, and reports:

  * end-to-end messages per second (from the moment every connection has logged in to
    the last CONSEGNA in the sender's INBOX, watched over IMAP; the event log is then
    checked to hold one avvenuta consegna per message),
  * p50 / p99 submission latency (SMTP session for one message, client side),
  * the CPU time pecd A and B spent per message during the run (utime + stime from
    /proc), the client's (this script's threads and the `pecd log query` it polls with),
    the fraction of the machine's CPU left idle during the run by these processes, and
    the machine's idle, iowait and steal fractions (/proc/stat),
  * the signing bound of this machine measured in the same run: RSA-2048 signatures per
    second (`openssl speed -seconds 3 rsa2048`) divided by the signatures each message
    needs (accettazione + busta at A, presa in carico + consegna at B = 4), and the ratio.
    That rate is one core's (`openssl speed` signs on one thread). The summary also gives
    the ratio to the stricter bound of every core signing at once (`openssl speed -multi`,
    measured at the start and the end of the invocation), since A and B share the cores.

With `--repeat N` it runs N times, each run between two signing-rate measurements
(the bound of a run is their mean: a shared VM's speed drifts), and reports the median.
With `--baseline OTHER_PECD` it alternates the two binaries run by run, and also reports
the speed-up of `--pecd` over the baseline.

With `--cluster` it alternates, run by run, provider A on the embedded store and on the
cluster engine (a PostgreSQL that `tools/postgres.sh` starts for the invocation, a new
database per run), reports the ratio of the two, and adds the CPU time the PostgreSQL
server's processes spent per message. With `--cluster --nodes 2` it also runs A as two
`pecd serve` nodes on one database (the connections split between their submission
ports; B relays to node 1), reports the ratio of two nodes to one and the CPU time per
message of each node: adding a node adds capacity when the sum does not grow.

Usage: python3 tools/load.py [--messages 300] [--connections 8] [--repeat 1] [--pecd target/release/pecd]
           [--baseline OTHER_PECD | --cluster [--nodes 2]]
Build first: cargo build --release
"""
import argparse, imaplib, json, os, re, shutil, smtplib, ssl, statistics, subprocess, sys, tempfile, threading, time

# Every client logs in to the same account from the same address at once; the login
# throttle counts attempts in flight against that pair, so the load needs room for
# them (the same for both binaries of an A/B run).
LOGIN_BURST = "[login]\nfailures_per_address = 10000\nfailures_per_address_account = 10000\nfailures_per_account = 10000\nmax_pending_checks = 1024\n"

def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout

def cpu_seconds(pid):
    """User + system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def machine_ticks():
    """The machine's CPU time so far, by state (/proc/stat, first line)."""
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return dict(zip(names, map(int, open("/proc/stat").readline().split()[1:9])))

def own_cpu_seconds():
    """CPU time of this script's threads and of the commands it ran and waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system

def rsa_sign_rate(cores=1):
    """RSA-2048 signatures per second, on one core or on `cores` cores at once (-multi)."""
    multi = ["-multi", str(cores)] if cores > 1 else []
    out = subprocess.run(["openssl", "speed", *multi, "-seconds", "3", "rsa2048"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.match(r"\s*rsa\s+2048 bits\s+\S+s\s+\S+s\s+([\d.]+)", line)
        if m:
            return float(m.group(1))
    raise SystemExit("cannot read `openssl speed rsa2048`:\n" + out)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--pecd", default="target/release/pecd")
    ap.add_argument("--baseline", help="another pecd binary, run alternately with --pecd under the same conditions")
    ap.add_argument("--port-base", type=int, default=31000)
    ap.add_argument("--repeat", type=int, default=1, help="runs (of each binary), each between two signing-rate measurements; the median is reported")
    ap.add_argument("--cluster", action="store_true", help="alternate provider A on the embedded store and on PostgreSQL")
    ap.add_argument("--nodes", type=int, default=1, help="with --cluster, also run A as this many nodes")
    a = ap.parse_args()
    # Each entry: a label, the binary, and how many nodes of A run on the cluster engine
    # (0: A on the embedded store).
    binaries = [("pecd", os.path.abspath(a.pecd), 0)]
    if a.baseline:
        binaries.append(("baseline", os.path.abspath(a.baseline), 0))
    if a.cluster:
        binaries.append(("cluster", os.path.abspath(a.pecd), 1))
        if a.nodes > 1:
            binaries.append((f"cluster_{a.nodes}_nodes", os.path.abspath(a.pecd), a.nodes))
    runs = {label: [] for label, _, _ in binaries}
    leftovers = []
    postgres = None
    try:
        if a.cluster:
            postgres = tempfile.mkdtemp(prefix="pecd-load-pg-")
            a.postgres_url = run("bash", os.path.join(os.path.dirname(__file__), "postgres.sh"), "start", postgres).strip()
            a.postgres_dir = postgres
        all_cores = [rsa_sign_rate(os.cpu_count())]
        rate = rsa_sign_rate()
        for n in range(a.repeat):
            for label, binary, nodes in binaries:
                settle()
                result = one_run(a, binary, leftovers, nodes)
                after = rsa_sign_rate()
                # The bound from the signing rate measured just before and just after
                # this run: a shared VM's speed drifts over minutes.
                bound = (rate + after) / 2 / 4
                result.update({
                    "rsa2048_signs_per_second": {"before": rate, "after": after}, "signatures_per_message": 4,
                    "signing_bound_messages_per_second": round(bound, 1),
                    "ratio_to_signing_bound": round(result["end_to_end_messages_per_second"] / bound, 3),
                })
                rate = after
                runs[label].append(result)
                print(json.dumps({"binary": label, "run": n + 1, **result}), flush=True)
        all_cores.append(rsa_sign_rate(os.cpu_count()))
    finally:
        for tmp in leftovers:
            shutil.rmtree(tmp, ignore_errors=True)
        if postgres:
            run("bash", os.path.join(os.path.dirname(__file__), "postgres.sh"), "stop", postgres)
    all_cores_rate = statistics.mean(all_cores)
    summary = {"runs": a.repeat, "messages": runs["pecd"][0]["messages"], "connections": a.connections,
               "cores": os.cpu_count(), "rsa2048_signs_per_second_all_cores": round(all_cores_rate, 1)}
    for label, results in runs.items():
        summary[label] = {
            "binary": {l: b for l, b, _ in binaries}[label],
            "median_end_to_end_messages_per_second": statistics.median(r["end_to_end_messages_per_second"] for r in results),
            "median_ratio_to_signing_bound": round(statistics.median(r["ratio_to_signing_bound"] for r in results), 3),
            "ratios": sorted(r["ratio_to_signing_bound"] for r in results),
            # The stricter reading of the bound: every core signing, not one.
            "median_ratio_to_all_cores_signing_bound": round(
                statistics.median(r["end_to_end_messages_per_second"] for r in results) / (all_cores_rate / 4), 3),
        }
    if a.baseline:
        summary["speedup_over_baseline"] = round(
            summary["pecd"]["median_end_to_end_messages_per_second"]
            / summary["baseline"]["median_end_to_end_messages_per_second"], 2)
    if a.cluster:
        summary["cluster_over_embedded"] = round(
            summary["cluster"]["median_end_to_end_messages_per_second"]
            / summary["pecd"]["median_end_to_end_messages_per_second"], 2)
        if a.nodes > 1:
            summary[f"{a.nodes}_nodes_over_1"] = round(
                summary[f"cluster_{a.nodes}_nodes"]["median_end_to_end_messages_per_second"]
                / summary["cluster"]["median_end_to_end_messages_per_second"], 2)
        for label in [l for l in runs if l != "baseline"]:
            for key in ("pecd A", "postgres"):
                values = [r["cpu_ms_per_message"][key] for r in runs[label] if key in r["cpu_ms_per_message"]]
                if values:
                    summary[label][f"median_cpu_ms_per_message_{key.replace(' ', '_')}"] = statistics.median(values)
    print(json.dumps(summary, indent=2))

def settle():
    """Waits for the disk to be quiet before a run: flushes and sleeps 6 s.

    The stores of earlier runs are only deleted at exit, because of ext4's inode-reuse
    guard: without a journal (as on this VM's disk) ext4 avoids reusing an inode freed
    in the last 5 s, or 5 min when its inode table block is dirty again, and skips such
    inodes one by one on every file creation. Deleting a run's thousands of bodies right
    before the next run made that run's creations cost up to a quarter of pecd's CPU
    (`recently_deleted` in the profile)."""
    os.sync()
    time.sleep(6)

def postgres_cpu_seconds(a):
    """CPU time so far of the test PostgreSQL's server and of its live backends."""
    master = int(open(f"{a.postgres_dir}/data/postmaster.pid").readline())
    total = cpu_seconds(master)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            if ppid == master:
                total += cpu_seconds(pid)
        except (OSError, ValueError):
            pass  # the process ended meanwhile
    return total

def postgres_transactions(url):
    """Transactions committed and rolled back so far in the database at `url`."""
    out = run("psql", url, "-At", "-c", "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()")
    commits, rollbacks = map(int, out.strip().split("|"))
    return commits, rollbacks

def second_node(tmp, base, node_base):
    """A second node of A in `tmp/a2`: A's keys, index and database, its own ports and
    data folder."""
    os.makedirs(f"{tmp}/a2")
    shutil.copytree(f"{tmp}/a/certs", f"{tmp}/a2/certs")
    shutil.copy(f"{tmp}/a/index.ldif", f"{tmp}/a2/index.ldif")
    conf = open(f"{tmp}/a/pecd.toml").read()
    for offset in range(7):
        conf = conf.replace(f'127.0.0.1:{base + offset}"', f'127.0.0.1:{node_base + offset}"')
    open(f"{tmp}/a2/pecd.toml", "w").write(conf)

def postgres_bytes(url):
    """The size on disk of the database at `url`, its indexes and TOAST included."""
    return int(run("psql", url, "-At", "-c", "SELECT pg_database_size(current_database())").strip())

def one_run(a, pecd, leftovers, nodes=0):
    """Two fresh providers, the load, and what it measured (without the signing bound).
    The stores' directory is added to `leftovers`, for the caller to delete. With
    `nodes`, A's store is a new database on the invocation's PostgreSQL, served by that
    many nodes."""
    cluster = nodes > 0
    tmp = tempfile.mkdtemp(prefix="pecd-load-")
    leftovers.append(tmp)
    procs = []
    try:
        bases = {"a": a.port_base, "b": a.port_base + 10}
        domains = {"a": "pec-a.test", "b": "pec-b.test"}
        for k in "ab":
            run(pecd, "init", f"{tmp}/{k}", "--domain", domains[k], "--name", f"Gestore {k.upper()}", "--port-base", str(bases[k]))
        index = open(f"{tmp}/a/index.ldif").read() + "\n" + open(f"{tmp}/b/index.ldif").read()
        for k, peer in (("a", "b"), ("b", "a")):
            open(f"{tmp}/{k}/index.ldif", "w").write(index)
            conf = open(f"{tmp}/{k}/pecd.toml").read()
            conf = conf.replace("[routes]\n", f'[routes]\n"{domains[peer]}" = "127.0.0.1:{bases[peer] + 2}"\n')
            conf = conf.replace("[listen]", f'[relay]\nretry_base_secs = 1\ntls_roots = ["{tmp}/{peer}/certs/ca.pem"]\n\n[limits]\nmax_connections = 1000\n\n{LOGIN_BURST}\n[listen]')
            if cluster and k == "a":
                database = os.path.basename(tmp).replace("-", "_")
                run("psql", a.postgres_url, "-q", "-c", f"CREATE DATABASE {database}")
                database_url = f'{a.postgres_url.rsplit("/", 1)[0]}/{database}'
                conf += f'\n[store]\nbackend = "cluster"\npostgres = "{database_url}"\n'
            open(f"{tmp}/{k}/pecd.toml", "w").write(conf)
        if nodes > 1:
            second_node(tmp, bases["a"], a.port_base + 20)
        subprocess.run([pecd, "mailbox", "add", "alice@pec-a.test", "--config", f"{tmp}/a/pecd.toml", "--password-stdin"], input="Segreta-123\n", text=True, check=True, capture_output=True)
        subprocess.run([pecd, "mailbox", "add", "bob@pec-b.test", "--config", f"{tmp}/b/pecd.toml", "--password-stdin", "--quota-bytes", str(50 * 2**30)], input="Segreta-123\n", text=True, check=True, capture_output=True)
        # Process keys: "a", "b", and "a2" for a second node of A.
        keys = ["a", "b"] + (["a2"] if nodes > 1 else [])
        for k in keys:
            procs.append(subprocess.Popen([pecd, "serve", "--config", f"{tmp}/{k}/pecd.toml"], stderr=open(f"{tmp}/{k}.log", "w"), env={**os.environ, "RUST_LOG": "warn"}))
        submission = [bases["a"], a.port_base + 20][:max(nodes, 1)]
        time.sleep(1.5)

        body = "Testo di prova.\r\n" + ("x" * 76 + "\r\n") * 40  # ~3 KiB, a typical PEC text
        latencies, lock = [], threading.Lock()
        per = a.messages // a.connections
        logged_in = threading.Barrier(a.connections + 1)
        def client(n):
            ctx = ssl.create_default_context(cafile=f"{tmp}/a/certs/ca.pem")
            with smtplib.SMTP("127.0.0.1", submission[n % len(submission)], timeout=120) as s:
                s.starttls(context=ctx)
                s.login("alice@pec-a.test", "Segreta-123")
                logged_in.wait()
                for i in range(per):
                    msg = f"From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: carico {n}-{i}\r\nMessage-ID: <load-{n}-{i}@client.test>\r\n\r\n{body}"
                    t = time.perf_counter()
                    s.sendmail("alice@pec-a.test", ["bob@pec-b.test"], msg.encode())
                    with lock:
                        latencies.append(time.perf_counter() - t)
        # Alice's INBOX gets one ACCETTAZIONE and one CONSEGNA per message: watched over
        # IMAP (STATUS every 20 ms), it tells when the last receipt is in.
        imap = imaplib.IMAP4_SSL("127.0.0.1", bases["a"] + 4, ssl_context=ssl.create_default_context(cafile=f"{tmp}/a/certs/ca.pem"))
        imap.login("alice@pec-a.test", "Segreta-123")
        threads = [threading.Thread(target=client, args=(n,)) for n in range(a.connections)]
        for t in threads: t.start()
        # The clock starts once every connection has logged in (the AUTH's argon2 checks
        # are not message work).
        logged_in.wait()
        start, own_start, ticks_start = time.perf_counter(), own_cpu_seconds(), machine_ticks()
        cpu_start = {k: cpu_seconds(p.pid) for k, p in zip(keys, procs)}
        if cluster:
            cpu_start["postgres"] = postgres_cpu_seconds(a)
            transactions_start = postgres_transactions(database_url)
            bytes_start = postgres_bytes(database_url)
        for t in threads: t.join()
        total = per * a.connections
        while True:
            status = imap.status("INBOX", "(MESSAGES)")[1][0].decode()
            if int(re.search(r"MESSAGES (\d+)", status).group(1)) >= 2 * total:
                break
            if time.perf_counter() - start > 600:
                raise SystemExit(f"only {status} after 10 minutes")
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        cpu = {k: cpu_seconds(p.pid) - cpu_start[k] for k, p in zip(keys, procs)}
        if cluster:
            cpu["postgres"] = postgres_cpu_seconds(a) - cpu_start["postgres"]
            transactions = [end - start for start, end in zip(transactions_start, postgres_transactions(database_url))]
            database_bytes = postgres_bytes(database_url) - bytes_start
        client_cpu = own_cpu_seconds() - own_start
        ticks = {k: v - ticks_start[k] for k, v in machine_ticks().items()}
        machine = {k: round(v / max(sum(ticks.values()), 1), 3) for k, v in ticks.items() if k in ("idle", "iowait", "steal")}
        idle_at_end = 1 - (sum(cpu.values()) + client_cpu) / (elapsed * os.cpu_count())
        imap.logout()
        for p in procs: p.terminate()
        for p in procs: p.wait()
        procs.clear()
        log = run(pecd, "log", "query", "--config", f"{tmp}/a/pecd.toml", "--json")
        done = sum(1 for line in log.splitlines() if '"receipt-received"' in line and '"avvenuta-consegna"' in line)
        if done != total:
            raise SystemExit(f"{done} avvenuta consegna receipts logged at A for {total} messages")
        lat = sorted(latencies)
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        mps = total / elapsed
        result = {
            "messages": total, "connections": a.connections, "seconds": round(elapsed, 2),
            "end_to_end_messages_per_second": round(mps, 1),
            "submission_latency_ms": {"p50": round(p50, 1), "p99": round(p99, 1)},
            "cpu_ms_per_message": {(k if k == "postgres" else f"pecd {k.upper()}"): round(v * 1000 / total, 2) for k, v in cpu.items()},
            "nodes_of_a": max(nodes, 1),
            "cpu_ms_per_message_client": round(client_cpu * 1000 / total, 2),
            "cpu_idle_fraction": round(max(idle_at_end, 0.0), 2),
            "machine_cpu_fractions": machine,
        }
        if nodes > 1:
            # A's CPU is its nodes' together; each node's own is there too.
            per_node = result["cpu_ms_per_message"]
            per_node["pecd A1"] = per_node.pop("pecd A")
            per_node["pecd A"] = round(per_node["pecd A1"] + per_node["pecd A2"], 2)
        if cluster:
            # Reads are transactions too (the IMAP STATUS polling among them); a rollback is
            # a write that failed or is run again.
            result["postgres_transactions_per_message"] = {
                "committed": round(transactions[0] / total, 1), "rolled_back": round(transactions[1] / total, 2)}
            # What the database grew by, per message: its records and the small bodies
            # (the receipts, the envelope of this short text), before any VACUUM.
            result["postgres_kib_per_message"] = round(database_bytes / 1024 / total, 1)
        return result
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()

if __name__ == "__main__":
    main()

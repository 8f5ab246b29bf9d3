#!/usr/bin/env python3
"""What a Prometheus scrape of pecd costs, empty and with a backlog.

Makes a provider with `pecd init` in a scratch folder (its route to a peer that never
answers), times GET /metrics, submits N messages to the dead peer (so the relay queue
and the timers hold N records each, which the scrape reads from the store), and times
it again. The ratio is the figure: both runs are on the same machine in the same run.

Usage: tools/scrape_bench.py PECD_BINARY [--messages N] [--scrapes S] [--port-base P]
"""

import argparse
import smtplib
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

PASSWORD = "Segreta-123"


def scrape_ms(port, token, count):
    started = time.perf_counter()
    for _ in range(count):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer " + token})
        body = urllib.request.urlopen(request, timeout=60).read()
    return (time.perf_counter() - started) / count * 1000, body.decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("pecd")
    parser.add_argument("--messages", type=int, default=450)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--port-base", type=int, default=23500)
    args = parser.parse_args()
    base = args.port_base
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "a"
        subprocess.run([args.pecd, "init", str(home), "--domain", "pec-a.test", "--name", "A",
                        "--port-base", str(base)], check=True, capture_output=True)
        config = home / "pecd.toml"
        text = config.read_text().replace("[routes]\n", f'[routes]\n"pec-b.test" = "127.0.0.1:{base + 9}"\n')
        # Every message of this run is the day's allowance of one mailbox type at most.
        text = text.replace("[listen]", "[mailbox_types.STANDARD]\ninbox_quota_bytes = 1073741824\n"
                            "archive_quota_bytes = 1073741824\nmax_recipients = 50\n"
                            f"max_messages_per_day = {args.messages + 10}\n\n"
                            "[mailbox_types.MASSIVA-BASE]\ninbox_quota_bytes = 1\narchive_quota_bytes = 1\n"
                            "max_recipients = 50\nmax_messages_per_day = 1\n\n"
                            "[mailbox_types.MASSIVA-LARGE]\ninbox_quota_bytes = 1\narchive_quota_bytes = 1\n"
                            "max_recipients = 50\nmax_messages_per_day = 1\n\n[listen]")
        config.write_text(text)
        token = [line.split('"')[1] for line in text.splitlines() if line.startswith("token")][0]
        subprocess.run([args.pecd, "mailbox", "add", "alice@pec-a.test", "--config", str(config),
                        "--password-stdin"], input=PASSWORD + "\n", text=True, check=True, capture_output=True)
        log = open(home / "pecd.log", "w")
        daemon = subprocess.Popen([args.pecd, "serve", "--config", str(config)], stderr=log)
        try:
            time.sleep(4)
            empty, _ = scrape_ms(base + 5, token, args.scrapes)
            context = ssl.create_default_context(cafile=str(home / "certs/ca.pem"))
            with smtplib.SMTP("127.0.0.1", base, timeout=60) as smtp:
                smtp.starttls(context=context)
                smtp.login("alice@pec-a.test", PASSWORD)
                for n in range(args.messages):
                    smtp.sendmail("alice@pec-a.test", ["bob@pec-b.test"],
                                  (f"From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: m{n}\r\n"
                                   f"Message-ID: <m{n}@bench>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n\r\nx\r\n").encode())
            full, body = scrape_ms(base + 5, token, args.scrapes)
            depth = [line for line in body.splitlines() if line.startswith("pecd_relay_queue_depth")]
            print(f"scrape, empty store: {empty:.2f} ms")
            print(f"scrape, {depth[0]} and as many timers: {full:.2f} ms ({full / empty:.1f}x)")
        finally:
            daemon.terminate()
            daemon.wait()


if __name__ == "__main__":
    main()

"""Receipt keywords on the sender's Sent copy, through two live providers.
Arguments: port-base cafile user password (the user is on provider A; B serves
anna@pec-b.test and bruno@pec-b.test, and has no nobody@pec-b.test)."""

import imaplib
import smtplib
import ssl
import sys
import time

base, cafile, user, password = sys.argv[1:5]
base = int(base)
ctx = ssl.create_default_context(cafile=cafile)


def ok(result):
    typ, data = result
    assert typ == "OK", (typ, data)
    return data


def message(n, to, cc=None):
    head = f"From: {user}\r\nTo: {to}\r\n" + (f"Cc: {cc}\r\n" if cc else "")
    return (head + f"Subject: Atto {n}\r\nMessage-ID: <kw-{n}@client.test>\r\n"
            "Date: Tue, 01 Dec 2026 10:00:00 +0100\r\n\r\nIn allegato l'atto.\r\n").encode()


def submit(body, rcpts):
    with smtplib.SMTP("127.0.0.1", base, timeout=30) as s:
        s.starttls(context=ctx)
        s.login(user, password)
        s.sendmail(user, rcpts, body)


def sent_flags(m, n):
    ok(m.select("Sent"))
    uids = ok(m.uid("SEARCH", "HEADER", "Message-ID", f"kw-{n}@client.test"))[0].split()
    assert len(uids) == 1, uids
    return ok(m.uid("FETCH", uids[0], "(FLAGS)"))[0].decode()


def wait_flags(m, n, wanted, unwanted=()):
    deadline = time.time() + 60
    while True:
        flags = sent_flags(m, n)
        if all(w in flags for w in wanted):
            assert not any(u in flags for u in unwanted), flags
            return flags
        assert time.time() < deadline, f"message {n}: {flags}, expected {wanted}"
        time.sleep(0.3)


m = imaplib.IMAP4_SSL("127.0.0.1", base + 4, ssl_context=ctx)
ok(m.login(user, password))

# 1. The client files its copy first, then submits; To and Cc both get delivered.
first = message(1, "anna@pec-b.test", "bruno@pec-b.test")
ok(m.append("Sent", "(\\Seen)", None, first))
submit(first, ["anna@pec-b.test", "bruno@pec-b.test"])
flags = wait_flags(m, 1, ["$PecAccettato", "$PecConsegnato"],
                   ["$PecConsegnaParziale", "$PecMancataConsegna"])
assert "\\Seen" in flags, flags

# 2. One recipient does not exist at B: partial delivery and a non-delivery notice.
second = message(2, "anna@pec-b.test", "nobody@pec-b.test")
ok(m.append("Sent", "(\\Seen)", None, second))
submit(second, ["anna@pec-b.test", "nobody@pec-b.test"])
wait_flags(m, 2, ["$PecAccettato", "$PecConsegnaParziale", "$PecMancataConsegna"],
           ["$PecConsegnato"])

# 3. Receipts first, the Sent copy afterwards: it catches up at once.
third = message(3, "anna@pec-b.test")
submit(third, ["anna@pec-b.test"])
ok(m.select("INBOX"))
deadline = time.time() + 60
while not ok(m.search(None, "SUBJECT", '"CONSEGNA: Atto 3"'))[0]:
    assert time.time() < deadline, "no CONSEGNA for message 3"
    time.sleep(0.3)
    ok(m.noop())
ok(m.append("Sent", None, None, third))
flags = sent_flags(m, 3)
assert "$PecAccettato" in flags and "$PecConsegnato" in flags, flags

# Receipts themselves are filterable by keyword.
ok(m.select("INBOX"))
receipts = ok(m.search(None, "KEYWORD", "$PecRicevuta"))[0].split()
assert len(receipts) >= 6, receipts
m.logout()
print("keywords: all checks passed")

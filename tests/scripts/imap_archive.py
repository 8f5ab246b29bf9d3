"""Manual conservation through IMAP: what is copied or appended into --ARCHIVIA-- is
conserved and then leaves the folder. Arguments: imaps-port cafile user password."""

import imaplib
import ssl
import sys
import time

port, cafile, user, password = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=cafile)


def ok(result):
    typ, data = result
    assert typ == "OK", (typ, data)
    return data


m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx)
ok(m.login(user, password))
ok(m.select("INBOX"))
deadline = time.time() + 60
while not ok(m.search(None, "KEYWORD", "$PecBusta"))[0]:
    assert time.time() < deadline, "no transport envelope in INBOX"
    time.sleep(0.3)
    ok(m.noop())
envelope = ok(m.search(None, "KEYWORD", "$PecBusta"))[0].split()[0]
ok(m.copy(envelope, "--ARCHIVIA--"))
ok(m.append("--ARCHIVIA--", None, None,
            b"From: studio@pec-a.test\r\nTo: " + user.encode() + b"\r\nSubject: Atto da conservare\r\n"
            b"Message-ID: <manuale-1@client.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0100\r\n\r\n"
            b"Testo dell'atto.\r\n"))
first = ok(m.status("--ARCHIVIA--", "(MESSAGES)"))[0]
print("in --ARCHIVIA-- after filing:", first.decode())
deadline = time.time() + 60
while True:
    status = ok(m.status("--ARCHIVIA--", "(MESSAGES)"))[0]
    if b"MESSAGES 0" in status:
        break
    assert time.time() < deadline, f"--ARCHIVIA-- did not empty: {status}"
    time.sleep(0.3)
# The INBOX copy stays; only the archive folder empties.
ok(m.select("INBOX"))
assert ok(m.search(None, "KEYWORD", "$PecBusta"))[0], "INBOX copy gone"
m.logout()
print("archive: conserved and removed")

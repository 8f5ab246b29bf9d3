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

# The read-only view of what is conserved, by year and kind.
year = time.strftime("%Y", time.gmtime())
names = [l.decode().rsplit(" ", 1)[1] for l in ok(m.list('""', "Conservazione/*"))]
assert f"Conservazione/{year}/Buste" in names and f"Conservazione/{year}/Altri" in names, names
listing = [l.decode() for l in ok(m.list('""', "Conservazione"))]
assert listing and "\\Noselect" in listing[0], listing
# SELECT answers READ-ONLY (imaplib raises on that), EXAMINE works as usual.
try:
    m.select(f"Conservazione/{year}/Altri")
    raise AssertionError("the view was selected read-write")
except imaplib.IMAP4.readonly:
    pass
typ, data = m.select(f"Conservazione/{year}/Altri", readonly=True)
assert typ == "OK" and data == [b"1"], (typ, data)
subject = ok(m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))[0][1]
assert subject == b"Subject: Atto da conservare\r\n\r\n", subject
assert ok(m.search(None, "TEXT", "dell'atto"))[0] == b"1"
assert ok(m.search(None, "TEXT", "assente"))[0] == b""
typ, _ = m.store("1", "+FLAGS", "\\Deleted")
assert typ == "NO"
typ, _ = m.copy("1", "INBOX")
assert typ == "NO"
typ, _ = m.create(f"Conservazione/{year}/Nuova")
assert typ == "NO"
st = ok(m.status(f"Conservazione/{year}/Buste", "(MESSAGES)"))[0]
assert b"MESSAGES 1" in st, st
ok(m.select(f"Conservazione/{year}/Buste", readonly=True))
whole = ok(m.fetch("1", "(BODY.PEEK[])"))[0][1]
assert b"X-Trasporto: posta-certificata" in whole, whole[:300]
m.logout()
print("archive: conserved, removed, and visible in the conservation view")

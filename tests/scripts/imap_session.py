"""Drives pecd's IMAP server with Python's imaplib through every command the issue
names, asserting each answer. Arguments: port cafile user password peer.
The peer is a second mailbox on the same provider that sends `user` a PEC by SMTP
while `user` is in IDLE. Exits non-zero (with a traceback) on the first failure."""

import imaplib
import re
import smtplib
import socket
import ssl
import sys
import threading
import time

port, cafile, user, password, peer = sys.argv[1:6]
# imaplib only lets through the commands it knows; these are standard extensions.
for name in ["ID", "ENABLE", "MOVE", "UNSELECT", "IDLE"]:
    imaplib.Commands.setdefault(name, ("NONAUTH", "AUTH", "SELECTED"))
port = int(port)
ctx = ssl.create_default_context(cafile=cafile)


def ok(result):
    typ, data = result
    assert typ == "OK", (typ, data)
    return data


# --- Before TLS: LOGINDISABLED, login refused, STARTTLS offered -------------------
m = imaplib.IMAP4("127.0.0.1", port)
assert "LOGINDISABLED" in m.capabilities and "STARTTLS" in m.capabilities, m.capabilities
try:
    m.login(user, password)
    raise AssertionError("LOGIN accepted before TLS")
except imaplib.IMAP4.error as e:
    assert "TLS" in str(e), e
m.starttls(ssl_context=ctx)
caps = m.capability()[1][0].decode().upper().split()
for cap in ["IMAP4rev1", "AUTH=PLAIN", "IDLE", "UIDPLUS", "MOVE", "CONDSTORE", "QUOTA",
            "NAMESPACE", "UNSELECT", "ENABLE", "ID", "LITERAL+", "SPECIAL-USE", "ESEARCH",
            "LIST-EXTENDED", "BINARY"]:
    assert cap.upper() in caps, (cap, caps)
assert "LOGINDISABLED" not in caps

# Wrong password and unknown user look the same.
for u, p in [(user, "wrong-Password-1"), ("nobody@" + user.split("@")[1], password)]:
    try:
        m.login(u, p)
        raise AssertionError("bad login accepted")
    except imaplib.IMAP4.error as e:
        assert "AUTHENTICATIONFAILED" in str(e), e
m.logout()

# --- AUTHENTICATE PLAIN over implicit TLS (imaps) ---------------------------------
m = imaplib.IMAP4_SSL("127.0.0.1", port + 1, ssl_context=ctx)
ok(m.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode()))
ok(m.noop())
typ, data = m._simple_command("ID", '("name" "imaplib")')
assert typ == "OK" and b"pecd" in m.untagged_responses.pop("ID")[0], data
typ, data = m._simple_command("ENABLE", "CONDSTORE")
assert typ == "OK", data
assert b"CONDSTORE" in m.untagged_responses.pop("ENABLED")[0]
typ, data = m.namespace()
assert typ == "OK" and data[0] == b'(("" "/")) NIL NIL', data

# --- Folders: LIST, SPECIAL-USE, LIST-EXTENDED, CREATE/RENAME/DELETE, subscriptions --
listing = ok(m.list())
assert any(b"\\Sent" in l and l.endswith(b"Sent") for l in listing), listing
assert any(b"\\Archive" in l and b"--ARCHIVIA--" in l for l in listing), listing
ok(m.create("Pratiche/2026"))
listing = [l.decode() for l in ok(m.list('""', "Pratiche/%"))]
assert listing == ['(\\HasNoChildren) "/" Pratiche/2026'], listing
listing = [l.decode() for l in ok(m.list('""', "%"))]
assert '(\\HasChildren) "/" Pratiche' in listing, listing
ok(m.rename("Pratiche", "Archivio-Clienti"))
names = [l.decode().rsplit(" ", 1)[1] for l in ok(m.list())]
assert "Archivio-Clienti/2026" in names and "Pratiche/2026" not in names, names
ok(m.unsubscribe("Archivio-Clienti/2026"))
lsub = [l.decode() for l in ok(m.lsub())]
assert not any("Archivio-Clienti/2026" in l for l in lsub), lsub
typ, data = m._simple_command("LIST", '(SUBSCRIBED) "" "*" RETURN (SPECIAL-USE)')
subscribed = m.untagged_responses.pop("LIST")
assert typ == "OK" and all(b"\\Subscribed" in l for l in subscribed), subscribed
assert not any(b"Archivio-Clienti/2026" in l for l in subscribed), subscribed
typ, data = m._simple_command("LIST", '(SPECIAL-USE) "" "*"')
special = m.untagged_responses.pop("LIST")
assert typ == "OK" and len(special) == 2, special
ok(m.subscribe("Archivio-Clienti/2026"))
ok(m.delete("Archivio-Clienti/2026"))
typ, _ = m.delete("INBOX")
assert typ == "NO"
typ, _ = m.select("Inesistente")
assert typ == "NO"

# --- APPEND (synchronizing literal, then LITERAL+), UIDPLUS ------------------------
msgs = []
for i in range(1, 6):
    body = (f"From: {user}\r\nTo: {peer}\r\nSubject: Pratica numero {i}\r\n"
            f"Message-ID: <pratica-{i}@client.test>\r\n"
            f"Date: Tue, 0{i} Dec 2026 10:00:00 +0100\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Testo della pratica {i}, parola{i}\r\n--b\r\n"
            "Content-Type: application/pdf; name=\"atto.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n").encode()
    msgs.append(body)
    flags = "(\\Seen)" if i % 2 else "()"
    data = ok(m.append("INBOX", flags, imaplib.Time2Internaldate(time.time() - i * 86400), body))
    assert re.search(rb"APPENDUID \d+ %d" % i, data[0]), data
# LITERAL+ (non-synchronizing) by hand.
extra = b"From: a@b\r\nSubject: literal plus\r\n\r\nciao\r\n"
tag = m._new_tag()
m.send(tag + b" APPEND INBOX {%d+}\r\n" % len(extra) + extra + b"\r\n")
while True:
    line = m.readline()
    if line.startswith(tag):
        assert b"OK" in line, line
        break

# --- SELECT / EXAMINE, STATUS, CONDSTORE -------------------------------------------
st = ok(m.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)"))[0].decode()
assert "MESSAGES 6" in st and "UIDNEXT 7" in st and "UNSEEN 3" in st, st
typ, data = m.select("INBOX", readonly=True)
assert typ == "OK" and data == [b"6"], data
assert m.untagged_responses.get("READ-ONLY") is not None or True
typ, _ = m.store("1", "+FLAGS", "\\Flagged")
assert typ == "NO"  # read-only
ok(m.select("INBOX"))
assert m.untagged_responses.get("UIDVALIDITY")

# --- FETCH: every item --------------------------------------------------------------
data = ok(m.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE UID MODSEQ)"))[0]
assert b"RFC822.SIZE %d" % len(msgs[0]) in data, data
assert b'"Pratica numero 1"' in data and b"<pratica-1@client.test>" in data, data
assert b"MODSEQ (" in data, data
data = ok(m.fetch("1", "(BODYSTRUCTURE)"))[0]
assert b'"APPLICATION" "PDF"' in data.upper() and b'"MIXED"' in data.upper(), data
data = ok(m.fetch("1", "(BODY)"))[0]
assert b"BODY (" in data, data
part = ok(m.fetch("1", "(BODY.PEEK[1])"))[0][1]
assert part.startswith(b"Testo della pratica 1"), part
partial = ok(m.fetch("1", "(BODY.PEEK[]<0.4>)"))[0][1]
assert partial == b"From", partial
head = ok(m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))[0][1]
assert head == b"Subject: Pratica numero 1\r\n\r\n", head
mime = ok(m.fetch("1", "(BODY.PEEK[2.MIME])"))[0][1]
assert b"application/pdf" in mime, mime
binary = ok(m.fetch("1", "(BINARY.PEEK[2] BINARY.SIZE[2])"))
assert binary[0][1] == b"%PDF-1.4\n", binary
data = ok(m.fetch("2", "(FLAGS)"))[0]
assert b"\\Seen" not in data, data
whole = ok(m.fetch("2", "(RFC822)"))[0][1]
assert whole == msgs[1], whole
data = ok(m.fetch("2", "(FLAGS)"))[0]
assert b"\\Seen" in data, data  # a non-peek fetch sets \Seen
data = ok(m.uid("FETCH", "3:4", "(FLAGS)"))
assert len([d for d in data if d]) == 2, data

# --- SEARCH: keys, sequence sets, ESEARCH -----------------------------------------
def search(*criteria, uid=False):
    data = ok(m.uid("SEARCH", *criteria) if uid else m.search(None, *criteria))
    return [int(x) for x in data[0].split(b"(")[0].split()]

assert search("ALL") == [1, 2, 3, 4, 5, 6]
assert search("SEEN") == [1, 2, 3, 5], search("SEEN")
assert search("UNSEEN") == [4, 6]
assert search("SUBJECT", '"numero 3"') == [3]
assert search("BODY", "parola4") == [4]
assert search("TEXT", "PAROLA5") == [5]
assert search("FROM", user) == [1, 2, 3, 4, 5]
assert search("HEADER", "Message-ID", "pratica-2") == [2]
assert search("OR", "SUBJECT", '"numero 1"', "SUBJECT", '"numero 2"') == [1, 2]
assert search("NOT", "SEEN", "LARGER", "100") == [4]
assert search("SMALLER", "100") == [6]
assert search("2:4", "SEEN") == [2, 3]
assert search("SENTON", "03-Dec-2026") == [3]
assert search("SENTBEFORE", "03-Dec-2026") == [1, 2]
assert search("SINCE", "01-Jan-2000") == [1, 2, 3, 4, 5, 6]
assert search("BEFORE", "01-Jan-2000") == []
assert search("UID", "2:3") == [2, 3]
assert search("ALL", uid=True) == [1, 2, 3, 4, 5, 6]
data = ok(m.search(None, "MODSEQ", "1"))[0]
assert re.search(rb"^1 2 3 4 5 6 \(MODSEQ \d+\)$", data), data
typ, data = m._simple_command("SEARCH", "RETURN (MIN MAX COUNT) SEEN")
es = m.untagged_responses.pop("ESEARCH")[0]
assert typ == "OK" and b"MIN 1 MAX 5 COUNT 4" in es, es
typ, data = m._simple_command("UID", "SEARCH", "RETURN () ALL")
es = m.untagged_responses.pop("ESEARCH")[0]
assert b"UID ALL 1:6" in es, es
typ, _ = m.search("KOI8-R", "ALL")
assert typ == "NO"

# --- STORE, CONDSTORE UNCHANGEDSINCE ----------------------------------------------
data = ok(m.store("1:2", "+FLAGS", "(\\Flagged $Pratica)"))
assert all(b"\\Flagged" in d and b"$Pratica" in d for d in data), data
data = ok(m.store("1", "-FLAGS.SILENT", "(\\Flagged)"))
data = ok(m.fetch("1", "(FLAGS MODSEQ)"))[0]
assert b"\\Flagged" not in data and b"$Pratica" in data, data
modseq = int(re.search(rb"MODSEQ \((\d+)\)", data).group(1))
typ, data = m._simple_command("STORE", "1", f"(UNCHANGEDSINCE {modseq - 1})", "+FLAGS", "(\\Answered)")
assert typ == "OK" and b"MODIFIED 1" in data[0], data
ok(m._simple_command("STORE", "1", f"(UNCHANGEDSINCE {modseq})", "+FLAGS", "(\\Answered)"))
m.untagged_responses.pop("FETCH", None)
typ, data = m._simple_command("FETCH", "1:*", f"(FLAGS) (CHANGEDSINCE {modseq})")
changed = m.untagged_responses.pop("FETCH")
assert typ == "OK" and len(changed) == 1, changed
ok(m.store("3", "FLAGS", "(\\Draft)"))
assert b"(\\Draft" in ok(m.fetch("3", "(FLAGS)"))[0]

# --- COPY, MOVE, EXPUNGE, UID EXPUNGE, CHECK, CLOSE, UNSELECT ----------------------
data = ok(m.copy("1:2", "Sent"))
assert re.search(rb"COPYUID \d+ 1:2 1:2", data[0]), data
typ, data = m.copy("1", "Inesistente")
assert typ == "NO" and b"TRYCREATE" in data[0], data
typ, data = m._simple_command("MOVE", "5", "--ARCHIVIA--")
assert typ == "OK", data
assert search("ALL") == [1, 2, 3, 4, 5]
ok(m.store("1", "+FLAGS", "\\Deleted"))
ok(m.store("2", "+FLAGS", "\\Deleted"))
typ, data = m.uid("EXPUNGE", "2")
assert typ == "OK", data
assert search("ALL", uid=True) == [1, 3, 4, 6], search("ALL", uid=True)
m.untagged_responses.pop("EXPUNGE", None)
data = ok(m.expunge())
assert data == [b"1"], data
assert search("ALL", uid=True) == [3, 4, 6]
ok(m.check())
ok(m.unselect())
tag = m._new_tag()
m.send(tag + b" FETCH 1 (FLAGS)\r\n")
line = m.readline()
assert line.startswith(tag + b" BAD"), line  # nothing selected
ok(m.select("INBOX"))
ok(m.store("1", "+FLAGS", "\\Deleted"))
ok(m.close())
st = ok(m.status("INBOX", "(MESSAGES)"))[0]
assert b"MESSAGES 2" in st, st

# --- QUOTA --------------------------------------------------------------------------
typ, data = m.getquotaroot("INBOX")
assert typ == "OK" and re.search(rb"STORAGE \d+ \d+", data[1][0]), data
typ, data = m.getquota('""')
assert typ == "OK", data

# --- IDLE: a PEC delivered by SMTP appears within a second --------------------------
ok(m.select("INBOX"))
tag = m._new_tag()
m.send(tag + b" IDLE\r\n")
assert m.readline().startswith(b"+"), "no IDLE continuation"


def send_pec():
    time.sleep(0.5)
    with smtplib.SMTP("127.0.0.1", port - 3, timeout=30) as s:
        s.starttls(context=ctx)
        s.login(peer, password)
        s.sendmail(peer, [user], (f"From: {peer}\r\nTo: {user}\r\nSubject: Notifica IDLE\r\n"
                                  "Message-ID: <idle-1@client.test>\r\n\r\nArrivata?\r\n").encode())


sender = threading.Thread(target=send_pec)
sender.start()
sent_at = None
m.sock.settimeout(30)
while True:
    line = m.readline()
    if sent_at is None:
        sent_at = time.time()
    if re.match(rb"\* \d+ EXISTS", line):
        break
sender.join()
m.send(b"DONE\r\n")
while True:
    line = m.readline()
    if line.startswith(tag):
        assert b"OK" in line, line
        break
subjects = ok(m.fetch("*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))[0][1]
assert b"POSTA CERTIFICATA: Notifica IDLE" in subjects, subjects
keywords = ok(m.fetch("*", "(FLAGS)"))[0]
assert b"$PecBusta" in keywords, keywords

# --- Bad input: clean errors, the session goes on ------------------------------------
tag = m._new_tag()
m.send(tag + b" FROBNICATE now\r\n")
line = m.readline()
assert line.startswith(tag + b" BAD"), line
m.send(b"\r\n")
assert m.readline().startswith(b"* BAD"), "empty line"
tag = m._new_tag()
m.send(tag + b" APPEND INBOX {999999999999}\r\n")
line = m.readline()
assert line.startswith(tag + b" NO") or line.startswith(tag + b" BAD"), line
ok(m.noop())
m.logout()
print("imaplib: all commands passed")

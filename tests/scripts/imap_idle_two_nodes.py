"""IDLE on one node of a cluster wakes when another node delivers. Arguments: the SMTP
submission port of node 1, the IMAPS port of node 2, the cafile, user, password, and
the recipient at the other provider.

`user` idles on node 2; a PEC submitted through node 1 puts its ricevuta di
accettazione in the user's INBOX (a commit of node 1 on the shared database): node 2
must tell `* N EXISTS`. Exits non-zero (with a traceback) on failure."""

import imaplib
import re
import smtplib
import ssl
import sys

smtp_port, imap_port, cafile, user, password, recipient = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)


def ok(result):
    typ, data = result
    assert typ == "OK", (typ, data)
    return data


m = imaplib.IMAP4_SSL("127.0.0.1", int(imap_port), ssl_context=ctx)
ok(m.login(user, password))
ok(m.select("INBOX"))
tag = m._new_tag()
m.send(tag + b" IDLE\r\n")
assert m.readline().startswith(b"+"), "no IDLE continuation"

with smtplib.SMTP("127.0.0.1", int(smtp_port), timeout=30) as s:
    s.starttls(context=ctx)
    s.login(user, password)
    s.sendmail(user, [recipient], (f"From: {user}\r\nTo: {recipient}\r\nSubject: Da un nodo all'altro\r\n"
                                   f"Message-ID: <two-nodes@client.test>\r\n\r\nx\r\n").encode())

m.sock.settimeout(30)
while not re.match(rb"\* \d+ EXISTS", line := m.readline()):
    assert line, "connection closed before EXISTS"
m.send(b"DONE\r\n")
while not (line := m.readline()).startswith(tag):
    assert line, "connection closed"
assert b" OK" in line, line
m.logout()
print("imap_idle_two_nodes: ok, node 2 saw node 1's delivery")

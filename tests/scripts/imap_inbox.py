"""Prints every message of a mailbox's INBOX, in UID order, one base64 line each, as
an IMAP client reads them (BODY.PEEK[], so nothing is marked seen). The daemon tests
read mailboxes this way while the daemon holds the store. Arguments: imaps-port cafile
user password."""

import base64
import imaplib
import ssl
import sys

port, cafile, user, password = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=cafile)
m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx)
m.login(user, password)
typ, data = m.select("INBOX", readonly=True)
assert typ == "OK", (typ, data)
typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])") if int(data[0]) else ("OK", [])
assert typ == "OK", (typ, data)
for item in data:
    if isinstance(item, tuple):
        print(base64.b64encode(item[1]).decode())
m.logout()

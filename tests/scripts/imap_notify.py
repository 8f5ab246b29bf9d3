"""NOTIFY (RFC 5465) with Python's imaplib against a live pecd over implicit TLS.
Arguments: port_base cafile user password other.

The watching session selects INBOX and asks for everything NOTIFY reports; a second
session of the same holder creates, subscribes, renames, fills and deletes folders,
and `other` sends `user` a PEC by SMTP. The watcher must be told each change while
no command of its own is running, in order. Meanwhile `other`, a different holder,
moves mail and folders of its own: none of it may reach the watcher, which listens a
while longer at the end to make sure. Exits non-zero (with a traceback) on the first
failure."""

import imaplib
import re
import smtplib
import ssl
import sys
import time

port_base, cafile, user, password, other = sys.argv[1:6]
port_base = int(port_base)
imaps = port_base + 4
imaplib.Commands.setdefault("NOTIFY", ("AUTH", "SELECTED"))
ctx = ssl.create_default_context(cafile=cafile)
EVENTS = "(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)"


def ok(result):
    typ, data = result
    assert typ == "OK", (typ, data)
    return data


def session(who):
    m = imaplib.IMAP4_SSL("127.0.0.1", imaps, ssl_context=ctx)
    ok(m.login(who, password))
    return m


watcher = session(user)
assert "NOTIFY" in watcher.capabilities, watcher.capabilities
ok(watcher.select("INBOX"))
ok(watcher._simple_command(
    "NOTIFY", "SET STATUS (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]) "
    f"MessageExpunge FlagChange)) (personal {EVENTS})"))
heard = []


def hear(pattern, seconds=10):
    """Reads unsolicited lines (with their literals) until one matches `pattern`."""
    watcher.sock.settimeout(seconds)
    deadline = time.time() + seconds
    while time.time() < deadline:
        line = watcher.readline()
        if not line:
            raise AssertionError("connection closed")
        literal = re.search(rb"\{(\d+)\}\r\n$", line)
        if literal:
            line += watcher.read(int(literal.group(1))) + watcher.readline()
        heard.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"never heard {pattern!r}; heard {heard!r}")


# The holder's other session changes folders: each change is told as it happens.
helper = session(user)
ok(helper.create("Pratiche"))
hear(rb'^\* LIST \(\) "/" Pratiche\r\n')
ok(helper.subscribe("Pratiche"))
hear(rb'^\* LIST \(\\Subscribed\) "/" Pratiche\r\n')
ok(helper.append("Pratiche", None, None, b"Subject: fascicolo\r\n\r\nuno\r\n"))
hear(rb"^\* STATUS Pratiche \(MESSAGES 1 UIDNEXT 2 ")
ok(helper.rename("Pratiche", "Archiviate"))
hear(rb'^\* LIST \(\) "/" Archiviate \("OLDNAME" \("Pratiche"\)\)\r\n')
ok(helper.delete("Archiviate"))
hear(rb'^\* LIST \(\\NonExistent\) "/" Archiviate\r\n')

# Another holder works in its own mailbox at the same time.
stranger = session(other)
ok(stranger.create("SegretoAltrui"))
ok(stranger.append("SegretoAltrui", None, None, b"Subject: riservato\r\n\r\nx\r\n"))
ok(stranger.append("INBOX", None, None, b"Subject: riservato\r\n\r\nx\r\n"))
ok(stranger.subscribe("SegretoAltrui"))

# A PEC arrives by SMTP into the selected INBOX: EXISTS and the asked attributes.
with smtplib.SMTP("127.0.0.1", port_base, timeout=30) as s:
    s.starttls(context=ctx)
    s.login(other, password)
    s.sendmail(other, [user], (f"From: {other}\r\nTo: {user}\r\nSubject: Avviso NOTIFY\r\n"
                               "Message-ID: <notify-1@client.test>\r\n\r\nArrivata?\r\n").encode())
hear(rb"^\* \d+ EXISTS\r\n", 60)
fetched = hear(rb"^\* \d+ FETCH \(UID \d+ BODY\[HEADER\.FIELDS \(SUBJECT\)\]", 10)
assert b"POSTA CERTIFICATA: Avviso NOTIFY" in fetched, fetched

# The other holder's receipts land in its INBOX, and it renames its folder: the
# watcher listens a while and must hear nothing of it.
ok(stranger.rename("SegretoAltrui", "AncoraSegreto"))
time.sleep(3)
# A NOOP's tagged answer comes after whatever was sent unasked before it.
tag = watcher._new_tag()
watcher.send(tag + b" NOOP\r\n")
hear(rb"^" + re.escape(tag) + rb" OK", 10)
everything = b"".join(heard)
for secret in [b"SegretoAltrui", b"AncoraSegreto", b"riservato", b"STATUS INBOX"]:
    assert secret not in everything, (secret, heard)
ok(watcher._simple_command("NOTIFY", "NONE"))
ok(helper.create("Dopo"))
ok(watcher.noop())
assert not any(b"Dopo" in line for line in watcher.untagged_responses.get("LIST", [])), \
    watcher.untagged_responses
for m in (watcher, helper, stranger):
    m.logout()
print("imap_notify: ok,", len(heard), "unsolicited lines heard")

"""IDLE wakes only the sessions of the holder whose mailbox a commit changed, against a
live pecd with public metrics. Arguments: port_base cafile user password other sender.

`other` sits in IDLE while `sender` sends `user` a PEC by SMTP (acceptance, relay,
reception and delivery: every commit of it changes `sender`'s or `user`'s mailbox).
`other`'s session must not be woken at all: `pecd_imap_wakes_total` (the IDLE and
NOTIFY sessions woken to re-read their mailbox) stays where it was, and nothing is
written to it. Then `user` IDLEs too and a second PEC arrives: `user` is told EXISTS,
the counter moves (so it does count wakes), and `other` still hears nothing. Exits
non-zero (with a traceback) on the first failure. Last, mail delivered between a
session's SELECT and its IDLE is reported as IDLE begins."""

import imaplib
import re
import select
import smtplib
import ssl
import sys
import time
import urllib.request

port_base, cafile, user, password, other, sender = sys.argv[1:7]
port_base = int(port_base)
ctx = ssl.create_default_context(cafile=cafile)


def ok(result):
    typ, data = result
    assert typ == "OK", (typ, data)
    return data


def wakes():
    """The daemon's count of IDLE/NOTIFY sessions woken by a commit."""
    url = f"http://127.0.0.1:{port_base + 5}/metrics"
    text = urllib.request.urlopen(url, timeout=30).read().decode()
    found = re.search(r"^pecd_imap_wakes_total (\d+)", text, re.M)
    assert found, "no pecd_imap_wakes_total in the metrics"
    return int(found.group(1))


def idle(who):
    m = imaplib.IMAP4_SSL("127.0.0.1", port_base + 4, ssl_context=ctx)
    ok(m.login(who, password))
    ok(m.select("INBOX"))
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    assert m.readline().startswith(b"+"), "no IDLE continuation"
    return m, tag


def silent(m, seconds):
    """Whether the server wrote nothing to `m` for `seconds` (looked at without reading,
    so the session stays usable)."""
    readable, _, _ = select.select([m.sock], [], [], seconds)
    assert not readable and m.sock.pending() == 0, "the server wrote to the session"
    return True


def send(subject, n):
    with smtplib.SMTP("127.0.0.1", port_base, timeout=30) as s:
        s.starttls(context=ctx)
        s.login(sender, password)
        s.sendmail(sender, [user], (f"From: {sender}\r\nTo: {user}\r\nSubject: {subject}\r\n"
                                    f"Message-ID: <holders-{n}@client.test>\r\n\r\nx\r\n").encode())


def told(m, pattern, seconds):
    """Reads `m` until a line matches `pattern`, for at most `seconds` a line."""
    m.sock.settimeout(seconds)
    while not re.match(pattern, line := m.readline()):
        assert line, "connection closed"


def done(m, tag):
    """Ends `m`'s IDLE, which must complete OK, and logs out."""
    m.sock.settimeout(30)
    m.send(b"DONE\r\n")
    while not (line := m.readline()).startswith(tag):
        assert line, "connection closed"
    assert b" OK" in line, line
    m.logout()


def delivered(count, seconds=60):
    """Waits until `user`'s INBOX holds `count` messages, asking with STATUS (a command
    of a session that is not idling, so no wake)."""
    m = imaplib.IMAP4_SSL("127.0.0.1", port_base + 4, ssl_context=ctx)
    ok(m.login(user, password))
    deadline = time.time() + seconds
    while time.time() < deadline:
        status = ok(m.status("INBOX", "(MESSAGES)"))[0]
        if int(re.search(rb"MESSAGES (\d+)", status).group(1)) >= count:
            m.logout()
            return
        time.sleep(0.2)
    raise AssertionError(f"{user} never got {count} messages")


# 1. Only `other` idles; mail for `user` arrives: nobody is woken.
bystander, bystander_tag = idle(other)
before = wakes()
send("Per un altro titolare", 1)
delivered(1)
time.sleep(2)
assert silent(bystander, 1)
assert wakes() == before, ("the bystander's session was woken", before, wakes())

# 2. `user` idles too; a second PEC: `user` is told, `other` still not.
watcher, watcher_tag = idle(user)
send("Per chi ascolta", 2)
told(watcher, rb"\* \d+ EXISTS", 60)
after = wakes()
assert after > before, ("the recipient's wake was not counted", before, after)
assert silent(bystander, 2)
done(watcher, watcher_tag)
done(bystander, bystander_tag)
# 3. Mail that lands after a session's last command and before its IDLE is reported as
# IDLE starts, though no commit follows to wake it.
late = imaplib.IMAP4_SSL("127.0.0.1", port_base + 4, ssl_context=ctx)
ok(late.login(user, password))
ok(late.select("INBOX"))
send("Prima di IDLE", 3)
delivered(3)
tag = late._new_tag()
late.send(tag + b" IDLE\r\n")
told(late, rb"\* 3 EXISTS", 10)
done(late, tag)
print(f"imap_idle_holders: ok, {after - before} wakes, all the recipient's")

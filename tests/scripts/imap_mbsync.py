"""mbsync (isync) against pecd over implicit TLS, both ways, with flag changes.
Arguments: imaps-port cafile user password workdir."""

import imaplib
import os
import pathlib
import ssl
import subprocess
import sys

port, cafile, user, password, work = sys.argv[1:6]
work = pathlib.Path(work)
(work / "Mail").mkdir(parents=True, exist_ok=True)
ctx = ssl.create_default_context(cafile=cafile)


def ok(result):
    typ, data = result
    assert typ == "OK", (typ, data)
    return data


config = work / "mbsyncrc"
config.write_text(f"""
IMAPAccount pec
Host localhost
Port {port}
User {user}
Pass {password}
SSLType IMAPS
CertificateFile {cafile}
AuthMechs LOGIN PLAIN

IMAPStore remote
Account pec

MaildirStore local
Path {work}/Mail/
Inbox {work}/Mail/INBOX
SubFolders Verbatim

Channel pec
Far :remote:
Near :local:
Patterns INBOX Sent
Create Both
Expunge Both
SyncState *
Sync All
""")


def mbsync():
    out = subprocess.run(["mbsync", "-c", str(config), "-a"], capture_output=True, text=True)
    assert out.returncode == 0, (out.stdout, out.stderr)


m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx)
ok(m.login(user, password))
for i in range(3):
    ok(m.append("INBOX", None, None,
                f"From: a@b.test\r\nSubject: remoto {i}\r\nMessage-ID: <r{i}@x>\r\n\r\ncorpo {i}\r\n".encode()))

# Far → near.
mbsync()
inbox = work / "Mail" / "INBOX"
local = sorted((inbox / "cur").iterdir()) + sorted((inbox / "new").iterdir())
assert len(local) == 3, local

# Near → far: a new local message, and a flag change (mark one seen and flagged).
new = inbox / "new" / "1700000000.local.test"
new.write_bytes(b"From: locale@pec-a.test\r\nSubject: locale\r\nMessage-ID: <l1@x>\r\n\r\nda vicino\r\n")
first = sorted((inbox / "cur").iterdir())[0] if list((inbox / "cur").iterdir()) else None
if first is None:
    first = sorted((inbox / "new").iterdir())[0]
    target = inbox / "cur" / (first.name + ":2,FS")
else:
    base_name = first.name.split(":2,")[0]
    target = first.with_name(base_name + ":2,FS")
os.rename(first, target)
mbsync()

ok(m.select("INBOX"))
assert ok(m.search(None, "SUBJECT", "locale"))[0] != b"", "local message not uploaded"
flagged = ok(m.search(None, "FLAGGED", "SEEN"))[0].split()
assert len(flagged) == 1, flagged

# Far-side change flows back: delete one remotely, mark another answered.
ok(m.store("2", "+FLAGS", "\\Answered"))
ok(m.store("3", "+FLAGS", "\\Deleted"))
ok(m.expunge())
mbsync()
files = list((inbox / "cur").iterdir()) + list((inbox / "new").iterdir())
assert len(files) == 3, files
assert any(":2," in f.name and "R" in f.name.split(":2,")[1] for f in files), files
m.logout()
print("mbsync: both ways passed")

#!/usr/bin/env python3
"""IMAP benchmark: pecd beside Dovecot, on the same machine and data (a benchmark, not a timed test).

Starts, on loopback and in one temporary directory, a pecd provider (`pecd init` +
`pecd serve`) and a private Dovecot instance (`dovecot -F -c CONFIG`, Debian's
`dovecot-imapd`, installed with apt-get when missing: passwd-file user, maildir under
the temp dir, its own base_dir/state_dir/log). Both are reached over implicit TLS
(pecd's imaps port N+4; Dovecot `ssl = required` with an imaps listener) using the same
certificate and RSA key (pecd's development TLS certificate), because pecd refuses
LOGIN before TLS. Then:

 1. generates a deterministic PEC mailbox (`--messages`, `--seed`): ricevute of
    8-15 KiB, buste di trasporto of 30-200 KiB with a PDF in their postacert.eml, and
    a few 1-2 MiB ones; multipart/signed > multipart/mixed > multipart/alternative
    (text/plain + text/html) + message/rfc822 + application/xml + smime.p7s;
 2. APPENDs the same bytes, with the same INTERNALDATE, into INBOX on both servers
    (`--load-connections` each, one server after the other, timed; the order in INBOX
    may then differ, so the 100 bodies are picked by Message-ID on each server);
 3. runs the same client workload against each with imaplib over TLS: SELECT INBOX,
    FETCH 1:* header fields, FETCH 100 full bodies, SEARCH TEXT (a word in ~1% of the
    messages), UID SEARCH HEADER SUBJECT (a word in ~1/6 of the subjects), STORE
    +FLAGS/-FLAGS (\\Seen) on 1:1000, and IDLE wake-up latency (a
    second connection APPENDs while the first IDLEs: APPEND's OK to the EXISTS line).
    Each operation is repeated (`--repeat`, 15 by default) and the median is reported;
    as with `timeit`, each timed call runs with Python's garbage collector off. The same
    commands are also timed over a bare TLS socket ("wire": send the command, read to
    the tagged reply skipping literals, no parsing), which leaves out imaplib's own
    cost and so shows the servers' difference more sharply;
 4. opens `--connections` authenticated idle connections to pecd (restarted on the same
    data first) and reports VmRSS before, with them open, and after closing them, and
    the RSS per connection; `--idle-state auth` leaves them logged in with no folder
    selected (the default), `idle` has each SELECT an empty folder and sit in IDLE,
    `both` does one after the other. Then once more with MALLOC_MMAP_THRESHOLD_=131072
    in pecd's environment (`--no-malloc-check` skips it), to see what glibc's dynamic
    threshold changes (pecd's password checkers hold argon2's 19 MiB each until 2 s
    after their last check). The same for Dovecot (sum of RSS and of PSS of all its
    processes) unless `--dovecot-connections 0`. tools/imap_idle_memory.py measures
    the memory per idle session alone, as PSS on a fresh daemon.

It prints the command line, a table per phase and a JSON dump of every sample. It is
a benchmark, not a test: nothing is asserted on times; sanity mismatches (different
result counts between the servers) are printed as warnings.

Usage: python3 tools/imap_bench.py [--messages 10000] [--connections 5000]
           [--pecd /work/pecd-target/release/pecd] [--port-base 32400] [--keep]
Build first: cargo build --release
"""
import argparse, asyncio, base64, datetime, email.utils, gc, hashlib, imaplib, json, os, pwd, quopri, random, re, resource
import shutil, socket, ssl, statistics, subprocess, sys, tempfile, threading, time

USER = "bench@pec-a.test"
PASSWORD = "Segreta-123"
MARKER = "fideiussione"  # the SEARCH TEXT word, in ~1% of the messages (never in WORDS)
SUBJECT_WORD = "Sollecito"  # the header SEARCH word, in the Subject: of ~1/6 of the messages
HEADER_ITEMS = "(BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])"
EMPTY_FOLDER = "Vuota"

WORDS = ("il la di che e per non un una con del della sono al nel si come anche "
         "pratica atto ricorso tribunale udienza deposito notifica decreto fattura "
         "pagamento contratto comune ufficio protocollo richiesta documento allegato "
         "termine giorni entro sensi articolo legge codice civile procedura avvocato "
         "studio cliente società amministrazione servizio gestore certificata posta "
         "messaggio ricevuta consegna accettazione busta trasporto destinatario mittente "
         "cordiali saluti gentile dottore ingegnere geometra ragioniere spettabile").split()


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


# ---------------------------------------------------------------- the mailbox

def prose(rng, n_chars, marker=False):
    """Italian-looking text wrapped at 72 columns, about `n_chars` long."""
    words, size = [], 0
    while size < n_chars:
        w = rng.choice(WORDS)
        words.append(w)
        size += len(w) + 1
    if marker:
        words.insert(rng.randrange(len(words) + 1), MARKER)
    lines, line = [], ""
    for w in words:
        if len(line) + len(w) + 1 > 72:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def qp(text):
    return quopri.encodestring(text.encode("latin-1")).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def b64(data):
    enc = base64.b64encode(data)
    return b"\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + b"\r\n"


def daticert(kind, sender, rcpt, subject, msgid, when):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<postacert tipo="{kind}" errore="nessuno">\n  <intestazione>\n'
            f'    <mittente>{sender}</mittente>\n'
            f'    <destinatari tipo="certificato">{rcpt}</destinatari>\n'
            f'    <risposte>{sender}</risposte>\n    <oggetto>{subject}</oggetto>\n'
            f'  </intestazione>\n  <dati>\n    <gestore-emittente>Gestore A S.p.A.</gestore-emittente>\n'
            f'    <data zona="+0100">\n      <giorno>{when:%d/%m/%Y}</giorno>\n'
            f'      <ora>{when:%H:%M:%S}</ora>\n    </data>\n'
            f'    <identificativo>{msgid.strip("<>")}</identificativo>\n'
            f'    <msgid>{msgid}</msgid>\n'
            f'    <consegna>{rcpt}</consegna>\n  </dati>\n</postacert>\n').encode()


def make_message(seed, i):
    """Message number `i` of the mailbox: (bytes, epoch seconds, carries MARKER)."""
    rng = random.Random(f"{seed}/{i}")
    r = rng.random()
    kind = "grande" if r < 0.005 else "busta" if r < 0.35 else "ricevuta"
    marked = rng.random() < 0.01
    epoch = 1767225600 + i * 240 + rng.randrange(200)  # from 2026-01-01, ~one every 4 minutes
    when = datetime.datetime.fromtimestamp(epoch, datetime.timezone(datetime.timedelta(hours=1)))
    date = email.utils.format_datetime(when)
    n = rng.randrange(10**6)
    sender = f"{rng.choice(['mario.rossi', 'studio.bianchi', 'protocollo', 'ufficio.legale', 'amministrazione'])}@pec-b.test"
    subject_orig = f"{rng.choice(['Fattura', 'Notifica atto', 'Deposito', 'Richiesta', 'Decreto', 'Sollecito'])} n. {n}/{2026}"
    orig_id = f"<{epoch}.{i}.{n}@client.pec-b.test>"
    if kind == "ricevuta":
        tipo = rng.choice(["accettazione", "avvenuta-consegna", "avvenuta-consegna", "presa-in-carico"])
        prefix = {"accettazione": "ACCETTAZIONE", "avvenuta-consegna": "CONSEGNA", "presa-in-carico": "PRESA IN CARICO"}[tipo]
        subject = f"{prefix}: {subject_orig}"
        kind_header = f"X-Ricevuta: {tipo}\r\n"
        target = rng.randrange(8 * 1024, 15 * 1024)
    else:
        subject = f"POSTA CERTIFICATA: {subject_orig}"
        kind_header = "X-Trasporto: posta-certificata\r\n"
        target = rng.randrange(1024 * 1024, 2 * 1024 * 1024) if kind == "grande" else rng.randrange(30 * 1024, 200 * 1024)
    msgid = f"<opec210.{when:%Y%m%d%H%M%S}.{i:06d}.{n:06d}.1.1@pec-a.test>"
    stamp = f"{epoch}-{4000 + i % 1000}"
    b0, b1, b2 = (f"----------=_{stamp}-{k}" for k in range(3))
    head = (f"Return-Path: <posta-certificata@pec-a.test>\r\n"
            f"Delivered-To: {USER}\r\n"
            f"Received: from smtp.pec-a.test (localhost [127.0.0.1])\r\n\tby mx.pec-a.test with ESMTPS id {n:x}\r\n\tfor <{USER}>; {date}\r\n"
            f"Received: from pec-b.test (pec-b.test [127.0.0.1])\r\n\tby smtp.pec-a.test with ESMTPS id {n * 7:x}; {date}\r\n"
            f"{kind_header}X-Riferimento-Message-ID: {orig_id}\r\n"
            f"Date: {date}\r\nSubject: {subject}\r\n"
            f"From: \"Per conto di: {sender}\" <posta-certificata@pec-a.test>\r\n"
            f"Reply-To: {sender}\r\nTo: {USER}\r\nMessage-ID: {msgid}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=\"sha-256\";\r\n\tboundary=\"{b0}\"\r\n\r\n"
            f"This is an S/MIME signed message\r\n\r\n--{b0}\r\n"
            f"Content-Type: multipart/mixed; boundary=\"{b1}\"\r\n\r\n"
            f"This is a multi-part message in MIME format.\r\n\r\n--{b1}\r\n"
            f"Content-Type: multipart/alternative; boundary=\"{b2}\"\r\n\r\n--{b2}\r\n"
            f"Content-Type: text/plain; charset=\"iso-8859-1\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n").encode()
    if kind == "ricevuta":
        summary = (f"Ricevuta di {tipo.replace('-', ' ')}\r\n\r\nIl giorno {when:%d/%m/%Y} alle ore {when:%H:%M:%S} (+0100) il messaggio\r\n"
                   f"\"{subject_orig}\" proveniente da \"{sender}\"\r\ned indirizzato a \"{USER}\"\r\n"
                   f"è stato accettato dal sistema ed inoltrato.\r\nIdentificativo messaggio: {msgid}\r\n")
    else:
        summary = (f"Messaggio di posta certificata\r\n\r\nIl giorno {when:%d/%m/%Y} alle ore {when:%H:%M:%S} (+0100) il messaggio\r\n"
                   f"\"{subject_orig}\" è stato inviato da \"{sender}\"\r\nindirizzato a:\r\n{USER}\r\n"
                   f"Il messaggio originale è incluso in allegato.\r\nIdentificativo messaggio: {msgid}\r\n")
    html = ("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"></head><body>\r\n"
            + "".join(f"<p>{line}</p>\r\n" for line in summary.replace('"', "&quot;").split("\r\n") if line) + "</body></html>\r\n")
    parts = [head, qp(summary), f"\r\n--{b2}\r\nContent-Type: text/html; charset=\"iso-8859-1\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n".encode(),
             qp(html), f"\r\n--{b2}--\r\n\r\n".encode()]
    xml = b64(daticert(tipo if kind == "ricevuta" else "posta-certificata", sender, USER, subject_orig, msgid, when))
    signature = b64(rng.randbytes(2400 + rng.randrange(900)))
    tail_xml = (f"--{b1}\r\nContent-Type: application/xml; name=\"daticert.xml\"\r\nContent-Disposition: inline; filename=\"daticert.xml\"\r\n"
                f"Content-Transfer-Encoding: base64\r\n\r\n").encode() + xml + f"\r\n--{b1}--\r\n\r\n".encode()
    tail_sig = (f"--{b0}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\n"
                f"Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n").encode() + signature + f"\r\n--{b0}--\r\n".encode()
    fixed = sum(map(len, parts)) + len(tail_xml) + len(tail_sig) + 200
    ob = f"----=_Part_{n}_{i}.{epoch}"
    orig_head = (f"Date: {date}\r\nFrom: {sender}\r\nTo: {USER}\r\nSubject: {subject_orig}\r\nMessage-ID: {orig_id}\r\n"
                 f"X-Mailer: Legal Suite 7.2\r\nMIME-Version: 1.0\r\n")
    if kind == "ricevuta":
        # A short original (headers and text) in postacert.eml, as in a ricevuta completa.
        text = prose(rng, max(200, target - fixed - 400), marked)
        orig = (orig_head + "Content-Type: text/plain; charset=\"iso-8859-1\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n").encode() + qp(text)
    else:
        text = prose(rng, rng.randrange(400, 2500), marked)
        body_part = ("Content-Type: text/plain; charset=\"iso-8859-1\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n").encode() + qp(text)
        room = max(256, target - fixed - len(orig_head) - len(body_part) - 400)
        pdf_len = room * 3 // 4
        pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" + rng.randbytes(max(0, pdf_len - 120)) + b"\n%%EOF\n"
        orig = (orig_head + f"Content-Type: multipart/mixed; boundary=\"{ob}\"\r\n\r\n--{ob}\r\n").encode() + body_part + (
            f"\r\n--{ob}\r\nContent-Type: application/pdf; name=\"atto-{n}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment; filename=\"atto-{n}.pdf\"\r\n\r\n").encode() + b64(pdf) + f"\r\n--{ob}--\r\n".encode()
    parts.append((f"--{b1}\r\nContent-Type: message/rfc822; name=\"postacert.eml\"\r\nContent-Disposition: inline; filename=\"postacert.eml\"\r\n"
                  f"Content-Transfer-Encoding: 7bit\r\n\r\n").encode() + orig + b"\r\n")
    parts += [tail_xml, tail_sig]
    return b"".join(parts), epoch, marked


def idle_probe_message(k):
    when = email.utils.formatdate(localtime=True)
    return (f"From: posta-certificata@pec-a.test\r\nTo: {USER}\r\nSubject: ACCETTAZIONE: prova IDLE {k}\r\n"
            f"Date: {when}\r\nMessage-ID: <idle-probe-{k}-{time.time_ns()}@pec-a.test>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\nRicevuta di prova.\r\n").encode()


# ---------------------------------------------------------------- clients

def client_context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = True
    return ctx


def imap_login(port, ctx):
    conn = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=600)
    conn.login(USER, PASSWORD)
    return conn


class Wire:
    """A bare TLS IMAP client: sends a command, reads to its tagged reply, skipping
    literals, keeping only the untagged lines' first line."""

    LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")

    def __init__(self, port, ctx):
        raw = socket.create_connection(("127.0.0.1", port), timeout=600)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.file = self.sock.makefile("rb", buffering=1 << 16)
        self.n = 0
        self.file.readline()
        self.command(f'LOGIN "{USER}" "{PASSWORD}"')

    def send(self, text):
        self.n += 1
        tag = f"W{self.n}".encode()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        return tag

    def readline(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        return line

    def until(self, tag):
        lines, literal_bytes = [], 0
        while True:
            line = self.readline()
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].upper().startswith(b"OK"):
                    raise RuntimeError(f"{tag.decode()} failed: {line!r}")
                return lines, literal_bytes
            first = line
            while (m := self.LITERAL.search(line)):
                size = int(m.group(1))
                self.file.read(size)
                literal_bytes += size
                line = self.readline()
            lines.append(first)

    def command(self, text):
        return self.until(self.send(text))

    def close(self):
        try:
            self.command("LOGOUT")
        except Exception:
            pass
        self.sock.close()


def timed(fn, repeat):
    """Times `repeat` calls of `fn`. As `timeit` does, each call runs with Python's
    cyclic garbage collector off, after a full collection: otherwise a generation-2
    collection over the previous answer's tens of thousands of objects lands inside
    some calls and not others, which made the imaplib header FETCH bimodal (tens of ms
    apart) against either server."""
    samples, result = [], None
    for _ in range(repeat):
        result = None
        gc.collect()
        gc.disable()
        try:
            t = time.perf_counter()
            result = fn()
            samples.append(time.perf_counter() - t)
        finally:
            gc.enable()
    return samples, result


def workload(name, port, ctx, n_messages, marked, body_set, repeat, idle_rounds):
    """The client workload against one server: {operation: samples}, checks."""
    res, checks = {}, {}
    conn = imap_login(port, ctx)
    checks["cipher"] = conn.sock.cipher()[0] + " " + conn.sock.version()

    s, r = timed(lambda: conn.select("INBOX"), repeat * 2)
    res["SELECT INBOX"] = s
    checks["exists"] = int(r[1][0])
    s, r = timed(lambda: conn.fetch("1:*", HEADER_ITEMS), repeat)
    res["FETCH 1:* header fields"] = s
    checks["header_responses"] = sum(1 for x in r[1] if isinstance(x, tuple))
    s, r = timed(lambda: conn.fetch(body_set, "(BODY.PEEK[])"), repeat)
    res["FETCH 100 × BODY.PEEK[]"] = s
    checks["body_bytes"] = sum(len(x[1]) for x in r[1] if isinstance(x, tuple))
    s, r = timed(lambda: conn.search(None, "TEXT", MARKER), repeat)
    res[f"SEARCH TEXT {MARKER}"] = s
    checks["search_hits"] = len(r[1][0].split())
    s, r = timed(lambda: conn.uid("SEARCH", "HEADER", "SUBJECT", f'"{SUBJECT_WORD}"'), repeat)
    res[f"UID SEARCH HEADER SUBJECT {SUBJECT_WORD}"] = s
    checks["header_search_hits"] = len(r[1][0].split())
    top = min(1000, n_messages)
    plus, minus = [], []
    for _ in range(repeat):
        t = time.perf_counter(); conn.store(f"1:{top}", "+FLAGS", "(\\Seen)"); plus.append(time.perf_counter() - t)
        t = time.perf_counter(); conn.store(f"1:{top}", "-FLAGS", "(\\Seen)"); minus.append(time.perf_counter() - t)
    res[f"STORE 1:{top} +FLAGS (\\Seen)"] = plus
    res[f"STORE 1:{top} -FLAGS (\\Seen)"] = minus

    # The same commands over a bare TLS socket.
    wire = Wire(port, ctx)
    res["wire: SELECT INBOX"], _ = timed(lambda: wire.command("SELECT INBOX"), repeat * 2)
    res["wire: FETCH 1:* header fields"], _ = timed(lambda: wire.command(f"FETCH 1:* {HEADER_ITEMS}"), repeat)
    res["wire: FETCH 100 × BODY.PEEK[]"], r = timed(lambda: wire.command(f"FETCH {body_set} (BODY.PEEK[])"), repeat)
    checks["wire_body_bytes"] = r[1]
    res[f"wire: SEARCH TEXT {MARKER}"], _ = timed(lambda: wire.command(f"SEARCH TEXT {MARKER}"), repeat)
    res[f"wire: UID SEARCH HEADER SUBJECT {SUBJECT_WORD}"], _ = timed(
        lambda: wire.command(f'UID SEARCH HEADER SUBJECT "{SUBJECT_WORD}"'), repeat)
    plus, minus = [], []
    for _ in range(repeat):
        t = time.perf_counter(); wire.command(f"STORE 1:{top} +FLAGS (\\Seen)"); plus.append(time.perf_counter() - t)
        t = time.perf_counter(); wire.command(f"STORE 1:{top} -FLAGS (\\Seen)"); minus.append(time.perf_counter() - t)
    res[f"wire: STORE 1:{top} +FLAGS (\\Seen)"] = plus
    res[f"wire: STORE 1:{top} -FLAGS (\\Seen)"] = minus

    # IDLE wake-up: `wire` idles on INBOX, `conn` appends.
    after_ok, after_start = [], []
    for k in range(idle_rounds + 1):
        tag = wire.send("IDLE")
        line = wire.readline()
        if not line.startswith(b"+"):
            raise RuntimeError(f"{name}: IDLE refused: {line!r}")
        seen = {}
        def watch():
            while True:
                l = wire.readline()
                if l.rstrip().upper().endswith(b"EXISTS"):
                    seen["t"] = time.perf_counter()
                    return
        reader = threading.Thread(target=watch)
        reader.start()
        time.sleep(0.2)
        t0 = time.perf_counter()
        typ, _ = conn.append("INBOX", None, None, idle_probe_message(k))
        t1 = time.perf_counter()
        reader.join(30)
        if reader.is_alive():
            raise RuntimeError(f"{name}: no EXISTS within 30 s of an APPEND during IDLE")
        wire.sock.sendall(b"DONE\r\n")
        wire.until(tag)
        if k:  # the first round warms up
            after_ok.append(seen["t"] - t1)
            after_start.append(seen["t"] - t0)
    res["IDLE wake-up (APPEND OK → EXISTS)"] = after_ok
    res["IDLE wake-up (APPEND sent → EXISTS)"] = after_start
    wire.close()
    conn.logout()
    return res, checks


MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>]*>)", re.I | re.M)


def append_all(port, ctx, messages, connections):
    """APPENDs every message over `connections` connections (message k on connection
    k mod n), so the order in INBOX may differ between servers; returns the seconds
    and Message-ID → sequence number as the server has them."""
    errors = []

    def load(part):
        try:
            conn = imap_login(port, ctx)
            for raw, epoch, _ in part:
                typ, data = conn.append("INBOX", None, imaplib.Time2Internaldate(epoch), raw)
                if typ != "OK":
                    raise RuntimeError(f"APPEND refused: {data!r}")
            conn.logout()
        except Exception as error:
            errors.append(error)

    t = time.perf_counter()
    threads = [threading.Thread(target=load, args=(messages[k::connections],)) for k in range(connections)]
    for th in threads: th.start()
    for th in threads: th.join()
    elapsed = time.perf_counter() - t
    if errors:
        raise errors[0]
    conn = imap_login(port, ctx)
    conn.create(EMPTY_FOLDER)
    conn.select("INBOX", readonly=True)
    typ, data = conn.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    seqs = {}
    for item in data:
        if isinstance(item, tuple):
            m = MESSAGE_ID.search(item[1])
            if m:
                seqs[m.group(1)] = int(item[0].split()[0])
    conn.logout()
    return elapsed, seqs


# ---------------------------------------------------------------- memory

def proc_status(pid, key):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_pss(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_memory(root):
    pids = descendants(root)
    return {"processes": len(pids), "rss_kib": sum(proc_status(p, "VmRSS") for p in pids),
            "pss_kib": sum(proc_pss(p) for p in pids)}


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total


async def open_idle(port, ctx, count, state, concurrency, checkpoint=None):
    sem = asyncio.Semaphore(concurrency)
    conns, failures = [], []

    async def until(reader, tag):
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("closed")
            if line.startswith(tag):
                if b" OK" not in line[:len(tag) + 4]:
                    raise RuntimeError(line)
                return

    async def one(k):
        async with sem:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost",
                                                              limit=1 << 16)
                await reader.readline()
                writer.write(f'a LOGIN "{USER}" "{PASSWORD}"\r\n'.encode())
                await until(reader, b"a ")
                if state == "idle":
                    writer.write(f"b SELECT {EMPTY_FOLDER}\r\n".encode())
                    await until(reader, b"b ")
                    writer.write(b"c IDLE\r\n")
                    line = await reader.readline()
                    if not line.startswith(b"+"):
                        raise RuntimeError(line)
                conns.append((reader, writer))
                if checkpoint and len(conns) % 500 == 0:
                    checkpoint(len(conns))
            except Exception as error:
                failures.append(repr(error))

    await asyncio.gather(*(one(k) for k in range(count)))
    return conns, failures


async def close_all(conns):
    for _, writer in conns:
        writer.close()
    for _, writer in conns:
        try:
            await asyncio.wait_for(writer.wait_closed(), 5)
        except Exception:
            pass


def memory_phase(label, port, ctx, count, state, measure, cpu_pids, concurrency):
    """Opens `count` connections in `state`, returns the measurements."""
    out = {"connections": count, "state": state, "login_concurrency": concurrency, "checkpoints": {}}
    time.sleep(2)
    out["before"] = measure()
    loop = asyncio.new_event_loop()
    t = time.perf_counter()
    checkpoint = lambda n: out["checkpoints"].__setitem__(n, measure())
    conns, failures = loop.run_until_complete(open_idle(port, ctx, count, state, concurrency, checkpoint))
    out["open_seconds"] = round(time.perf_counter() - t, 1)
    out["opened"] = len(conns)
    out["failures"] = len(failures)
    if failures:
        out["first_failure"] = failures[0]
    loop.run_until_complete(asyncio.sleep(3))
    out["with_connections"] = measure()
    pids = cpu_pids()
    ticks0, t0 = cpu_ticks(pids), time.perf_counter()
    loop.run_until_complete(asyncio.sleep(10))
    out["idle_cpu_percent"] = round(100 * (cpu_ticks(pids) - ticks0) / os.sysconf("SC_CLK_TCK") / (time.perf_counter() - t0), 1)
    loop.run_until_complete(close_all(conns))
    loop.run_until_complete(asyncio.sleep(3))
    loop.close()
    out["after_close"] = measure()
    print(f"  {label}: {json.dumps(out)}", flush=True)
    return out


# ---------------------------------------------------------------- servers

def ensure_dovecot():
    if not shutil.which("dovecot") or not os.path.exists("/usr/lib/dovecot/imap"):
        print("installing dovecot-imapd with apt-get", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "dovecot-imapd"], check=True, env=env, stdout=subprocess.DEVNULL)
    return run("dovecot", "--version").strip()


def dovecot_config(d, port, cert, key, limit):
    me = os.geteuid()
    if me == 0:
        mail = pwd.getpwnam("nobody")
        uid, gid = mail.pw_uid, mail.pw_gid
        users = ""
    else:
        uid, gid = me, os.getegid()
        name = pwd.getpwuid(me).pw_name
        users = (f"default_internal_user = {name}\ndefault_login_user = {name}\n"
                 f"service imap-login {{\n  chroot =\n}}\nservice auth {{\n  user = {name}\n}}\n")
    for sub in ("run", "state", "home"):
        os.makedirs(f"{d}/{sub}", exist_ok=True)
    os.makedirs(f"{d}/home/{USER}", exist_ok=True)
    os.chown(f"{d}/home/{USER}", uid, gid)
    with open(f"{d}/passwd", "w") as f:
        f.write(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    conf = f"""# private Dovecot instance of tools/imap_bench.py
base_dir = {d}/run
state_dir = {d}/state
instance_name = imapbench-{port}
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u
}}
first_valid_uid = 1
mail_location = maildir:~/Maildir
default_process_limit = {limit}
default_client_limit = {2 * limit}
default_vsz_limit = 1G
protocol imap {{
  mail_max_userip_connections = {limit}
}}
service imap-urlauth-login {{
  process_limit = 1
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
  # "high-performance" login mode: a few long-lived login processes, each proxying
  # the TLS of many clients (the default forks one per connection)
  service_count = 0
  process_min_avail = 2
  client_limit = {limit}
}}
service imap {{
  # one imap process per connection; its own default cap is 1024
  process_limit = {limit}
}}
service anvil {{
  client_limit = {limit + 100}
}}
{users}"""
    path = f"{d}/dovecot.conf"
    with open(path, "w") as f:
        f.write(conf)
    return path


def raise_nofile(n):
    def apply():
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
        except (ValueError, OSError):
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return apply


def wait_port(port, proc, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} does not listen on {port}")


def start_pecd(pecd, tmp, port, extra_env=None):
    proc = subprocess.Popen([pecd, "serve", "--config", f"{tmp}/pecd/pecd.toml"], stderr=open(f"{tmp}/pecd.log", "a"),
                            env={**os.environ, "RUST_LOG": "warn", **(extra_env or {})}, preexec_fn=raise_nofile(20000))
    wait_port(port, proc, "pecd")
    return proc


def start_dovecot(conf, port):
    proc = subprocess.Popen(["dovecot", "-F", "-c", conf], preexec_fn=raise_nofile(65536))
    wait_port(port, proc, "dovecot")
    return proc


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=15, help="runs per operation (SELECT twice as many); median reported")
    ap.add_argument("--idle-rounds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=5000, help="idle connections for the memory phase (0: skip)")
    ap.add_argument("--dovecot-connections", type=int, default=None, help="same for Dovecot (default --connections; 0: skip)")
    ap.add_argument("--idle-state", choices=["auth", "idle", "both"], default="auth",
                    help="auth: logged in, no folder selected; idle: IDLE on an empty folder")
    ap.add_argument("--no-malloc-check", dest="malloc_check", action="store_false",
                    help="skip the second pecd memory phase with MALLOC_MMAP_THRESHOLD_=131072")
    ap.add_argument("--login-concurrency", type=int, default=8, help="logins in flight while opening them")
    ap.add_argument("--load-connections", type=int, default=4, help="APPEND connections while loading")
    ap.add_argument("--pecd", default="/work/pecd-target/release/pecd",
                    help="the binary (with a CARGO_TARGET_DIR shared by worktrees, copy yours aside first)")
    ap.add_argument("--port-base", type=int, default=32400)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args()
    if a.dovecot_connections is None:
        a.dovecot_connections = a.connections
    command = " ".join(["python3", *sys.argv])
    print(f"command: {command}", flush=True)
    pecd = os.path.abspath(a.pecd)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(a.connections, a.dovecot_connections) + 1000
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    dovecot_version = ensure_dovecot()
    pecd_imaps = a.port_base + 4
    dovecot_imaps = a.port_base + 10
    tmp = tempfile.mkdtemp(prefix="imap-bench-")
    os.chmod(tmp, 0o755)
    procs = {}
    results = {"command": command, "messages": a.messages, "seed": a.seed, "dovecot": dovecot_version,
               "pecd": run(pecd, "--version").strip(), "cpus": os.cpu_count(), "load_connections": a.load_connections,
               "pecd_sha256": hashlib.sha256(open(pecd, "rb").read()).hexdigest()[:16],
               "loadavg_start": open("/proc/loadavg").read().split()[:3]}
    try:
        # pecd
        run(pecd, "init", f"{tmp}/pecd", "--domain", "pec-a.test", "--name", "Gestore A S.p.A.", "--port-base", str(a.port_base))
        conf_path = f"{tmp}/pecd/pecd.toml"
        conf = open(conf_path).read()
        conf = conf.replace("[listen]", f"[limits]\nmax_connections = {max(a.connections, 500) + 1000}\n\n[listen]")
        open(conf_path, "w").write(conf)
        subprocess.run([pecd, "mailbox", "add", USER, "--config", conf_path, "--password-stdin", "--quota-bytes", str(100 * 2**30)],
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)
        procs["pecd"] = start_pecd(pecd, tmp, pecd_imaps)
        # Dovecot, with pecd's TLS certificate and key
        dconf = dovecot_config(f"{tmp}/dovecot", dovecot_imaps, f"{tmp}/pecd/certs/tls.pem", f"{tmp}/pecd/certs/tls.key",
                               max(a.dovecot_connections, 500) + 1000)
        procs["dovecot"] = start_dovecot(dconf, dovecot_imaps)
        ctx = client_context(f"{tmp}/pecd/certs/ca.pem")
        servers = {"pecd": pecd_imaps, "dovecot": dovecot_imaps}

        print(f"generating {a.messages} messages (seed {a.seed})", flush=True)
        t = time.perf_counter()
        messages = [make_message(a.seed, i) for i in range(a.messages)]
        sizes = sorted(len(m[0]) for m in messages)
        marked = sum(1 for m in messages if m[2])
        results["mailbox"] = {"messages": len(messages), "bytes": sum(sizes), "marked": marked,
                              "size_p50": sizes[len(sizes) // 2], "size_max": sizes[-1],
                              "under_16k": sum(1 for s in sizes if s < 16384),
                              "over_1m": sum(1 for s in sizes if s >= 2**20),
                              "generate_seconds": round(time.perf_counter() - t, 1)}
        print(f"  {json.dumps(results['mailbox'])}", flush=True)

        results["load"], seqs = {}, {}
        for name, port in servers.items():
            print(f"APPEND {len(messages)} messages into {name} over {a.load_connections} connections", flush=True)
            results["load"][name], seqs[name] = append_all(port, ctx, messages, a.load_connections)
            print(f"  {results['load'][name]:.1f} s", flush=True)
        results["disk_bytes"] = {"pecd": du(f"{tmp}/pecd/data"), "dovecot": du(f"{tmp}/dovecot/home")}
        # The same 100 messages on both servers, whatever their sequence numbers.
        chosen = random.Random(a.seed).sample(range(a.messages), min(100, a.messages))
        ids = [MESSAGE_ID.search(messages[k][0]).group(1) for k in chosen]
        body_sets = {name: ",".join(str(s) for s in sorted(seqs[name][i] for i in ids)) for name in servers}
        bodies = sum(len(messages[k][0]) for k in chosen)
        results["body_set_bytes"] = bodies
        del messages

        results["workload"], results["checks"] = {}, {}
        for name, port in servers.items():
            print(f"workload on {name}", flush=True)
            res, checks = workload(name, port, ctx, a.messages, marked, body_sets[name], a.repeat, a.idle_rounds)
            results["workload"][name], results["checks"][name] = res, checks
            print(f"  {json.dumps(checks)}", flush=True)
        for key in ("exists", "header_responses", "body_bytes", "search_hits", "header_search_hits"):
            p, d = results["checks"]["pecd"][key], results["checks"]["dovecot"][key]
            if p != d:
                print(f"WARNING: {key} differs: pecd {p}, dovecot {d}", flush=True)
        if results["checks"]["pecd"]["search_hits"] != marked:
            print(f"WARNING: {marked} messages carry the word, pecd found {results['checks']['pecd']['search_hits']}")
        if results["checks"]["pecd"]["body_bytes"] != bodies:
            print(f"WARNING: the 100 bodies are {bodies} bytes, pecd sent {results['checks']['pecd']['body_bytes']}")

        # Memory: fresh processes on the same data.
        results["memory"] = {"pecd": [], "dovecot": []}
        states = ["auth", "idle"] if a.idle_state == "both" else [a.idle_state]
        if a.connections:
            stop(procs.pop("pecd"))
            procs["pecd"] = start_pecd(pecd, tmp, pecd_imaps)
            pid = procs["pecd"].pid
            for state in states:
                results["memory"]["pecd"].append(memory_phase(
                    "pecd", pecd_imaps, ctx, a.connections, state,
                    lambda: {"rss_kib": proc_status(pid, "VmRSS"), "threads": proc_status(pid, "Threads")},
                    lambda: [pid], a.login_concurrency))
            if a.malloc_check:
                # The same with glibc's dynamic mmap threshold pinned, so that big
                # short-lived allocations (argon2's 19 MiB per password check) go back to
                # the kernel when freed: what is left is what the connections hold.
                env = {"MALLOC_MMAP_THRESHOLD_": "131072"}
                stop(procs.pop("pecd"))
                procs["pecd"] = start_pecd(pecd, tmp, pecd_imaps, env)
                pid = procs["pecd"].pid
                m = memory_phase("pecd " + " ".join(f"{k}={v}" for k, v in env.items()), pecd_imaps, ctx, a.connections,
                                 states[0], lambda: {"rss_kib": proc_status(pid, "VmRSS"), "threads": proc_status(pid, "Threads")},
                                 lambda: [pid], a.login_concurrency)
                m["env"] = env
                results["memory"]["pecd"].append(m)
        if a.dovecot_connections:
            stop(procs.pop("dovecot"))
            procs["dovecot"] = start_dovecot(dconf, dovecot_imaps)
            root = procs["dovecot"].pid
            for state in states:
                results["memory"]["dovecot"].append(memory_phase(
                    "dovecot", dovecot_imaps, ctx, a.dovecot_connections, state,
                    lambda: tree_memory(root), lambda: descendants(root), a.login_concurrency))
                time.sleep(3)
    finally:
        for p in procs.values():
            stop(p)
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    report(results)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    print("\nall samples:")
    print(json.dumps(results, indent=1))


def report(r):
    med = statistics.median
    mb = r["mailbox"]
    print(f"\ncommand: {r['command']}")
    print(f"pecd: {r['pecd']}; Dovecot {r['dovecot']} (maildir); {r['cpus']} CPUs; TLS: "
          f"pecd {r['checks']['pecd']['cipher']}, Dovecot {r['checks']['dovecot']['cipher']}")
    print(f"mailbox: {mb['messages']} messages, {mb['bytes'] / 2**20:.1f} MiB (median {mb['size_p50'] / 1024:.1f} KiB, "
          f"{mb['under_16k']} under 16 KiB, {mb['over_1m']} over 1 MiB, largest {mb['size_max'] / 2**20:.2f} MiB), "
          f"{mb['marked']} with the word '{MARKER}'; 100 bodies = {r['body_set_bytes'] / 2**20:.1f} MiB")
    print(f"pecd binary sha256 {r['pecd_sha256']}…; load average at start {' '.join(r['loadavg_start'])}")
    print(f"on disk: pecd {r['disk_bytes']['pecd'] / 2**20:.0f} MiB, Dovecot {r['disk_bytes']['dovecot'] / 2**20:.0f} MiB")
    rows = [(f"APPEND all (load, {r['load_connections']} connections)", r["load"]["pecd"], r["load"]["dovecot"])]
    for op, samples in r["workload"]["pecd"].items():
        rows.append((op, med(samples), med(r["workload"]["dovecot"][op])))
    width = max(len(x[0]) for x in rows)
    print(f"\n{'operation':<{width}}  {'pecd s':>10}  {'Dovecot s':>10}  {'pecd/Dovecot':>12}")
    for op, p, d in rows:
        ratio = f"{p / d:.2f}" if d > 0 else "-"
        print(f"{op:<{width}}  {p:>10.4f}  {d:>10.4f}  {ratio:>12}")
    print("(medians; 'wire:' rows are the same commands over a bare TLS socket, without imaplib's parsing)")
    for server, phases in r.get("memory", {}).items():
        for m in phases:
            n = max(1, m["opened"])
            if server == "pecd":
                b, w, c = m["before"]["rss_kib"], m["with_connections"]["rss_kib"], m["after_close"]["rss_kib"]
                env = " with " + " ".join(f"{k}={v}" for k, v in m["env"].items()) if m.get("env") else ""
                print(f"\npecd{env}, {m['opened']}/{m['connections']} connections ({m['state']}, {m['login_concurrency']} logins "
                      f"in flight): VmRSS before {b} KiB, with them {w} KiB, after closing them {c} KiB → "
                      f"{(w - b) / n:.1f} KiB per connection; threads {m['before']['threads']} → "
                      f"{m['with_connections']['threads']}; idle CPU {m['idle_cpu_percent']}%; opened in {m['open_seconds']} s")
                cps = sorted((int(k), v["rss_kib"]) for k, v in m["checkpoints"].items())
                if len(cps) >= 3:
                    (n0, r0), (n1, r1) = cps[1], cps[-1]
                    print(f"  VmRSS at " + ", ".join(f"{k}: {v}" for k, v in cps) +
                          f" KiB; marginal cost from {n0} to {n1} connections: {(r1 - r0) / (n1 - n0):.1f} KiB per connection")
            else:
                b, w = m["before"], m["with_connections"]
                print(f"\nDovecot, {m['opened']}/{m['connections']} connections ({m['state']}): {w['processes']} processes "
                      f"(from {b['processes']}); RSS sum {b['rss_kib']} → {w['rss_kib']} KiB "
                      f"({(w['rss_kib'] - b['rss_kib']) / n:.1f} KiB per connection); PSS sum {b['pss_kib']} → {w['pss_kib']} KiB "
                      f"({(w['pss_kib'] - b['pss_kib']) / n:.1f} KiB per connection); idle CPU {m['idle_cpu_percent']}%; "
                      f"opened in {m['open_seconds']} s")
            if m["failures"]:
                print(f"  {m['failures']} connections failed, first: {m.get('first_failure')}")


if __name__ == "__main__":
    main()

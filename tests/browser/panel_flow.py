#!/usr/bin/env python3
"""The web panel in a real browser (Debian's headless Chromium driven by Selenium),
against a real `pecd serve`, end to end:

gestore logs in and creates an LRA operator; the LRA logs in, creates a holder and a
mailbox for them and uploads the signed contract (a PDF); the gestore activates the
mailbox; the activation mail reaches the test's smarthost (aiosmtpd); its one-time link
opens the password page, where the holder sets a password; the holder logs in over
IMAP with it; the mailbox search downloads as CSV and parses; the LRA opening another
ente's mailbox by its URL gets "not found".

Usage: panel_flow.py PECD_BINARY. Fails (never skips) when a tool is missing.
"""

import csv
import io
import imaplib
import os
import random
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from aiosmtpd.controller import Controller
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import Select
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
PDF = ROOT / "tests" / "data" / "pdf" / "minimal.pdf"
ADMIN_PASSWORD = "Gestore-di-prova-1"
LRA_PASSWORD = "Comune-di-prova-1"
NEW_LRA_PASSWORD = "Una-nuova-password-LRA-7"
HOLDER_PASSWORD = "Titolare-di-prova-1"
MAILBOX = "mario.rossi@pec-a.test"
FOREIGN = "ufficio@pec-a.test"



def left_document(element):
    """A wait condition: `element` no longer belongs to the page shown. Chromium reports
    this either as a stale reference or, when the check races the navigation, as a node
    that does not belong to the document; both mean the next page has replaced it."""

    def check(_driver):
        try:
            element.is_enabled()
            return False
        except WebDriverException:
            return True

    return check

class Inbox:
    """aiosmtpd handler: keeps every mail the smarthost accepts."""

    def __init__(self):
        self.mails = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"

    def wait_for(self, count, seconds=60):
        deadline = time.time() + seconds
        while len(self.mails) < count:
            if time.time() > deadline:
                raise AssertionError(f"{len(self.mails)} of {count} mails reached the smarthost")
            time.sleep(0.2)
        return self.mails


def free_port_base():
    """A base of seven consecutive free loopback ports."""
    for _ in range(50):
        base = random.randrange(20000, 60000)
        sockets = []
        try:
            for port in range(base, base + 7):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                sockets.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free ports")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"pecd serve exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port}")


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"]:
        options.add_argument(argument)
    # The daemon's TLS certificate comes from its own development CA.
    options.accept_insecure_certs = True
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.implicitly_wait(5)
    return driver


class Panel:
    """The panel as one person sees it in the browser."""

    def __init__(self, driver, base):
        self.driver, self.base = driver, base

    def open(self, path):
        self.driver.get(self.base + path)

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    def fill(self, values):
        for name, value in values.items():
            field = self.driver.find_element(By.NAME, name)
            if field.tag_name == "select":
                Select(field).select_by_value(value)
            else:
                field.clear()
                field.send_keys(value)

    def submit(self, button_text):
        """Clicks the button and waits for the page it leads to."""
        page = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.find_element(By.XPATH, f"//button[normalize-space()='{button_text}']").click()
        WebDriverWait(self.driver, 30).until(left_document(page))

    def expect(self, words):
        body = self.text()
        assert words in body, f"{words!r} not on {self.driver.current_url}:\n{body}"

    def login(self, username, password):
        self.open("/accesso")
        self.fill({"username": username, "password": password})
        self.submit("Accedi")
        self.expect("Riepilogo")
        self.expect(username)

    def logout(self):
        self.submit("Esci")
        self.expect("Accesso")

    def fetch(self, path):
        """GET with the browser's session cookie (HttpOnly: read through WebDriver)."""
        cookies = "; ".join(f"{c['name']}={c['value']}" for c in self.driver.get_cookies())
        request = urllib.request.Request(self.base + path, headers={"Cookie": cookies})
        context = ssl._create_unverified_context()
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()


def start_daemon(work, smtp_port):
    pecd = os.path.abspath(sys.argv[1])
    base = free_port_base()
    directory = work / "provider"
    subprocess.run([pecd, "init", str(directory), "--domain", "pec-a.test", "--name", "Gestore A",
                    "--port-base", str(base)], check=True, capture_output=True)
    config = directory / "pecd.toml"
    with open(config, "a") as f:
        f.write(f'\n[notify]\nsmtp = "127.0.0.1:{smtp_port}"\nretry_secs = 1\n')
    subprocess.run([pecd, "operator", "add", "admin", "--config", str(config), "--role", "gestore",
                    "--password-stdin"], input=ADMIN_PASSWORD + "\n", text=True, check=True,
                   capture_output=True)
    log = open(work / "pecd.log", "w")
    process = subprocess.Popen([pecd, "serve", "--config", str(config)], stdout=log, stderr=log)
    wait_for_port(base + 6, process)
    return process, base


def create_lra(panel):
    panel.open("/operatori")
    panel.fill({"username": "comune", "password": LRA_PASSWORD, "role": "lra",
                "ente": "Comune di Prova", "domains": "pec-a.test", "email": "lra@comune.example"})
    panel.submit("Aggiungi operatore")
    panel.expect("Operatore comune aggiunto.")


def create_mailbox(panel, address, fields):
    panel.open("/caselle/nuova")
    panel.fill({"address": address, "tipo": "STANDARD", **fields})
    panel.submit("Crea casella")
    panel.expect("attende l'attivazione del gestore")


def create_holder(panel):
    panel.open("/titolari/nuovo")
    panel.fill({"codice_fiscale": "RSSMRA80A01H501U", "nome": "Mario", "cognome": "Rossi",
                "via": "Via Roma 1", "localita": "Roma", "provincia": "RM", "cap": "00100",
                "email": "mario@example.org", "ragione_sociale": "Rossi Consulenze",
                "partita_iva": "01234567897"})
    panel.submit("Crea titolare")
    panel.expect("Titolare creato.")


def upload_contract(panel):
    panel.fill({"tipo": "contratto"})
    panel.driver.find_element(By.NAME, "file").send_keys(str(PDF))
    panel.submit("Carica")
    panel.expect("Documento caricato.")
    panel.expect("minimal.pdf")


def activation_link(inbox):
    recipients, mail = inbox.wait_for(1)[0]
    assert "mario@example.org" in recipients or "lra@comune.example" in recipients, recipients
    # The body may be quoted-printable: undo soft line breaks before looking.
    flat = mail.replace("=\r\n", "").replace("=\n", "")
    match = re.search(r"https://[^\s\"<>]+/attiva/([0-9a-f]{32})", flat)
    assert match, mail
    return "/attiva/" + match.group(1)


def set_password(panel, link):
    panel.open(link)
    panel.expect(MAILBOX)
    panel.fill({"password": HOLDER_PASSWORD, "conferma": HOLDER_PASSWORD})
    panel.submit("Imposta la password")
    panel.expect("Password impostata")
    # The link works once.
    panel.open(link)
    panel.expect("già stato usato")


def imap_login(port):
    context = ssl._create_unverified_context()
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context) as imap:
        status, _ = imap.login(MAILBOX, HOLDER_PASSWORD)
        assert status == "OK", status
        status, _ = imap.select("INBOX")
        assert status == "OK", status


def check_csv(panel):
    status, headers, body = panel.fetch("/caselle.csv?indirizzo=mario")
    assert status == 200, status
    assert headers["Content-Type"].startswith("text/csv"), headers["Content-Type"]
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    assert [r["indirizzo"] for r in rows] == [MAILBOX], rows
    assert rows[0]["codice_fiscale"] == "RSSMRA80A01H501U", rows


def change_password(panel):
    """The LRA changes their own password: a mismatch is said next to its field, then
    the change is made and the new password logs in."""
    panel.open("/password")
    panel.fill({"attuale": LRA_PASSWORD, "password": NEW_LRA_PASSWORD,
                "conferma": "Non-la-stessa-password"})
    panel.submit("Cambia password")
    panel.expect("Le due password nuove non coincidono.")
    panel.fill({"attuale": LRA_PASSWORD, "password": NEW_LRA_PASSWORD,
                "conferma": NEW_LRA_PASSWORD})
    panel.submit("Cambia password")
    panel.expect("Password cambiata")
    panel.logout()
    panel.login("comune", NEW_LRA_PASSWORD)


def check_foreign_mailbox_hidden(panel):
    panel.open("/caselle/" + FOREIGN)
    panel.expect("Pagina non trovata")
    status, _, body = panel.fetch("/caselle/" + FOREIGN)
    assert status == 404, status
    assert b"ufficio" not in body.split(b"<main", 1)[1].replace(b"/caselle/ufficio", b""), body


def run(work):
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    process, base = start_daemon(work, smtp_port)
    driver = browser()
    try:
        panel = Panel(driver, f"https://127.0.0.1:{base + 6}")
        panel.login("admin", ADMIN_PASSWORD)
        create_lra(panel)
        # A mailbox of the provider's own, which no ente's operator may see.
        create_mailbox(panel, FOREIGN, {"codice_fiscale": "VRDLGU75B02F205A", "nome": "Luigi",
                                        "cognome": "Verdi"})
        panel.logout()

        panel.login("comune", LRA_PASSWORD)
        create_holder(panel)
        # The codice fiscale finds the holder just created: no name needed.
        create_mailbox(panel, MAILBOX, {"codice_fiscale": "RSSMRA80A01H501U"})
        panel.expect("Rossi Mario")
        upload_contract(panel)
        check_foreign_mailbox_hidden(panel)
        panel.logout()

        panel.login("admin", ADMIN_PASSWORD)
        panel.open("/caselle/" + MAILBOX)
        panel.submit("Attiva")
        panel.expect("Casella attivata")
        link = activation_link(inbox)
        panel.logout()

        set_password(panel, link)
        imap_login(base + 4)

        panel.login("comune", LRA_PASSWORD)
        check_csv(panel)
        change_password(panel)
        print("browser: 1 passed, 0 failed")
    except Exception:
        print(driver.current_url, file=sys.stderr)
        print(driver.find_element(By.TAG_NAME, "body").text, file=sys.stderr)
        print((work / "pecd.log").read_text()[-4000:], file=sys.stderr)
        raise
    finally:
        driver.quit()
        process.terminate()
        process.wait(timeout=30)
        controller.stop()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: panel_flow.py PECD_BINARY")
    with tempfile.TemporaryDirectory() as work:
        run(Path(work))


if __name__ == "__main__":
    main()

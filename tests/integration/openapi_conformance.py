"""Drives every operation of pecd's OpenAPI document against a running admin listener and
holds each answer to the document: its status is one the operation lists, its media
type one that status names, and a JSON body validates against that schema; every JSON
request body sent to succeed validates against the operation's request schema. Fails when an
operation of the document was not exercised.

Usage: conformance.py BASE_URL TOKEN OPENAPI_JSON PDF_FILE
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing import Resource
from referencing.jsonschema import DRAFT202012

BASE, TOKEN, DOC_PATH, PDF_PATH = sys.argv[1:5]
DOC = json.load(open(DOC_PATH, encoding="utf-8"))
DOC_URI = "urn:pecd:openapi"
REGISTRY = Registry().with_resource(DOC_URI, Resource(contents=DOC, specification=DRAFT202012))
METHODS = {"get", "post", "put", "patch", "delete"}
exercised = set()


def escape(segment):
    return segment.replace("~", "~0").replace("/", "~1")


def at(pointer):
    node = DOC
    for part in pointer.lstrip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def check(pointer, instance, what):
    """Validates `instance` against the schema at `pointer` in the document."""
    fragment = urllib.parse.quote(pointer, safe="/~")
    validator = Draft202012Validator({"$ref": f"{DOC_URI}#{fragment}"}, registry=REGISTRY)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        detail = "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
        sys.exit(f"{what} does not match {pointer}: {detail}\n{json.dumps(instance)[:2000]}")


def call(method, template, path=None, body=None, raw=None, media="application/json",
         query="", auth=True, expect=None):
    """One request; returns (status, decoded body)."""
    op_pointer = f"/paths/{escape(template)}/{method}"
    op = at(op_pointer)
    what = f"{method.upper()} {path or template}{query}"
    data = json.dumps(body).encode() if body is not None else raw
    # A request meant to be refused may break the document's request schema too.
    if body is not None and (expect or 200) < 300:
        check(f"{op_pointer}/requestBody/content/application~1json/schema", body, f"the request of {what}")
    request = urllib.request.Request(BASE + (path or template) + query, data=data, method=method.upper())
    if data is not None:
        request.add_header("Content-Type", media)
    if auth:
        request.add_header("Authorization", "Bearer " + TOKEN)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            status, headers, payload = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, payload = e.code, e.headers, e.read()
    if expect is not None and status != expect:
        sys.exit(f"{what}: status {status}, expected {expect}: {payload[:500]!r}")
    responses = op["responses"]
    if str(status) not in responses:
        sys.exit(f"{what}: status {status} is not in the document: {payload[:500]!r}")
    pointer = f"{op_pointer}/responses/{status}"
    response = responses[str(status)]
    if "$ref" in response:
        pointer = response["$ref"][1:]
        response = at(pointer)
    content = response.get("content", {})
    got = (headers.get("Content-Type") or "").split(";")[0].strip()
    if not content:
        if payload:
            sys.exit(f"{what}: a body the document does not describe: {payload[:200]!r}")
    elif got not in content:
        sys.exit(f"{what}: media type {got!r} is not one of {sorted(content)} for {status}")
    exercised.add((template, method))
    if got == "application/json":
        decoded = json.loads(payload)
        check(f"{pointer}/content/{escape(got)}/schema", decoded, f"the answer to {what}")
        return status, decoded
    return status, payload


CF = "RSSMRA80A01H501U"
BOX = "mario@ente-b.test"
HOLDER = "/v1/holders/{cf}"
MB = "/v1/mailboxes/{address}"


def box(suffix):
    return f"/v1/mailboxes/{BOX}{suffix}"


def admin_routes():
    call("get", "/v1/health", expect=200)
    call("get", "/v1/openapi.json", expect=200)
    call("get", "/metrics", expect=200)
    call("get", "/metrics", auth=False, expect=401)
    call("get", "/v1/mailboxes", auth=False, expect=401)
    new = {"address": "casella-api@pec-a.test", "password": "Segreta-123", "receipt": "breve"}
    call("post", "/v1/mailboxes", body=new, expect=201)
    call("post", "/v1/mailboxes", body=new, expect=409)
    call("post", "/v1/mailboxes", raw=b"{not json", expect=400)
    call("post", "/v1/mailboxes", body={"address": "x@altrove.test", "password": "Segreta-123"}, expect=422)
    call("get", "/v1/mailboxes", expect=200)
    call("get", MB, path="/v1/mailboxes/casella-api@pec-a.test", expect=200)
    call("get", MB, path="/v1/mailboxes/nessuno@pec-a.test", expect=404)
    call("patch", MB, path="/v1/mailboxes/casella-api@pec-a.test",
         body={"state": "suspended", "quota_bytes": 5000000}, expect=200)
    call("get", "/v1/log", query="?since=2020-01-01&mailbox=postmaster", expect=200)
    call("get", "/v1/log", query="?since=ieri", expect=422)
    call("get", "/v1/log", query="?colore=1", expect=400)
    call("get", "/v1/log/verify", expect=200)
    call("get", "/v1/exports/{token}", path="/v1/exports/" + "0" * 32, auth=False, expect=404)


def people():
    call("get", "/v1/me", expect=200)
    call("get", "/v1/me", auth=False, expect=401)
    call("post", "/v1/domains", body={"name": "ente-b.test", "ente": "Comune di Prova"}, expect=201)
    call("post", "/v1/domains", body={"name": "ente-b.test"}, expect=409)
    call("post", "/v1/domains", body={"name": "senzapunto"}, expect=422)
    call("get", "/v1/domains", expect=200)
    operator = {"username": "lra1", "role": "lra", "ente": "Comune di Prova", "domains": ["ente-b.test"],
                "email": "lra1@example.com", "password": "password-lunga"}
    call("post", "/v1/operators", body=operator, expect=201)
    call("get", "/v1/operators", expect=200)
    op = "/v1/operators/{username}"
    call("post", op + "/disable", path="/v1/operators/lra1/disable", expect=200)
    call("post", op + "/enable", path="/v1/operators/lra1/enable", expect=200)
    call("post", op + "/disable", path="/v1/operators/api/disable", expect=422)
    call("post", op + "/enable", path="/v1/operators/nessuno/enable", expect=404)


def holders():
    holder = {"codice_fiscale": CF.lower(), "nome": "Mario", "cognome": "Rossi", "ente": "Comune di Prova",
              "indirizzi": [{"via": "Via Roma 1", "localita": "Roma", "provincia": "RM", "cap": "00100",
                             "email": "mario.rossi@example.com"}],
              "attivita": [{"ragione_sociale": "Rossi Mario", "forma_giuridica": "ditta individuale"}]}
    call("post", "/v1/holders", body=holder, expect=201)
    call("post", "/v1/holders", body=holder, expect=409)
    call("post", "/v1/holders", body={**holder, "codice_fiscale": "RSSMRA80A01H501X"}, expect=422)
    call("get", "/v1/holders", query="?cognome=ross&ente=Comune%20di%20Prova", expect=200)
    call("get", "/v1/holders", query="?format=csv", expect=200)
    call("get", "/v1/holders", query="?colore=1", expect=422)
    ente = "?ente=Comune%20di%20Prova"
    call("get", HOLDER, path=f"/v1/holders/{CF}", query=ente, expect=200)
    call("get", HOLDER, path=f"/v1/holders/{CF}", expect=404)
    call("get", HOLDER, path=f"/v1/holders/{CF}", query="?colore=1", expect=400)
    call("put", HOLDER, path=f"/v1/holders/{CF}", query=ente,
         body={"nome": "Mario", "cognome": "Rossi", "indirizzi": [{"email": "mario@example.com", "telefono": "06 1234567"}]},
         expect=200)


def mailbox_life():
    new = {"address": BOX, "tipo": "STANDARD", "ente": "Comune di Prova", "scadenza": "2030-12-31", "note": "prima"}
    call("post", HOLDER + "/mailboxes", path=f"/v1/holders/{CF}/mailboxes", body=new, expect=201)
    call("post", HOLDER + "/mailboxes", path=f"/v1/holders/{CF}/mailboxes", body=new, expect=409)
    call("post", HOLDER + "/mailboxes", path=f"/v1/holders/{CF}/mailboxes",
         body={**new, "address": "lia@ente-b.test", "tipo": "GRANDE"}, expect=422)
    call("get", "/v1/search/mailboxes", query="?stato=pending&dominio=ente-b.test", expect=200)
    call("get", "/v1/search/mailboxes", query="?format=csv", expect=200)
    call("get", "/v1/search/mailboxes", query="?stato=dormiente", expect=422)
    call("post", MB + "/new-password", path=box("/new-password"), expect=422)
    call("post", MB + "/activate", path=box("/activate"), expect=200)
    call("post", MB + "/activate", path=box("/activate"), expect=422)
    call("post", MB + "/new-password", path=box("/new-password"), expect=200)
    call("post", MB + "/suspend", path=box("/suspend"), expect=200)
    call("post", MB + "/reactivate", path=box("/reactivate"), expect=200)
    call("post", MB + "/notes", path=box("/notes"), body={"note": "seconda"}, expect=200)
    call("post", MB + "/requests", path=box("/requests"), body={"richiesta": "rinnovo"}, expect=200)
    call("post", MB + "/requests", path=box("/requests"), body={"richiesta": "rinnovo", "evasa": True}, expect=200)
    call("post", MB + "/expiry", path=box("/expiry"), body={"scadenza": "2031-01-31"}, expect=200)
    call("post", MB + "/expiry", path=box("/expiry"), body={"scadenza": "31/01/2031"}, expect=422)
    call("post", MB + "/holder", path=box("/holder"), body={"codice_fiscale": CF}, expect=422)
    call("post", MB + "/suspend", path="/v1/mailboxes/nessuno@ente-b.test/suspend", expect=404)


def documents():
    pdf = open(PDF_PATH, "rb").read()
    docs = MB + "/documents"
    call("post", docs, path=box("/documents"), query="?tipo=contratto&nome=contratto.pdf",
         raw=pdf, media="application/pdf", expect=201)
    call("post", docs, path=box("/documents"), query="?tipo=contratto", raw=b"%PDF-1.4 no",
         media="application/pdf", expect=422)
    call("post", docs, path=box("/documents"), query="?tipo=fattura", raw=pdf, media="application/pdf", expect=422)
    call("post", docs, path=box("/documents"), raw=pdf, media="application/pdf", expect=400)
    status, listed = call("get", docs, path=box("/documents"), expect=200)
    document = MB + "/documents/{id}"
    _, got = call("get", document, path=box(f"/documents/{listed[0]['id']}"), expect=200)
    if got != pdf:
        sys.exit("the downloaded document differs from the uploaded one")
    call("get", document, path=box("/documents/99"), expect=404)
    call("get", document, path=box("/documents/uno"), expect=400)
    _, detail = call("get", MB + "/detail", path=box("/detail"), expect=200)
    if not detail["profile"]["contract"] or detail["holder"] is None:
        sys.exit(f"the detail lacks the contract or the holder: {detail}")


def reports():
    call("get", "/v1/reports/summary", expect=200)
    call("get", "/v1/reports/summary", query="?format=csv", expect=200)
    call("get", "/v1/reports/usage", query="?ente=Comune%20di%20Prova", expect=200)
    call("get", "/v1/reports/usage", query="?format=csv", expect=200)
    call("get", "/v1/reports/usage", query="?colore=1", expect=400)


def endings():
    call("post", MB + "/cease", path=box("/cease"), expect=200)
    call("post", MB + "/reactivate", path=box("/reactivate"), expect=422)
    call("get", MB + "/detail", path="/v1/mailboxes/nessuno@ente-b.test/detail", expect=404)
    call("delete", MB, path="/v1/mailboxes/casella-api@pec-a.test", expect=204)
    call("delete", MB, path="/v1/mailboxes/casella-api@pec-a.test", expect=404)


admin_routes()
people()
holders()
mailbox_life()
documents()
reports()
endings()
documented = {(p, m) for p, item in DOC["paths"].items() for m in item if m in METHODS}
missing = sorted(documented - exercised)
if missing:
    sys.exit(f"operations of the document this check never called: {missing}")
print(f"{len(exercised)} operations checked")

//! The admin HTTP API, driven by Python's urllib against a running daemon.

use crate::daemon;
use crate::support;

#[test]
fn the_admin_api_manages_mailboxes_with_a_bearer_token() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, _b_dir, base_a, _base_b) = daemon::pair(tmp.path(), "");
    let config = std::fs::read_to_string(a_dir.join("pecd.toml")).unwrap();
    let token = config
        .lines()
        .find_map(|l| l.strip_prefix("token = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    assert_eq!(token.len(), 48, "pecd init writes a random token");
    let a = daemon::start(&a_dir, base_a);
    let script = r#"
import json, sys, urllib.request, urllib.error
base, token = sys.argv[1], sys.argv[2]
def call(method, path, body=None, auth=token):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", "Bearer " + auth)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")
results = {
    "no_token": call("GET", "/v1/mailboxes", auth=None)[0],
    "wrong_token": call("GET", "/v1/mailboxes", auth="x" * 48)[0],
    "create": call("POST", "/v1/mailboxes", {"address": "mario@pec-a.test", "password": "Segreta-123", "receipt": "breve"}),
    "duplicate": call("POST", "/v1/mailboxes", {"address": "mario@pec-a.test", "password": "Segreta-123"})[0],
    "foreign": call("POST", "/v1/mailboxes", {"address": "mario@altro.test", "password": "Segreta-123"})[0],
    "short_password": call("POST", "/v1/mailboxes", {"address": "lia@pec-a.test", "password": "corta"})[0],
    "unknown_key": call("POST", "/v1/mailboxes", {"address": "lia@pec-a.test", "password": "Segreta-123", "colore": 1})[0],
    "suspend": call("PATCH", "/v1/mailboxes/mario@pec-a.test", {"state": "suspended"}),
    "list": call("GET", "/v1/mailboxes"),
    "missing": call("GET", "/v1/mailboxes/nessuno@pec-a.test")[0],
    "log": call("GET", "/v1/log?since=2020-01-01"),
    "verify": call("GET", "/v1/log/verify"),
    "delete": call("DELETE", "/v1/mailboxes/mario@pec-a.test")[0],
    "after_delete": call("GET", "/v1/mailboxes/mario@pec-a.test")[0],
}
print(json.dumps(results))
"#;
    let base = format!("http://127.0.0.1:{}", base_a + 5);
    let out = support::run("python3", &["-c", script, &base, &token], "python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["no_token"], 401);
    assert_eq!(r["wrong_token"], 401);
    assert_eq!(r["create"][0], 201);
    assert_eq!(r["create"][1]["receipt"], "breve");
    assert_eq!(r["duplicate"], 409);
    assert_eq!(r["foreign"], 422);
    assert_eq!(r["short_password"], 422);
    assert_eq!(r["unknown_key"], 400);
    assert_eq!(r["suspend"][1]["state"], "suspended");
    assert_eq!(r["list"][1][0]["address"], "mario@pec-a.test");
    assert_eq!(r["missing"], 404);
    assert_eq!(r["log"][0], 200);
    assert_eq!(r["verify"][1]["intact"], true);
    assert_eq!(r["delete"], 204);
    assert_eq!(r["after_delete"], 404);
    drop(a);
}

//! The OpenAPI document (`src/admin/openapi.json`) is written by hand, so nothing but
//! these checks keeps it true: a real validator (PyPI `openapi-spec-validator`) accepts
//! it, it names exactly the JSON routes the code declares (every `.route("…", …)` in
//! `src/admin/` and `src/web/`, with each method chained on it), and a running daemon
//! serves it and answers every operation in it as it says.

use std::collections::BTreeSet;
use std::io::Read;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

use crate::daemon;
use crate::support;

/// The document, as the repository holds it.
fn document_path() -> PathBuf {
    support::root().join("src/admin/openapi.json")
}

fn document() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(document_path()).unwrap()).unwrap()
}

#[test]
fn the_openapi_document_passes_a_real_validator() {
    let program = "from openapi_spec_validator import validate; import json, sys; \
                   validate(json.load(open(sys.argv[1])))";
    let path = document_path();
    let out = support::run(
        "python3",
        &["-c", program, &path.to_string_lossy()],
        "python3 (and `pip install openapi-spec-validator`)",
    );
    assert!(
        out.status.success(),
        "openapi-spec-validator refuses {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One route method: `("/v1/holders/{cf}", "put")`.
type Operation = (String, String);

/// Only paths under `/v1/` are the JSON API, with the admin listener's `/metrics`; the
/// web panel's HTML pages (`/caselle`, `/accesso`, …) are not in the document.
fn is_api_path(path: &str) -> bool {
    path.starts_with("/v1/") || path == "/metrics"
}

const METHODS: [&str; 8] = [
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

#[test]
fn the_openapi_document_names_exactly_the_routes_the_code_declares() {
    let mut sources = Vec::new();
    rust_files(&support::root().join("src/admin"), &mut sources);
    rust_files(&support::root().join("src/web"), &mut sources);
    let mut declared = BTreeSet::new();
    for file in &sources {
        let text = std::fs::read_to_string(file).unwrap();
        for (path, method) in routes_in(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        {
            if is_api_path(&path) {
                declared.insert((path, method));
            }
        }
    }
    assert!(
        declared.contains(&("/v1/openapi.json".to_string(), "get".to_string())),
        "the route scan found no /v1/openapi.json: {declared:?}"
    );
    let documented = documented(&document());
    let undocumented: Vec<_> = declared.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&declared).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "src/admin/openapi.json is out of step with the routes.\n\
         Declared in the code, missing from the document: {undocumented:?}\n\
         In the document, declared nowhere in the code: {stale:?}"
    );
}

/// Every `.rs` file under `dir` (none when it does not exist).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The path and method of every operation in the document.
fn documented(document: &serde_json::Value) -> BTreeSet<Operation> {
    let paths = document["paths"]
        .as_object()
        .expect("the document has paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item is an object");
            item.keys()
                .filter(|key| METHODS.contains(&key.as_str()))
                .map(|method| (path.clone(), method.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The routes a Rust source declares: each `.route("PATH", get(a).post(b))` gives
/// `(PATH, get)` and `(PATH, post)`. Comment lines are skipped.
fn routes_in(source: &str) -> Result<Vec<Operation>, String> {
    let code: String = source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(|line| format!("{line}\n"))
        .collect();
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let Some(after_quote) = rest.trim_start().strip_prefix('"') else {
            return Err(format!(
                "a .route( whose path is not a literal: {}",
                head(rest)
            ));
        };
        let end = after_quote.find('"').ok_or("an unterminated route path")?;
        let path = &after_quote[..end];
        let router = after_quote[end + 1..]
            .trim_start()
            .strip_prefix(',')
            .ok_or_else(|| format!("no method router after {path:?}"))?;
        for method in chained_calls(router)? {
            if !METHODS.contains(&method.as_str()) {
                return Err(format!(
                    "{path:?} is routed with {method}(…): not an HTTP method"
                ));
            }
            found.push((path.to_string(), method));
        }
        rest = router;
    }
    Ok(found)
}

/// The names of the calls chained at the top level of `text` up to the `,` or `)`
/// that ends the argument: `get(a).post(b), …` gives `get`, `post`; a path prefix
/// (`axum::routing::get`) is dropped.
fn chained_calls(text: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut chars = text.trim_start().chars().peekable();
    loop {
        let name: String =
            std::iter::from_fn(|| chars.next_if(|c| c.is_alphanumeric() || *c == '_' || *c == ':'))
                .collect();
        let name = name.rsplit("::").next().unwrap_or_default().to_string();
        if name.is_empty() || chars.next() != Some('(') {
            return Err(format!(
                "a method router that is not a chain of calls: {}",
                head(text)
            ));
        }
        skip_arguments(&mut chars)?;
        names.push(name);
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.next() {
            Some('.') => while chars.next_if(|c| c.is_whitespace()).is_some() {},
            Some(',' | ')') => return Ok(names),
            _ => return Err(format!("an unexpected method router: {}", head(text))),
        }
    }
}

/// Consumes up to the `)` that closes a call's arguments (string literals and nested
/// brackets skipped).
fn skip_arguments(chars: &mut impl Iterator<Item = char>) -> Result<(), String> {
    let mut depth = 1usize;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(s) = chars.next() {
                    match s {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(());
                }
            }
            _ => {}
        }
    }
    Err("unbalanced brackets in a method router".to_string())
}

fn head(text: &str) -> String {
    text.chars().take(80).collect()
}

#[test]
fn the_route_scan_reads_chains_closures_and_multi_line_routes() {
    let source = r#"
        // .route("/v1/commented", get(nothing))
        Router::new()
            .route(
                "/v1/health",
                get(|| async { Json(json!({ "status": "ok (fine)" })) }),
            )
            .route("/v1/a/{x}", get(show).patch(change).delete(remove))
            .route("/pagina", axum::routing::post(form))
    "#;
    let found = routes_in(source).unwrap();
    let pairs: Vec<(&str, &str)> = found
        .iter()
        .map(|(p, m)| (p.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("/v1/health", "get"),
            ("/v1/a/{x}", "get"),
            ("/v1/a/{x}", "patch"),
            ("/v1/a/{x}", "delete"),
            ("/pagina", "post"),
        ]
    );
    assert!(routes_in(r#".route("/v1/x", any(handler))"#).is_err());
    assert!(routes_in(r#".route(PATH, get(handler))"#).is_err());
}

/// The live check against a real `pecd serve` (its own activation hook, its own
/// listeners): the admin listener serves the repository's document, and every
/// operation in it, called for real, answers as the document says
/// (`openapi_conformance.py`).
#[test]
fn the_daemon_serves_the_document_and_answers_as_it_says() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _peer, port_base, _) = daemon::pair(tmp.path(), "");
    let config: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.join("pecd.toml")).unwrap()).unwrap();
    let token = config["admin"]["token"].as_str().unwrap().to_string();
    let pecd = daemon::start(&dir, port_base);
    let admin = port_base + 5;
    let served = get(admin, "/v1/openapi.json", Some(&token));
    let anonymous = get(admin, "/v1/openapi.json", None);
    let conformance = support::run(
        "python3",
        &[
            &support::root()
                .join("tests/integration/openapi_conformance.py")
                .to_string_lossy(),
            &format!("http://127.0.0.1:{admin}"),
            &token,
            &document_path().to_string_lossy(),
            &support::root()
                .join("fuzz/corpus/pdf_upload/minimal.pdf")
                .to_string_lossy(),
        ],
        "python3 (and `pip install openapi-spec-validator`, which brings jsonschema)",
    );
    drop(pecd);

    assert!(served.head.starts_with("HTTP/1.1 200"), "{}", served.head);
    assert!(
        served
            .head
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        served.head
    );
    let body: serde_json::Value = serde_json::from_slice(&served.body)
        .unwrap_or_else(|e| panic!("the served document is not JSON: {e}"));
    assert_eq!(body, document(), "the listener serves another document");
    assert!(
        anonymous.head.starts_with("HTTP/1.1 401"),
        "the document is served without the bearer token: {}",
        anonymous.head
    );
    assert!(
        conformance.status.success(),
        "the admin listener's answers do not match the document: {}",
        String::from_utf8_lossy(&conformance.stderr)
    );
}

/// An HTTP response: the status line and headers, and the body.
pub struct Answer {
    pub head: String,
    pub body: Vec<u8>,
}

/// One `GET` over a fresh connection that the request asks the server to close.
pub fn get(port: u16, path: &str, token: Option<&str>) -> Answer {
    // The daemon opens the admin listener a moment after the SMTP one it was seen on.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => break stream,
            Err(e) if std::time::Instant::now() > deadline => panic!("admin port {port}: {e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    Answer {
        head: String::from_utf8_lossy(&raw[..split]).into_owned(),
        body: raw[split + 4..].to_vec(),
    }
}

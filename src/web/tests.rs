//! The panel over real HTTPS on the loopback, with the development certificate: what a
//! browser is told about the session cookie, and what happens to forms without their
//! CSRF token, to failed and throttled logins, and after logout.

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use ureq::Agent;
use ureq::http::Response;

use super::*;
use crate::net::listener::Admission;
use crate::net::throttle::ThrottlePolicy;

fn dev(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("certs/pec-a.test")
        .join(file)
}

/// A running panel on a fresh store.
struct Panel {
    base: String,
    store: Store,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Panel {
    async fn start(policy: ThrottlePolicy) -> Panel {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let settings = WebSettings {
            session_idle: Duration::from_secs(600),
            max_sessions: 100,
            max_request_bytes: 1 << 20,
        };
        let api = ManageApi {
            store: store.clone(),
            settings: Arc::new(crate::manage::mailboxes::Settings {
                domain: "pec-a.test".into(),
                types: crate::config::MailboxTypeConfig::defaults(),
            }),
            on_activation: Arc::new(|_: &mut crate::store::Tx<'_>, _: &_| Ok(())),
        };
        let web = Web::new(
            api,
            AuthThrottle::new(policy),
            PasswordChecks::start(1),
            settings,
        );
        let tls = crate::net::tls::server_config(&dev("tls.pem"), &dev("tls.key")).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let listener = TlsListener::start(
            tcp,
            TlsAcceptor::from(tls),
            Admission::new(16, 16),
            shutdown.clone(),
            &tracker,
        )
        .unwrap();
        let base = format!(
            "https://127.0.0.1:{}",
            axum::serve::Listener::local_addr(&listener).unwrap().port()
        );
        tokio::spawn(serve(listener, web, shutdown.clone()));
        Panel {
            base,
            store,
            shutdown,
            _dir: dir,
        }
    }
}

impl Drop for Panel {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Panel {
    /// Adds an operator as the operator commands do.
    fn add_operator(&self, username: &str, role: &str, ente: Option<&str>) {
        let new = crate::manage::operators::NewOperator {
            username: username.into(),
            role: role.into(),
            ente: ente.map(str::to_string),
            domains: vec!["pec-a.test".into()],
            email: None,
            password: PASSWORD.into(),
        };
        let cli = crate::manage::Actor::gestore("cli");
        crate::manage::operators::add(
            &self.store,
            &cli,
            "pec-a.test",
            &new,
            jiff::Timestamp::now(),
        )
        .unwrap();
    }
}

const PASSWORD: &str = "Password-di-prova-1";

/// A browser's view of the panel: it keeps the session cookie and never follows
/// redirects, so the tests see every `Set-Cookie` and `Location`.
struct Browser {
    agent: Agent,
    base: String,
    cookie: Option<String>,
}

/// A response, read whole.
struct Page {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the page's first hidden `csrf` field.
    fn csrf(&self) -> String {
        let start = self.body.find("name=\"csrf\" value=\"").unwrap() + 19;
        self.body[start..start + 64].to_string()
    }
}

impl Browser {
    fn new(base: &str) -> Browser {
        let ca = std::fs::read(dev("ca.pem")).unwrap();
        let roots = vec![ureq::tls::Certificate::from_pem(&ca).unwrap()];
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
            .build();
        let agent = Agent::config_builder()
            .tls_config(tls)
            .proxy(None)
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .new_agent();
        Browser {
            agent,
            base: base.to_string(),
            cookie: None,
        }
    }

    fn get(&mut self, path: &str) -> Page {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", cookie);
        }
        self.keep(request.call().unwrap())
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let mut request = self.agent.post(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", cookie);
        }
        self.keep(request.send_form(form.iter().copied()).unwrap())
    }

    /// A browser logged in as `username`.
    fn logged_in(base: &str, username: &str) -> Browser {
        let mut browser = Browser::new(base);
        browser.login(username);
        browser
    }

    /// Logs in as `username` and lands on the summary.
    fn login(&mut self, username: &str) -> Page {
        let token = self.get("/accesso").csrf();
        let form = [
            ("csrf", token.as_str()),
            ("username", username),
            ("password", PASSWORD),
        ];
        let answer = self.post("/accesso", &form);
        assert_eq!(answer.status, 303, "{}", answer.body);
        assert_eq!(answer.header("location"), "/");
        self.get("/")
    }

    /// A multipart form with one file, as a browser uploads it.
    fn upload(&mut self, path: &str, fields: &[(&str, &str)], file: &[u8]) -> Page {
        let boundary = "----pecd-test-boundary";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"contratto.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut request = self.agent.post(format!("{}{path}", self.base)).header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        );
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", cookie);
        }
        self.keep(request.send(&body[..]).unwrap())
    }

    /// A JSON API call with the session cookie and, when given, the CSRF header.
    fn api(&mut self, method: &str, path: &str, csrf: Option<&str>, body: &str) -> Page {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("Content-Type", "application/json");
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", cookie);
        }
        if let Some(token) = csrf {
            request = request.header("X-CSRF-Token", token);
        }
        let response = self
            .agent
            .run(request.body(body.to_string()).unwrap())
            .unwrap();
        self.keep(response)
    }

    fn keep(&mut self, mut response: Response<ureq::Body>) -> Page {
        if let Some(set) = response.headers().get("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            self.cookie = (!set.contains("Max-Age=0")).then(|| pair.to_string());
        }
        Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: String::from_utf8_lossy(&response.body_mut().read_to_vec().unwrap()).into_owned(),
        }
    }
}

/// Runs the browser's synchronous calls off the async threads.
async fn browse<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_secure_httponly_and_samesite_strict() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        let page = browser.get("/accesso");
        assert_eq!(page.status, 200);
        let cookie = page.header("set-cookie");
        assert!(cookie.starts_with("__Host-pecd="), "{cookie}");
        for flag in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
            assert!(cookie.split("; ").any(|f| f == flag), "{flag} in {cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
        let policy = page.header("content-security-policy");
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(!page.body.contains("<script"));
        let css = browser.get("/static/pecd.css");
        assert_eq!(css.status, 200);
        assert!(css.header("content-type").starts_with("text/css"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_their_csrf_token_are_refused() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        let token = browser.get("/accesso").csrf();
        let credentials = [("username", "admin"), ("password", "x")];
        let missing = browser.post("/accesso", &credentials);
        assert_eq!(missing.status, 403);
        assert!(missing.body.contains("Richiesta non valida"));
        let forged = "0".repeat(64);
        let wrong = browser.post(
            "/accesso",
            &[("csrf", forged.as_str()), ("username", "admin")],
        );
        assert_eq!(wrong.status, 403);
        // Another browser's token is no better: tokens belong to their session.
        let mut other = Browser::new(&base);
        other.get("/accesso");
        let stolen = other.post("/accesso", &[("csrf", token.as_str()), ("username", "a")]);
        assert_eq!(stolen.status, 403);
        // Without any session the form is refused too.
        let mut stranger = Browser::new(&base);
        let none = stranger.post("/esci", &[("csrf", token.as_str())]);
        assert_eq!(none.status, 403);
        assert!(none.body.contains("Sessione scaduta"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_login_says_so_next_to_the_form_and_escapes_what_was_typed() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        let token = browser.get("/accesso").csrf();
        let typed = "<script>alert(1)</script>";
        let page = browser.post(
            "/accesso",
            &[
                ("csrf", &token),
                ("username", typed),
                ("password", "sbagliata"),
            ],
        );
        assert_eq!(page.status, 401);
        assert!(page.body.contains("Nome utente o password non corretti."));
        assert!(!page.body.contains(typed));
        assert!(page.body.contains("&#60;script&#62;") || page.body.contains("&lt;script&gt;"));
        let empty = browser.post(
            "/accesso",
            &[("csrf", &token), ("username", ""), ("password", "")],
        );
        assert_eq!(empty.status, 422);
        assert!(empty.body.contains("id=\"e-username\""), "{}", empty.body);
        assert!(empty.body.contains("aria-describedby=\"e-password\""));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_login() {
    let policy = ThrottlePolicy {
        delay_step: Duration::ZERO,
        failures_per_address_account: 3,
        ..ThrottlePolicy::default()
    };
    let panel = Panel::start(policy).await;
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        let token = browser.get("/accesso").csrf();
        let form = [
            ("csrf", token.as_str()),
            ("username", "admin"),
            ("password", "no"),
        ];
        let statuses: Vec<u16> = (0..5)
            .map(|_| browser.post("/accesso", &form).status)
            .collect();
        assert_eq!(statuses, [401, 401, 401, 429, 429]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_on_the_server_and_in_the_browser() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        let token = browser.get("/accesso").csrf();
        let kept = browser.cookie.clone().unwrap();
        let out = browser.post("/esci", &[("csrf", &token)]);
        assert_eq!(out.status, 303);
        assert_eq!(out.header("location"), "/accesso");
        assert!(out.header("set-cookie").contains("Max-Age=0"));
        // Replaying the old cookie finds no session: the form is refused.
        browser.cookie = Some(kept);
        let replay = browser.post("/esci", &[("csrf", &token)]);
        assert_eq!(replay.status, 403);
        let home = browser.get("/");
        assert_eq!(home.status, 303);
        assert_eq!(home.header("location"), "/accesso");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_starts_a_new_session_and_only_the_gestore_sees_operators() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    panel.add_operator("admin", "gestore", None);
    panel.add_operator("comune", "lra", Some("Comune di Prova"));
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        browser.get("/accesso");
        let before = browser.cookie.clone().unwrap();
        let home = browser.login("admin");
        assert_eq!(home.status, 200);
        assert!(home.body.contains("admin"));
        let after = browser.cookie.clone().unwrap();
        assert_ne!(
            before, after,
            "the login's session id is not the one planted before it"
        );
        // The pre-login id is worth nothing now (session fixation).
        browser.cookie = Some(before);
        assert_eq!(browser.get("/").status, 303);
        browser.cookie = Some(after);

        let page = browser.get("/operatori");
        assert_eq!(page.status, 200);
        let token = page.csrf();
        let form = [
            ("csrf", token.as_str()),
            ("username", "nuovo"),
            ("password", "corta"),
            ("role", "lra"),
            ("ente", "Comune di Prova"),
            ("domains", "pec-a.test"),
            ("email", ""),
        ];
        let refused = browser.post("/operatori", &form);
        assert_eq!(refused.status, 422);
        assert!(
            refused.body.contains("id=\"e-password\""),
            "{}",
            refused.body
        );
        assert!(
            refused.body.contains("value=\"nuovo\""),
            "what was typed stays"
        );

        let mut lra = Browser::new(&base);
        let home = lra.login("comune");
        assert!(!home.body.contains("/operatori"), "no link for an LRA");
        assert_eq!(lra.get("/operatori").status, 404);
        let token = lra.get("/").csrf();
        let sneak = lra.post("/operatori/admin/disattiva", &[("csrf", token.as_str())]);
        assert_eq!(sneak.status, 403);
        assert!(sneak.body.contains("riservata al gestore"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_lra_creates_a_mailbox_that_another_ente_cannot_open() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    panel.add_operator("admin", "gestore", None);
    panel.add_operator("comune", "lra", Some("Comune di Prova"));
    panel.add_operator("altro", "lra", Some("Altro Ente"));
    let base = panel.base.clone();
    browse(move || {
        let mut lra = Browser::logged_in(&base, "comune");
        let token = lra.get("/caselle/nuova").csrf();
        let mut form = vec![
            ("csrf", token.as_str()),
            ("address", "mario.rossi@pec-a.test"),
            ("codice_fiscale", "RSSMRA80A01H501X"),
            ("nome", "Mario"),
            ("cognome", "Rossi"),
            ("email", "mario@example.org"),
            ("tipo", "STANDARD"),
            ("scadenza", ""),
            ("note", "=cmd|' /C calc'!A0"),
        ];
        let refused = lra.post("/caselle/nuova", &form);
        assert_eq!(
            refused.status, 422,
            "a wrong codice fiscale check character"
        );
        assert!(
            refused.body.contains("id=\"e-codice_fiscale\""),
            "{}",
            refused.body
        );
        assert!(refused.body.contains("value=\"mario.rossi@pec-a.test\""));
        form[2] = ("codice_fiscale", "RSSMRA80A01H501U");
        let created = lra.post("/caselle/nuova", &form);
        assert_eq!(created.status, 303, "{}", created.body);
        let location = created.header("location").to_string();
        assert_eq!(location, "/caselle/mario.rossi@pec-a.test");
        let detail = lra.get(&location);
        assert_eq!(detail.status, 200);
        assert!(detail.body.contains("in attesa di attivazione"));
        assert!(
            !detail.body.contains("/attiva\""),
            "only the gestore activates"
        );

        let token = detail.csrf();
        let fields = [("csrf", token.as_str()), ("tipo", "contratto")];
        let fake = lra.upload(
            &format!("{location}/documenti"),
            &fields,
            b"MZ\x90\x00 not a pdf",
        );
        assert_eq!(fake.status, 422, "{}", fake.body);
        assert!(fake.body.contains("id=\"e-file\""), "{}", fake.body);
        let forged = lra.upload(
            &format!("{location}/documenti"),
            &[("tipo", "contratto")],
            b"%PDF",
        );
        assert_eq!(
            forged.status, 403,
            "an upload without the CSRF field is refused"
        );
        let pdf =
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pdf/minimal.pdf"))
                .unwrap();
        let kept = lra.upload(&format!("{location}/documenti"), &fields, &pdf);
        assert_eq!(kept.status, 303, "{}", kept.body);
        let detail = lra.get(&location);
        assert!(detail.body.contains("contratto.pdf"));
        let download = lra.get(&format!("{location}/documenti/1"));
        assert_eq!(download.status, 200);
        assert_eq!(download.header("content-type"), "application/pdf");
        let huge = vec![b'x'; (1 << 20) + 1024];
        let too_large = lra.upload(&format!("{location}/documenti"), &fields, &huge);
        assert_eq!(too_large.status, 413);

        let csv = lra.get("/caselle.csv?indirizzo=mario");
        assert_eq!(csv.status, 200);
        assert!(csv.header("content-type").starts_with("text/csv"));
        assert!(csv.body.contains("mario.rossi@pec-a.test"), "{}", csv.body);

        let mut other = Browser::logged_in(&base, "altro");
        let hidden = other.get(&location);
        assert_eq!(hidden.status, 404);
        assert!(!hidden.body.contains("Rossi"));
        let token = other.get("/").csrf();
        let poke = other.post(&format!("{location}/sospendi"), &[("csrf", token.as_str())]);
        assert_eq!(poke.status, 404);
        assert!(!other.get("/caselle").body.contains("mario.rossi"));

        let mut gestore = Browser::logged_in(&base, "admin");
        let token = gestore.get(&location).csrf();
        let activated = gestore.post(&format!("{location}/attiva"), &[("csrf", token.as_str())]);
        assert_eq!(activated.status, 303, "{}", activated.body);
        let after = gestore.get(&location);
        assert!(
            after.body.contains("Casella attivata"),
            "the notice is shown"
        );
        assert!(after.body.contains(">attiva<"), "{}", after.body);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_answers_for_the_session_and_wants_the_csrf_header_to_change() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    panel.add_operator("admin", "gestore", None);
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        assert_eq!(browser.api("GET", "/v1/me", None, "").status, 401);
        let token = browser.login("admin").csrf();
        let me = browser.api("GET", "/v1/me", None, "");
        assert_eq!(me.status, 200, "{}", me.body);
        assert!(me.body.contains("admin"));
        let domain = r#"{"name": "ente.example.it"}"#;
        let forged = browser.api("POST", "/v1/domains", None, domain);
        assert_eq!(forged.status, 403, "no CSRF header, no change");
        let added = browser.api("POST", "/v1/domains", Some(&token), domain);
        assert!(added.status < 300, "{} {}", added.status, added.body);
        let page = browser.get("/domini");
        assert!(page.body.contains("ente.example.it"));
        let openapi = browser.get("/v1/openapi.json");
        assert_eq!(openapi.status, 200);
        assert!(openapi.body.contains("\"openapi\""));
        for path in [
            "/",
            "/report",
            "/report/enti.csv",
            "/report/utilizzo.csv",
            "/caselle",
        ] {
            assert_eq!(browser.get(path).status, 200, "{path}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_pages_escape_markup_and_the_csv_neutralises_formulas() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    panel.add_operator("comune", "lra", Some("Comune di Prova"));
    let base = panel.base.clone();
    browse(move || {
        let mut lra = Browser::logged_in(&base, "comune");
        let token = lra.get("/titolari/nuovo").csrf();
        let mut form = vec![
            ("csrf", token.as_str()),
            ("codice_fiscale", "RSSMRA80A01H501U"),
            ("nome", "Mario"),
            ("cognome", "Rossi"),
            ("cap", "123"),
            ("ragione_sociale", "=HYPERLINK(\"http://x\")"),
            ("referente", "<img src=x onerror=alert(1)>"),
        ];
        let refused = lra.post("/titolari/nuovo", &form);
        assert_eq!(refused.status, 422);
        assert!(refused.body.contains("id=\"e-cap\""), "{}", refused.body);
        assert!(
            !refused.body.contains("<img src=x"),
            "typed markup is escaped"
        );
        form[4] = ("cap", "00100");
        let created = lra.post("/titolari/nuovo", &form);
        if created.status == 422 {
            // The rules refused the markup outright: neutralised too.
            assert!(
                created.body.contains("id=\"e-referente\""),
                "{}",
                created.body
            );
            form[6] = ("referente", "Ufficio");
            let created = lra.post("/titolari/nuovo", &form);
            assert_eq!(created.status, 303, "{}", created.body);
        } else {
            assert_eq!(created.status, 303, "{}", created.body);
        }
        let record = lra.get("/titolari/scheda?ente=Comune%20di%20Prova&cf=RSSMRA80A01H501U");
        assert_eq!(record.status, 200, "{}", record.body);
        assert!(!record.body.contains("<img src=x"));
        let csv = lra.get("/titolari.csv?cognome=ross");
        assert_eq!(csv.status, 200);
        assert!(csv.body.contains("'=HYPERLINK"), "{}", csv.body);
        assert!(!csv.body.contains(",=HYPERLINK"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_is_not_one_is_not_found_and_sets_nothing() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    let base = panel.base.clone();
    browse(move || {
        let mut holder = Browser::new(&base);
        let page = holder.get("/attiva/0123456789abcdef0123456789abcdef");
        assert_eq!(page.status, 404);
        assert!(page.body.contains("Il link non è valido."));
        assert!(
            !page.body.contains("name=\"password\""),
            "no form for a bad link"
        );
        let token = holder.get("/accesso").csrf();
        let form = [
            ("csrf", token.as_str()),
            ("password", "Nuova-password-1"),
            ("conferma", "Nuova-password-1"),
        ];
        assert_eq!(holder.post("/attiva/%3Cscript%3E", &form).status, 404);
    })
    .await;
}

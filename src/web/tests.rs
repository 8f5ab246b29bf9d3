//! The panel over real HTTPS on the loopback, with the development certificate: the
//! harness (a running panel, a browser that keeps its cookie) here, the tests of the
//! session and of what operators do in the files below.

mod attacks;
mod management;
mod session;

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
            session_lifetime: Duration::from_secs(3600),
            max_request_bytes: 1 << 20,
            max_form_bytes: 64 << 10,
            deadlines: crate::net::http::Deadlines {
                head: Duration::from_secs(1),
                body: Duration::from_secs(1),
                write: Duration::from_secs(1),
            },
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

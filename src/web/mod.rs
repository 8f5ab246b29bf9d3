//! The web panel (`[listen] web`, port N+6): the management plane for people, in
//! Italian, over HTTPS with the provider's TLS certificate. Pages are rendered on the
//! server from the templates in `templates/` and work without JavaScript; the panel
//! loads nothing from elsewhere (one stylesheet, served here).
//!
//! Operators log in with a username and password (throttled like SMTP and IMAP logins)
//! and get a session ([`session`]); every form carries the session's CSRF token
//! ([`guard`]). The pages call the management layer with the logged-in operator, which
//! decides what that operator may see: anything outside their scope is answered as if
//! it did not exist.
//!
//! | path | what |
//! |---|---|
//! | `GET /static/pecd.css` | the stylesheet |
//! | `GET`, `POST /accesso` | login |
//! | `POST /esci` | logout |
//! | `GET /` | summary: counts per state, type, operator and ente |
//! | `GET /report`, `/report/enti.csv`, `/report/utilizzo.csv` | reports and their CSV |
//! | `GET`, `POST /domini` | managed domains; the gestore adds |
//! | `GET`, `POST /password` | the operator changes their own password |
//! | `GET`, `POST /operatori` | operators (gestore): list, add |
//! | `POST /operatori/{username}/disattiva`, `…/riattiva` | disable, enable |
//! | `GET /titolari`, `GET /titolari.csv` | holder search, and its CSV |
//! | `GET`, `POST /titolari/nuovo` | new holder |
//! | `GET`, `POST /titolari/scheda?ente=…&cf=…` | a holder's record, edited |
//! | `GET /caselle`, `GET /caselle.csv` | mailbox search, and its CSV |
//! | `GET`, `POST /caselle/nuova` | new mailbox |
//! | `GET /caselle/{address}` | one mailbox: data, actions, notes, documents, history |
//! | `POST /caselle/{address}/{action}` | `attiva`, `sospendi`, `riattiva`, `cessa`, `nuova-password`, `note`, `richiesta`, `subentro` |
//! | `POST /caselle/{address}/documenti`, `GET …/documenti/{id}` | PDF upload, download |
//! | `GET`, `POST /attiva/{token}` | the one-time link's password page (no login) |
//! | `GET /v1/openapi.json` | the JSON API's OpenAPI document |
//! | `/v1/…` | the management JSON API ([`crate::admin::manage_api`]) with the session's operator; changes need the `X-CSRF-Token` header |

pub mod activation;
pub mod domains;
pub mod forms;
pub mod guard;
pub mod holders;
pub mod listener;
pub mod login;
pub mod mailbox;
pub mod mailboxes;
pub mod operators;
pub mod page;
pub mod password;
pub mod reports;
pub mod session;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::routing::post;
use tokio_util::sync::CancellationToken;

use crate::admin::manage_api::ManageApi;
use crate::config::Config;
use crate::net::http::Deadlines;
use crate::net::passwords::PasswordChecks;
use crate::net::throttle::AuthThrottle;
use crate::store::Store;
use crate::store::mailbox::Credential;
use crate::web::guard::Operator;
use crate::web::guard::Visitor;
use crate::web::listener::ClientAddr;
use crate::web::listener::TlsListener;

pub use crate::manage::Actor;
pub use crate::manage::Role;

/// The stylesheet, compiled in so the panel needs no files beside the binary.
const STYLESHEET: &str = include_str!("../../templates/pecd.css");

/// The most sessions open at once: far more operators than any provider has, few
/// enough that the table stays small.
const MAX_SESSIONS: usize = 10_000;
/// The largest request body: an uploaded document and its form.
pub(crate) const MAX_REQUEST_BYTES: usize = 12 << 20;
/// The largest request body of anyone but a logged-in operator uploading a document:
/// room for any form, little for a stranger to make the panel hold.
const MAX_FORM_BYTES: usize = 64 << 10;
/// A session ends this long after its login however busy it is, so a stolen cookie
/// or a browser left open does not stay good for ever.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// How the panel behaves (`[web]` in the configuration).
#[derive(Clone, Debug)]
pub struct WebSettings {
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// The most sessions open at once.
    pub max_sessions: usize,
    /// A session ends this long after it started, whatever its use.
    pub session_lifetime: Duration,
    /// The largest request body accepted (a logged-in operator's upload and its form).
    pub max_request_bytes: usize,
    /// The largest request body of every other request (forms, anonymous pages).
    pub max_form_bytes: usize,
    /// How long a client has to send a request's head and body.
    pub deadlines: Deadlines,
}

impl WebSettings {
    /// The panel's settings from the configuration.
    pub fn from_config(config: &Config) -> WebSettings {
        WebSettings {
            session_idle: Duration::from_secs(config.web.session_minutes.max(1) * 60),
            max_sessions: MAX_SESSIONS,
            session_lifetime: SESSION_LIFETIME,
            max_request_bytes: MAX_REQUEST_BYTES,
            max_form_bytes: MAX_FORM_BYTES,
            deadlines: Deadlines::DEFAULT,
        }
    }
}

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct Web {
    store: Store,
    api: ManageApi,
    sessions: session::Sessions,
    throttle: AuthThrottle,
    passwords: PasswordChecks,
    settings: Arc<WebSettings>,
}

impl Web {
    /// The panel's state over the management plane `api` (its store, rules and
    /// activation hook), sharing the daemon's login throttle and password threads.
    pub fn new(
        api: ManageApi,
        throttle: AuthThrottle,
        passwords: PasswordChecks,
        settings: WebSettings,
    ) -> Web {
        Web {
            store: api.store.clone(),
            api,
            sessions: session::Sessions::new(
                settings.session_idle,
                settings.session_lifetime,
                settings.max_sessions,
            ),
            throttle,
            passwords,
            settings: Arc::new(settings),
        }
    }

    /// The operator `username` is, if `password` is theirs; checked on the password
    /// threads (unknown names cost the same).
    async fn authenticate(&self, username: &str, password: String) -> Option<(Actor, Credential)> {
        let store = self.store.clone();
        let lookup = move |user: &str, password: &str| {
            crate::manage::operators::authenticate(&store, user, password)
        };
        self.passwords
            .check(lookup, username, &password)
            .await
            .flatten()
    }

    /// After a form that changed something: a notice for the next page, and there.
    fn done(&self, operator: &Operator, notice: String, location: &str) -> Response {
        self.sessions.notify(&operator.id, notice);
        page::see_other(location)
    }
}

/// Serves the panel on `listener` until shutdown.
pub async fn serve(listener: TlsListener, web: Web, shutdown: CancellationToken) {
    let address = axum::serve::Listener::local_addr(&listener).ok();
    tracing::info!(?address, "web panel listening");
    let deadlines = web.settings.deadlines;
    crate::net::http::serve(listener, router(web), ClientAddr, deadlines, shutdown).await;
}

/// Every route, behind the session and CSRF guards.
pub fn router(web: Web) -> Router {
    let pages = Router::new()
        .route("/", get(reports::home))
        .route("/report", get(reports::usage))
        .route("/report/enti.csv", get(reports::entes_csv))
        .route("/report/utilizzo.csv", get(reports::usage_csv))
        .route("/domini", get(domains::list).post(domains::add))
        .route("/accesso", get(login::form).post(login::submit))
        .route("/esci", post(login::logout))
        .route("/password", get(password::form).post(password::change))
        .route("/operatori", get(operators::list).post(operators::add))
        .route(
            "/operatori/{username}/{action}",
            post(operators::set_disabled),
        )
        .route("/titolari", get(holders::search))
        .route("/titolari.csv", get(holders::csv))
        .route(
            "/titolari/nuovo",
            get(holders::new_form).post(holders::create),
        )
        .route(
            "/titolari/scheda",
            get(holders::edit_form).post(holders::update),
        )
        .route("/caselle", get(mailboxes::search))
        .route("/caselle.csv", get(mailboxes::csv))
        .route(
            "/caselle/nuova",
            get(mailboxes::new_form).post(mailboxes::create),
        )
        .route("/caselle/{address}", get(mailbox::show))
        .route("/caselle/{address}/documenti", post(mailbox::upload))
        .route("/caselle/{address}/documenti/{id}", get(mailbox::download))
        .route("/caselle/{address}/{action}", post(mailbox::act))
        .route(
            "/attiva/{token}",
            get(activation::form).post(activation::submit),
        )
        .merge(api(&web))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(web.settings.max_request_bytes))
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            guard::csrf,
        ))
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            guard::sessions,
        ))
        .with_state(web);
    // The stylesheet is outside the session guard: fetching it must not consume the
    // notice meant for the page that links it.
    Router::new()
        .route("/static/pecd.css", get(stylesheet))
        .merge(pages)
}

/// The management JSON API, for the logged-in operator: the same routes as the admin
/// listener's, with the session's operator as the actor.
fn api(web: &Web) -> Router<Web> {
    crate::admin::manage_api::routes()
        .layer(axum::middleware::from_fn(guard::api_actor))
        .with_state(web.api.clone())
        .route("/v1/openapi.json", get(crate::admin::openapi::document))
}

async fn stylesheet() -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response();
    page::harden(&mut response);
    response
}

async fn fallback(Visitor(current): Visitor) -> Response {
    match current {
        Some(current) => page::not_found(&current.session),
        None => page::not_found(&session::Session::none()),
    }
}

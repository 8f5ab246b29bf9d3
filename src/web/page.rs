//! What every page shares: the frame around it ([`Chrome`]: title, navigation, who is
//! logged in, the CSRF token its forms send back, a notice), form errors shown next to
//! their fields ([`FormErrors`]), and the one place templates become responses, with
//! the headers that keep the panel self-contained (nothing loaded from elsewhere, no
//! scripts, no framing).

use askama::Template;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::IntoResponse;
use axum::response::Redirect;
use axum::response::Response;

use crate::web::Actor;
use crate::web::Role;
use crate::web::session::Session;

/// The frame of a page.
#[derive(Clone, Debug)]
pub struct Chrome {
    /// The page's title (`<title>` and `<h1>`).
    pub title: String,
    /// The session's CSRF token, for every form on the page.
    pub csrf: String,
    /// Who is logged in; `None` on the login and password pages.
    pub user: Option<UserBadge>,
    /// The navigation, for a logged-in operator.
    pub nav: Vec<NavLink>,
    /// A message left by the previous action.
    pub notice: Option<String>,
}

/// The logged-in operator, as the header shows them.
#[derive(Clone, Debug)]
pub struct UserBadge {
    /// The operator's username.
    pub username: String,
    /// The role, in Italian.
    pub role: &'static str,
}

/// One entry of the navigation.
#[derive(Clone, Debug)]
pub struct NavLink {
    /// Where it goes.
    pub href: &'static str,
    /// What it says.
    pub label: &'static str,
    /// Whether it is the current section (`aria-current="page"`).
    pub current: bool,
}

/// The panel's sections, for the navigation.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Section {
    /// The summary.
    Home,
    /// Titolari.
    Holders,
    /// Caselle.
    Mailboxes,
    /// Domini.
    Domains,
    /// Operatori (gestore only).
    Operators,
    /// Report.
    Reports,
    /// A page outside the sections (login, errors).
    None,
}

impl Chrome {
    /// The frame of a page seen in `session`, in `section`.
    pub fn new(title: impl Into<String>, session: &Session, section: Section) -> Chrome {
        let user = session.actor.as_ref().map(|actor| UserBadge {
            username: actor.username.clone(),
            role: role_label(actor.role),
        });
        let nav = match &session.actor {
            Some(actor) => navigation(actor, section),
            None => Vec::new(),
        };
        Chrome {
            title: title.into(),
            csrf: session.csrf.clone(),
            user,
            nav,
            notice: session.notice.clone(),
        }
    }
}

/// The role's name as the panel shows it.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Gestore => "gestore",
        Role::Lra => "LRA",
        Role::Aggregator => "aggregatore",
    }
}

fn navigation(actor: &Actor, section: Section) -> Vec<NavLink> {
    let mut links = vec![
        (Section::Home, "/", "Riepilogo"),
        (Section::Holders, "/titolari", "Titolari"),
        (Section::Mailboxes, "/caselle", "Caselle"),
        (Section::Domains, "/domini", "Domini"),
    ];
    if actor.role == Role::Gestore {
        links.push((Section::Operators, "/operatori", "Operatori"));
    }
    links.push((Section::Reports, "/report", "Report"));
    links
        .into_iter()
        .map(|(s, href, label)| NavLink {
            href,
            label,
            current: s == section,
        })
        .collect()
}

/// Validation messages of one form: by field, and one not tied to a field.
#[derive(Clone, Debug, Default)]
pub struct FormErrors {
    fields: Vec<(String, String)>,
    general: Option<String>,
}

impl FormErrors {
    /// No errors.
    pub fn none() -> FormErrors {
        FormErrors::default()
    }

    /// One message for `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> FormErrors {
        let mut errors = FormErrors::default();
        errors.add(field, message);
        errors
    }

    /// A message about the whole form.
    pub fn general(message: impl Into<String>) -> FormErrors {
        FormErrors {
            fields: Vec::new(),
            general: Some(message.into()),
        }
    }

    /// Adds a message for `field` (the first one per field is shown).
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.fields.push((field.into(), message.into()));
    }

    /// The message for `field`, if any (templates call this).
    pub fn of(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, message)| message.as_str())
    }

    /// The message about the whole form, if any (templates call this).
    pub fn general_message(&self) -> Option<&str> {
        self.general.as_deref()
    }

    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }
}

/// A template as a response with `status`.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "web page not rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "Errore interno").into_response()
        }
    }
}

/// A page with one message and a link (errors, confirmations).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// The frame.
    pub chrome: Chrome,
    /// What to say.
    pub message: String,
    /// Where the link goes.
    pub back: String,
    /// What the link says.
    pub back_label: String,
}

/// A page that says `message`, with a link back to the summary.
pub fn message(status: StatusCode, session: &Session, title: &str, message: &str) -> Response {
    let page = MessagePage {
        chrome: Chrome::new(title, session, Section::None),
        message: message.to_string(),
        back: "/".to_string(),
        back_label: "Torna al riepilogo".to_string(),
    };
    render(status, &page)
}

/// The page for anything the operator may not see or that does not exist: the same
/// answer for both, so a URL never tells whether something exists elsewhere.
pub fn not_found(session: &Session) -> Response {
    message(
        StatusCode::NOT_FOUND,
        session,
        "Pagina non trovata",
        "La pagina richiesta non esiste.",
    )
}

/// A failure of the server itself; the details go to the log only.
pub fn internal_error(session: &Session, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "web request failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        session,
        "Errore interno",
        "Si è verificato un errore interno. Riprovare più tardi.",
    )
}

/// After a form that changed something: back to a page (POST, redirect, GET).
pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// The headers every response carries: no script may run, nothing loads from
/// elsewhere, no other site may frame or read the panel, pages are not cached.
pub fn harden(response: &mut Response) {
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// A moment as the panel shows it: the day in Italy.
pub fn day(at: &jiff::Timestamp) -> String {
    at.in_tz("Europe/Rome")
        .map(|zoned| zoned.strftime("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| at.strftime("%d/%m/%Y").to_string())
}

/// A moment with its time, in Italy.
pub fn moment(at: &jiff::Timestamp) -> String {
    at.in_tz("Europe/Rome")
        .map(|zoned| zoned.strftime("%d/%m/%Y %H:%M").to_string())
        .unwrap_or_else(|_| at.strftime("%d/%m/%Y %H:%M UTC").to_string())
}

/// `text` as one segment of a URL path: unreserved characters and `@` as they are,
/// everything else percent-encoded.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A mailbox state's Italian name, for templates.
pub fn state(state: &crate::store::mailbox::MailboxState) -> &'static str {
    crate::manage::mailboxes::state_label(*state)
}

/// The Italian name of a state named by its code (`pending`, …), for templates.
pub fn state_name(code: &str) -> &str {
    match crate::store::mailbox::MailboxState::parse(code) {
        Some(state) => crate::manage::mailboxes::state_label(state),
        None => code,
    }
}

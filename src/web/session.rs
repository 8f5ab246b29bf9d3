//! The web panel's sessions: a random 256-bit id in a cookie the browser keeps from
//! scripts and from other sites (`Secure; HttpOnly; SameSite=Strict`, and the `__Host-`
//! prefix, which also forbids a `Domain` and any path but `/`), and a table on the server
//! that says who the id belongs to and until when.
//!
//! Every session carries its own CSRF token, so even the login form is protected. A
//! login starts a new session (new id, new token): an id planted before the login
//! (session fixation) is worth nothing after it. Sessions expire after
//! `[web] session_minutes` without a request, and a fixed time after they started
//! however busy they are. The table is bounded. Anonymous sessions (login pages opened
//! and not yet used) are few per client address (IPv6: per /64), the client's least
//! recently used going first, so one stranger cannot fill the table; when it is full
//! anyway, the least recently used anonymous session makes room.
//!
//! Ids are kept only as their SHA-256, so neither a timing difference in the table's
//! lookup nor a memory dump reveals one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::sync::PoisonError;
use std::time::Duration;
use std::time::Instant;

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

use crate::net::listener::client_block;
use crate::store::mailbox::Credential;
use crate::web::Actor;

/// The cookie's name. `__Host-` makes browsers refuse it unless it is `Secure`, has
/// `Path=/` and no `Domain` (RFC 6265bis §4.1.3.2).
pub const COOKIE_NAME: &str = "__Host-pecd";

/// The most anonymous sessions one client address holds: a few browser tabs on the
/// login page, far from a full table.
const MAX_ANONYMOUS_PER_CLIENT: usize = 16;

/// What the server knows about one browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// The token every form of this session must send back.
    pub csrf: String,
    /// Who logged in, or `None` before the login.
    pub actor: Option<Actor>,
    /// What the login's password was checked against: a new password ends the session.
    pub credential: Option<Credential>,
    /// A message for the next page shown (after a redirect), shown once.
    pub notice: Option<String>,
}

impl Session {
    /// No session: the frame of pages shown to a browser without one (expired, refused).
    pub fn none() -> Session {
        Session {
            csrf: String::new(),
            actor: None,
            credential: None,
            notice: None,
        }
    }
}

/// A session found from its cookie: its id (to change or end it) and its contents.
#[derive(Clone, Debug)]
pub struct Current {
    /// The cookie's value.
    pub id: String,
    /// The session.
    pub session: Session,
}

/// Why no session could be started.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The table is full of live logged-in sessions.
    #[error("too many open sessions")]
    Full,
    /// The system gave no randomness for the id.
    #[error("no randomness for a session id: {0}")]
    Random(#[from] openssl::error::ErrorStack),
}

/// The session table; cheap to clone (clones share it).
#[derive(Clone, Debug)]
pub struct Sessions {
    shared: Arc<Mutex<HashMap<[u8; 32], Entry>>>,
    idle: Duration,
    lifetime: Duration,
    max: usize,
}

#[derive(Debug)]
struct Entry {
    session: Session,
    /// The end of its idle time.
    expires: Instant,
    /// The end of its lifetime.
    ends: Instant,
    /// The address block that opened it, for an anonymous session.
    client: Option<IpAddr>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires > now && self.ends > now
    }
}

impl Sessions {
    /// An empty table whose sessions end after `idle` without a request or `lifetime`
    /// after they started; at most `max`.
    pub fn new(idle: Duration, lifetime: Duration, max: usize) -> Sessions {
        Sessions {
            shared: Arc::new(Mutex::new(HashMap::new())),
            idle,
            lifetime,
            max: max.max(1),
        }
    }

    /// Starts a session for `actor`, logged in with `credential`, and returns its id.
    pub fn start(
        &self,
        actor: Actor,
        credential: Credential,
        now: Instant,
    ) -> Result<Current, SessionError> {
        self.insert(Some((actor, credential)), None, now)
    }

    /// Starts an anonymous session for a browser at `peer` and returns its id; the
    /// client's least recently used one ends if it has too many.
    pub fn start_anonymous(&self, peer: IpAddr, now: Instant) -> Result<Current, SessionError> {
        self.insert(None, Some(client_block(peer)), now)
    }

    fn insert(
        &self,
        login: Option<(Actor, Credential)>,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Result<Current, SessionError> {
        let id = random_hex()?;
        let (actor, credential) = login.unzip();
        let session = Session {
            csrf: random_hex()?,
            actor,
            credential,
            notice: None,
        };
        let mut table = self.table();
        if let Some(client) = client {
            limit_client(&mut table, client, now);
        }
        if table.len() >= self.max {
            make_room(&mut table, self.max, now);
            if table.len() >= self.max {
                return Err(SessionError::Full);
            }
        }
        let entry = Entry {
            session: session.clone(),
            expires: now + self.idle,
            ends: now + self.lifetime,
            client,
        };
        table.insert(key(&id), entry);
        Ok(Current { id, session })
    }

    /// The live session of `id`, whose idle time starts again; its notice is handed
    /// out and cleared.
    pub fn touch(&self, id: &str, now: Instant) -> Option<Current> {
        let mut table = self.table();
        let key = key(id);
        let entry = table.get_mut(&key)?;
        if !entry.live(now) {
            table.remove(&key);
            return None;
        }
        entry.expires = now + self.idle;
        let session = entry.session.clone();
        entry.session.notice = None;
        Some(Current {
            id: id.to_string(),
            session,
        })
    }

    /// Leaves `notice` for the next page the session shows.
    pub fn notify(&self, id: &str, notice: String) {
        if let Some(entry) = self.table().get_mut(&key(id)) {
            entry.session.notice = Some(notice);
        }
    }

    /// Ends the session of `id` (logout, or a login replacing it).
    pub fn end(&self, id: &str) {
        self.table().remove(&key(id));
    }

    /// How many sessions the table holds.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn table(&self) -> MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        // Entries are replaced whole; a panic elsewhere cannot leave one half-written.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Drops the expired sessions and, if that is not enough, the least recently used
/// anonymous one.
fn make_room(table: &mut HashMap<[u8; 32], Entry>, max: usize, now: Instant) {
    table.retain(|_, entry| entry.live(now));
    if table.len() >= max {
        drop_least_recent(table, |entry| entry.session.actor.is_none());
    }
}

/// Ends the least recently used anonymous session of `client` while it has its most.
fn limit_client(table: &mut HashMap<[u8; 32], Entry>, client: IpAddr, now: Instant) {
    let own = |entry: &Entry| entry.session.actor.is_none() && entry.client == Some(client);
    table.retain(|_, entry| !own(entry) || entry.live(now));
    let held = table.values().filter(|entry| own(entry)).count();
    if held >= MAX_ANONYMOUS_PER_CLIENT {
        drop_least_recent(table, own);
    }
}

/// Drops the entry chosen by `which` whose idle time ends first.
fn drop_least_recent(table: &mut HashMap<[u8; 32], Entry>, which: impl Fn(&Entry) -> bool) {
    let oldest = table
        .iter()
        .filter(|(_, entry)| which(entry))
        .min_by_key(|(_, entry)| entry.expires)
        .map(|(key, _)| *key);
    if let Some(key) = oldest {
        table.remove(&key);
    }
}

fn key(id: &str) -> [u8; 32] {
    openssl::sha::sha256(id.as_bytes())
}

fn random_hex() -> Result<String, openssl::error::ErrorStack> {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The session id the request's `Cookie` headers carry, if any.
pub fn cookie_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value that gives the browser session `id`.
pub fn set_cookie(id: &str) -> String {
    format!("{COOKIE_NAME}={id}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// The `Set-Cookie` value that makes the browser forget its session.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whether `given` is the session's CSRF token, compared in constant time.
pub fn csrf_matches(session: &Session, given: &str) -> bool {
    let expected = session.csrf.as_bytes();
    given.len() == expected.len() && openssl::memcmp::eq(given.as_bytes(), expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const MINUTE: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);
    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn actor() -> Actor {
        Actor::gestore("admin")
    }

    fn credential() -> Credential {
        Credential::of("admin's password hash")
    }

    #[test]
    fn a_session_expires_after_its_idle_time_and_touching_extends_it() {
        let sessions = Sessions::new(MINUTE, HOUR, 10);
        let t0 = Instant::now();
        let current = sessions.start(actor(), credential(), t0).unwrap();
        assert_eq!(current.id.len(), 64);
        let t1 = t0 + Duration::from_secs(50);
        assert!(sessions.touch(&current.id, t1).is_some());
        assert!(
            sessions
                .touch(&current.id, t1 + Duration::from_secs(50))
                .is_some()
        );
        assert!(
            sessions
                .touch(&current.id, t1 + Duration::from_secs(200))
                .is_none()
        );
        assert!(sessions.is_empty(), "an expired session is dropped");
    }

    #[test]
    fn ids_and_tokens_are_random_and_ended_sessions_are_gone() {
        let sessions = Sessions::new(MINUTE, HOUR, 10);
        let now = Instant::now();
        let one = sessions.start_anonymous(PEER, now).unwrap();
        let two = sessions.start_anonymous(PEER, now).unwrap();
        assert_ne!(one.id, two.id);
        assert_ne!(one.session.csrf, two.session.csrf);
        sessions.end(&one.id);
        assert!(sessions.touch(&one.id, now).is_none());
        assert!(sessions.touch(&two.id, now).is_some());
    }

    #[test]
    fn a_session_ends_at_its_lifetime_however_busy() {
        let sessions = Sessions::new(MINUTE, HOUR, 10);
        let t0 = Instant::now();
        let current = sessions.start(actor(), credential(), t0).unwrap();
        let mut now = t0;
        while now + MINUTE / 2 < t0 + HOUR {
            now += MINUTE / 2;
            assert!(sessions.touch(&current.id, now).is_some());
        }
        assert!(sessions.touch(&current.id, t0 + HOUR).is_none());
        assert!(sessions.is_empty());
    }

    #[test]
    fn one_client_cannot_evict_other_clients_login_forms() {
        // The attack: a stranger opens the login page over and over to fill the table
        // and push out the forms real users have open.
        let sessions = Sessions::new(MINUTE, HOUR, 100);
        let now = Instant::now();
        let user = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));
        let form = sessions.start_anonymous(user, now).unwrap();
        let logged = sessions.start(actor(), credential(), now).unwrap();
        let stranger = "2001:db8:1:2::1".parse::<IpAddr>().unwrap();
        let mut last = Vec::new();
        for n in 0..10_000u32 {
            // Every address of the stranger's /64 counts as one client.
            let peer = match stranger {
                IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) + u128::from(n)).into()),
                IpAddr::V4(_) => stranger,
            };
            let later = now + Duration::from_millis(u64::from(n) + 1);
            last.push(sessions.start_anonymous(peer, later).unwrap().id);
        }
        assert_eq!(sessions.len(), 2 + MAX_ANONYMOUS_PER_CLIENT);
        assert!(
            sessions.touch(&form.id, now).is_some(),
            "the user's form is kept"
        );
        assert!(sessions.touch(&logged.id, now).is_some());
        // The stranger keeps only its most recent few.
        let kept = last
            .iter()
            .filter(|id| sessions.touch(id, now).is_some())
            .count();
        assert_eq!(kept, MAX_ANONYMOUS_PER_CLIENT);
        assert!(sessions.touch(last.last().unwrap(), now).is_some());
    }

    #[test]
    fn a_full_table_drops_the_least_recently_used_anonymous_session() {
        let sessions = Sessions::new(MINUTE, HOUR, 3);
        let now = Instant::now();
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
        let older = sessions.start_anonymous(PEER, now).unwrap();
        let newer = sessions.start_anonymous(other, now + MINUTE / 4).unwrap();
        let logged = sessions.start(actor(), credential(), now).unwrap();
        let fourth = sessions
            .start(actor(), credential(), now + MINUTE / 2)
            .unwrap();
        assert!(sessions.touch(&older.id, now).is_none());
        assert!(sessions.touch(&newer.id, now).is_some());
        assert!(sessions.touch(&logged.id, now).is_some());
        assert!(sessions.touch(&fourth.id, now).is_some());
    }

    #[test]
    fn a_full_table_drops_anonymous_sessions_before_refusing() {
        let sessions = Sessions::new(MINUTE, HOUR, 2);
        let now = Instant::now();
        let anonymous = sessions.start_anonymous(PEER, now).unwrap();
        let logged = sessions.start(actor(), credential(), now).unwrap();
        let third = sessions.start(actor(), credential(), now).unwrap();
        assert!(sessions.touch(&anonymous.id, now).is_none());
        assert!(sessions.touch(&logged.id, now).is_some());
        assert!(sessions.touch(&third.id, now).is_some());
        assert!(matches!(
            sessions.start_anonymous(PEER, now),
            Err(SessionError::Full)
        ));
    }

    #[test]
    fn a_notice_is_shown_once() {
        let sessions = Sessions::new(MINUTE, HOUR, 10);
        let now = Instant::now();
        let current = sessions.start(actor(), credential(), now).unwrap();
        sessions.notify(&current.id, "Fatto.".into());
        let first = sessions.touch(&current.id, now).unwrap();
        assert_eq!(first.session.notice.as_deref(), Some("Fatto."));
        let second = sessions.touch(&current.id, now).unwrap();
        assert_eq!(second.session.notice, None);
    }

    #[test]
    fn the_cookie_is_found_among_others_and_other_names_are_ignored() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; pecd=forged"));
        headers.append(
            COOKIE,
            HeaderValue::from_static("b=2; __Host-pecd=abc; c=3"),
        );
        assert_eq!(cookie_id(&headers), Some("abc"));
        assert_eq!(cookie_id(&HeaderMap::new()), None);
    }

    #[test]
    fn the_csrf_check_wants_the_exact_token() {
        let sessions = Sessions::new(MINUTE, HOUR, 10);
        let current = sessions.start_anonymous(PEER, Instant::now()).unwrap();
        let token = current.session.csrf.clone();
        assert!(csrf_matches(&current.session, &token));
        assert!(!csrf_matches(&current.session, &token[1..]));
        assert!(!csrf_matches(&current.session, ""));
        let mut wrong = token.clone();
        wrong.replace_range(0..1, if token.starts_with('0') { "1" } else { "0" });
        assert!(!csrf_matches(&current.session, &wrong));
    }
}

//! One-time password links: how a holder chooses a mailbox's password without anyone
//! ever sending one in clear. A request (activation, new password) is the mailbox's one
//! live request; each mail carrying it has a link of its own, a random token of which
//! only the SHA-256 is kept, so neither the store nor a copy of it can open a link.
//! Redeeming any link of a request uses the whole request: single use, whichever mail
//! it came from, and a newer request voids the older one's links.

use std::time::Duration;

use jiff::Timestamp;
use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::decode;
use crate::store::encode;
use crate::store::folders::get_decoded;
use crate::store::key::AddressKey;

/// Links by the hex SHA-256 of their token.
const LINKS: TableDefinition<&str, &[u8]> = TableDefinition::new("links");
/// Each mailbox's live request, by address.
const REQUESTS: TableDefinition<&str, &[u8]> = TableDefinition::new("link_requests");

/// What a link lets its holder do; both end with a password the holder chose.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkPurpose {
    /// The first password of a mailbox just activated.
    Activation,
    /// A new password, asked for by the holder or the operator.
    NewPassword,
}

/// A mailbox's live request for a one-time link.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct LinkRequest {
    /// Its id, unique in the store.
    pub id: u64,
    /// Why it was made.
    pub purpose: LinkPurpose,
    /// When it was made.
    pub created: Timestamp,
    /// From then on none of its links works.
    pub expires: Timestamp,
    /// When one of its links was redeemed.
    pub used: Option<Timestamp>,
}

/// One link, as its token's digest finds it.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Link {
    /// The mailbox whose password it sets.
    pub mailbox: String,
    /// The request it belongs to.
    pub request: u64,
    /// Why it was made.
    pub purpose: LinkPurpose,
    /// From then on it does not work.
    pub expires: Timestamp,
}

/// The SHA-256 of a link's token: all the store ever holds of it.
#[derive(Clone, Copy, Eq, PartialEq)]
pub struct LinkDigest([u8; 32]);

impl LinkDigest {
    /// The digest of a token's bytes.
    pub fn of(token: &[u8]) -> LinkDigest {
        LinkDigest(openssl::sha::sha256(token))
    }

    fn key(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for LinkDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A digest is not the token, but logs have no use for either.
        f.write_str("LinkDigest(..)")
    }
}

/// What a token is worth.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Redemption {
    /// It works (and, when redeemed, its request is now used).
    Valid(Link),
    /// No link has this token.
    Unknown,
    /// A newer request for the mailbox voided it.
    Superseded,
    /// A link of its request was redeemed already.
    Used,
    /// Its time is up.
    Expired,
}

/// Whether a request's mail may still carry a new link.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Issued {
    /// The link is recorded; the mail may go.
    Issued(Link),
    /// The request is no longer live (superseded, used or expired): its mail is moot.
    Stale,
}

/// The one-time links: `Links<&mut Tx>` makes and redeems them, `Links<&ReadTx>` reads a
/// snapshot.
pub struct Links<T>(pub(super) T);

impl Links<&mut Tx<'_>> {
    /// Makes `mailbox`'s live request, voiding the links of any earlier one.
    pub fn request(
        &mut self,
        mailbox: &str,
        purpose: LinkPurpose,
        now: Timestamp,
        validity: Duration,
    ) -> Result<LinkRequest, StoreError> {
        let request = LinkRequest {
            id: self.0.next("link_request")?,
            purpose,
            created: now,
            expires: now.checked_add(validity).unwrap_or(Timestamp::MAX),
            used: None,
        };
        let mailbox = AddressKey::new(mailbox);
        self.0
            .table(REQUESTS)?
            .insert(mailbox.as_str(), encode(&request)?.as_slice())?;
        Ok(request)
    }

    /// Voids `mailbox`'s live request, if any: none of its links works from now on.
    pub fn void(&mut self, mailbox: &str) -> Result<(), StoreError> {
        let mailbox = AddressKey::new(mailbox);
        self.0.table(REQUESTS)?.remove(mailbox.as_str())?;
        Ok(())
    }

    /// Records a link of request `request` for `mailbox` under `digest`, if the request
    /// is still live at `now`.
    pub fn issue(
        &mut self,
        digest: &LinkDigest,
        mailbox: &str,
        request: u64,
        now: Timestamp,
    ) -> Result<Issued, StoreError> {
        let mailbox = AddressKey::new(mailbox);
        let requests = self.0.table(REQUESTS)?;
        let live = get_decoded::<&str, LinkRequest>(&requests, mailbox.as_str())?
            .filter(|r| r.id == request && r.used.is_none() && now < r.expires);
        drop(requests);
        let Some(live) = live else {
            return Ok(Issued::Stale);
        };
        let link = Link {
            mailbox: mailbox.to_string(),
            request,
            purpose: live.purpose,
            expires: live.expires,
        };
        self.0
            .table(LINKS)?
            .insert(digest.key().as_str(), encode(&link)?.as_slice())?;
        Ok(Issued::Issued(link))
    }

    /// Redeems the link `digest` names: when it is valid at `now`, its request is used
    /// from now on, so neither it nor any other link of the request works again.
    pub fn redeem(
        &mut self,
        digest: &LinkDigest,
        now: Timestamp,
    ) -> Result<Redemption, StoreError> {
        let links = self.0.table(LINKS)?;
        let link = get_decoded::<&str, Link>(&links, digest.key().as_str())?;
        drop(links);
        let mut requests = self.0.table(REQUESTS)?;
        let request = match &link {
            Some(link) => get_decoded::<&str, LinkRequest>(&requests, link.mailbox.as_str())?,
            None => None,
        };
        let verdict = verdict(link, request.as_ref(), now);
        if let (Redemption::Valid(link), Some(mut request)) = (&verdict, request) {
            request.used = Some(now);
            requests.insert(link.mailbox.as_str(), encode(&request)?.as_slice())?;
        }
        Ok(verdict)
    }

    /// Forgets the links and requests whose time was up at `now`; returns how many
    /// records went.
    pub fn purge(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let mut removed = 0;
        let mut links = self.0.table(LINKS)?;
        removed +=
            links.remove_where(|_, bytes| decode::<Link>(bytes).is_ok_and(|l| l.expires <= now))?;
        drop(links);
        let mut requests = self.0.table(REQUESTS)?;
        removed += requests.remove_where(|_, bytes| {
            decode::<LinkRequest>(bytes).is_ok_and(|r| r.expires <= now)
        })?;
        Ok(removed)
    }
}

impl Links<&ReadTx<'_>> {
    /// What the link `digest` names is worth at `now`, changing nothing.
    pub fn check(&self, digest: &LinkDigest, now: Timestamp) -> Result<Redemption, StoreError> {
        let link = get_decoded::<&str, Link>(&self.0.table(LINKS)?, digest.key().as_str())?;
        let request = match &link {
            Some(link) => {
                get_decoded::<&str, LinkRequest>(&self.0.table(REQUESTS)?, link.mailbox.as_str())?
            }
            None => None,
        };
        Ok(verdict(link, request.as_ref(), now))
    }

    /// `mailbox`'s live request, if any.
    pub fn request(&self, mailbox: &str) -> Result<Option<LinkRequest>, StoreError> {
        get_decoded(&self.0.table(REQUESTS)?, AddressKey::new(mailbox).as_str())
    }

    /// How many links are recorded (live or not yet purged).
    pub fn count(&self) -> Result<u64, StoreError> {
        self.0.table(LINKS)?.len()
    }
}

/// What `link` is worth at `now`, given its mailbox's live `request`.
fn verdict(link: Option<Link>, request: Option<&LinkRequest>, now: Timestamp) -> Redemption {
    let Some(link) = link else {
        return Redemption::Unknown;
    };
    match request {
        Some(request) if request.id == link.request => {
            if request.used.is_some() {
                Redemption::Used
            } else if now >= link.expires {
                Redemption::Expired
            } else {
                Redemption::Valid(link)
            }
        }
        // The request was purged after its expiry, which the link shares.
        None if now >= link.expires => Redemption::Expired,
        _ => Redemption::Superseded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn issue(store: &Store, token: &[u8], mailbox: &str, request: u64, now: Timestamp) -> Issued {
        let digest = LinkDigest::of(token);
        store
            .write(|tx| tx.links().issue(&digest, mailbox, request, now))
            .unwrap()
    }

    fn redeem(store: &Store, token: &[u8], now: Timestamp) -> Redemption {
        let digest = LinkDigest::of(token);
        store.write(|tx| tx.links().redeem(&digest, now)).unwrap()
    }

    fn request(store: &Store, mailbox: &str, now: Timestamp) -> LinkRequest {
        store
            .write(|tx| {
                tx.links()
                    .request(mailbox, LinkPurpose::Activation, now, 3 * DAY)
            })
            .unwrap()
    }

    #[test]
    fn a_link_works_once_for_its_whole_request() {
        let (_dir, store) = store();
        let req = request(&store, "Mario@pec-a.test", at(0));
        assert!(matches!(
            issue(&store, b"holder", "mario@pec-a.test", req.id, at(1)),
            Issued::Issued(_)
        ));
        assert!(matches!(
            issue(&store, b"operator", "mario@pec-a.test", req.id, at(2)),
            Issued::Issued(_)
        ));
        let Redemption::Valid(link) = redeem(&store, b"holder", at(10)) else {
            panic!("the fresh link does not work");
        };
        assert_eq!(link.mailbox, "mario@pec-a.test");
        assert_eq!(redeem(&store, b"holder", at(11)), Redemption::Used);
        assert_eq!(redeem(&store, b"operator", at(11)), Redemption::Used);
        assert_eq!(
            issue(&store, b"late", "mario@pec-a.test", req.id, at(12)),
            Issued::Stale
        );
    }

    #[test]
    fn a_link_expires_with_its_request() {
        let (_dir, store) = store();
        let req = request(&store, "mario@pec-a.test", at(0));
        issue(&store, b"token", "mario@pec-a.test", req.id, at(1));
        let after = at(3 * 24 * 3600);
        let digest = LinkDigest::of(b"token");
        let checked = store.read(|tx| tx.links().check(&digest, after)).unwrap();
        assert_eq!(checked, Redemption::Expired);
        assert_eq!(redeem(&store, b"token", after), Redemption::Expired);
        assert_eq!(
            issue(&store, b"other", "mario@pec-a.test", req.id, after),
            Issued::Stale
        );
        // Expired links are forgotten, and still do not work.
        let purged = store.write(|tx| tx.links().purge(after)).unwrap();
        assert_eq!(purged, 2);
        assert_eq!(redeem(&store, b"token", after), Redemption::Unknown);
    }

    #[test]
    fn a_newer_request_voids_the_older_links() {
        let (_dir, store) = store();
        let first = request(&store, "mario@pec-a.test", at(0));
        issue(&store, b"first", "mario@pec-a.test", first.id, at(1));
        let second = request(&store, "mario@pec-a.test", at(2));
        issue(&store, b"second", "mario@pec-a.test", second.id, at(3));
        assert_eq!(redeem(&store, b"first", at(4)), Redemption::Superseded);
        assert!(matches!(
            redeem(&store, b"second", at(4)),
            Redemption::Valid(_)
        ));
    }

    #[test]
    fn an_unknown_token_changes_nothing() {
        let (_dir, store) = store();
        assert_eq!(redeem(&store, b"never issued", at(0)), Redemption::Unknown);
        let digest = LinkDigest::of(b"never issued");
        let checked = store.read(|tx| tx.links().check(&digest, at(0))).unwrap();
        assert_eq!(checked, Redemption::Unknown);
        assert_eq!(store.read(|tx| tx.links().count()).unwrap(), 0);
    }
}

//! Limits on the folders a logged-in user makes: LIST's work grows with their number
//! and the length of their names, and the store with both.

use imap_codec::imap_types::core::Tag;

use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Fault;
use crate::imap::session::names::DELIMITER;
use crate::imap::session::other_code;
use crate::store::Store;

/// The longest folder name a user may create, in characters.
pub const MAX_FOLDER_NAME_CHARS: usize = 255;

/// The most folders one mailbox may hold: a logged-in user must not be able to make
/// LIST (whose work grows with the folder count) or the store unboundedly large.
pub const MAX_FOLDERS: usize = 1000;

/// A `NO [LIMIT]` when a folder called `name` would break a limit above.
pub(super) fn beyond_folder_limits(
    store: &Store,
    user: &str,
    name: &str,
    tag: &Tag<'_>,
) -> Result<Option<Out>, Fault> {
    if name.chars().count() > MAX_FOLDER_NAME_CHARS {
        return Ok(Some(reply::no(
            tag,
            Some(other_code("LIMIT")),
            "folder name too long",
        )));
    }
    let held = store.read(|tx| tx.folders().list(user))?.len();
    // Each level of the name may become a folder of its own.
    let levels = name.matches(DELIMITER).count() + 1;
    if held + levels > MAX_FOLDERS {
        return Ok(Some(reply::no(
            tag,
            Some(other_code("LIMIT")),
            "too many folders",
        )));
    }
    Ok(None)
}

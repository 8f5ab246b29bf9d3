//! Mailbox and operator passwords: argon2id hashes, checked in constant time with
//! working memory kept per thread.

use argon2::Argon2;
use argon2::PasswordHasher;

use crate::store::StoreError;

/// The room taken for argon2's working memory: more than glibc's largest dynamic mmap
/// threshold (32 MiB on 64-bit), so malloc always maps it apart and unmaps it when it
/// is freed, without raising the threshold (which would keep every mid-size allocation
/// of the process in its arenas, docs/performance.md). Only the blocks a check uses are
/// ever touched.
const ARGON2_ROOM_BLOCKS: usize = 33 * 1024;

thread_local! {
    /// argon2's working memory, kept by a password checker thread between checks and
    /// given back by [`release_argon2_memory`] once checks stop coming: taking it anew
    /// for every check costs the page faults of 19 MiB each time.
    static ARGON2_BLOCKS: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Gives this thread's argon2 working memory back to the system (the password
/// checkers call it when they have been idle for a moment).
pub fn release_argon2_memory() {
    ARGON2_BLOCKS.with(|memory| *memory.borrow_mut() = Vec::new());
}

/// Checks a password against a PHC string, with this thread's kept working memory;
/// the comparison is constant-time.
pub(crate) fn verify_argon2(password: &str, hash: &str) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        argon2::Params::try_from(&parsed),
        argon2::Algorithm::try_from(parsed.algorithm.as_str()),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| argon2::Version::try_from(v).ok())
        .unwrap_or_default();
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.as_bytes().len()];
    let hashed = ARGON2_BLOCKS.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            let mut room = Vec::with_capacity(blocks.max(ARGON2_ROOM_BLOCKS));
            room.resize(blocks, argon2::Block::default());
            *memory = room;
        }
        argon2.hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            &mut memory[..blocks],
        )
    });
    hashed.is_ok() && openssl::memcmp::eq(&out, expected.as_bytes())
}

#[cfg(test)]
pub(crate) const DUMMY_HASH_FOR_TESTS: &str = DUMMY_HASH;

/// An argon2id hash of a throwaway password, verified for unknown users.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$Zd6ZGm6mYnMeAnc1JGT1ZcgfWn9X8rMGeY2AS6cwHaE";

pub(crate) fn hash_password(password: &str) -> Result<String, StoreError> {
    let mut salt = [0u8; 16];
    openssl::rand::rand_bytes(&mut salt).map_err(|_| StoreError::Password)?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| StoreError::Password)
}

/// What a successful login holds: a fingerprint of the password hash the password was
/// checked against. A session keeps it and asks, before it acts again, whether it still
/// stands: a new password (every hash has its own salt), a revocation at subentro, a
/// suspension or a deletion each end it.
#[derive(Clone, Eq, PartialEq)]
pub struct Credential([u8; 32]);

impl Credential {
    /// The credential of a password hash.
    pub(crate) fn of(password_hash: &str) -> Credential {
        Credential(openssl::sha::sha256(password_hash.as_bytes()))
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(..)")
    }
}

//! Mailbox and operator passwords: argon2id hashes, checked in constant time with
//! working memory kept per thread.

use argon2::Argon2;
use argon2::PasswordHasher;

use crate::store::StoreError;

thread_local! {
    /// argon2's working memory, kept per thread. Allocating and freeing it on every
    /// check makes glibc raise its mmap threshold, after which every mid-size
    /// allocation of the process stays in malloc's arenas (docs/performance.md). Kept,
    /// it is allocated once.
    static ARGON2_BLOCKS: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
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
            memory.resize(blocks, argon2::Block::default());
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

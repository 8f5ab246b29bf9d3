//! The store `imap_session` runs every input against: prepared once per thread, in
//! memory, put back after each input that wrote.

/// A store with one mailbox and the savepoint every input starts from.
pub(super) struct Prepared {
    pub(super) store: crate::store::Store,
    savepoint: crate::store::Savepoint,
    /// What every fuzzed login holds: the mailbox's own, so it stands.
    pub(super) credential: crate::store::mailbox::Credential,
}

impl Prepared {
    fn new() -> Option<Prepared> {
        let dir = std::env::temp_dir().join(format!("{}{}", Self::DIR, std::process::id()));
        Prepared::remove_orphans();
        let store = crate::store::Store::in_memory(&dir).ok()?;
        let settings = crate::store::mailbox::NewMailbox::default();
        store
            .write(|tx| {
                tx.mailboxes()
                    .create(FUZZ_USER, "fuzz", &settings, jiff::Timestamp::UNIX_EPOCH)
            })
            .ok()?;
        let credential = store
            .read(|tx| tx.mailboxes().login(FUZZ_USER, "fuzz"))
            .ok()??;
        let savepoint = store.savepoint().ok()?;
        Some(Prepared {
            store,
            savepoint,
            credential,
        })
    }

    /// The temp dir's prefix of each process's folder of bodies, followed by its PID.
    const DIR: &str = "pecd-fuzz-imap-";

    /// Removes the folders of bodies of fuzzing processes no longer running: libFuzzer
    /// ends a process without running destructors, so each leaves its folder behind.
    fn remove_orphans() {
        // Without /proc no process can be told gone.
        let proc = std::path::Path::new("/proc");
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        if !proc.join("self").exists() {
            return;
        }
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|name| name.strip_prefix(Self::DIR));
            if let Some(pid) = pid.filter(|pid| pid.parse::<u32>().is_ok())
                && !proc.join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Undoes what the last input wrote.
    pub(super) fn start_over(&mut self) {
        // A store that cannot go back would carry this input's state into the next.
        let restored = self.store.restore(&self.savepoint);
        assert!(restored.is_ok(), "restoring the savepoint: {restored:?}");
        // A savepoint keeps every page freed after it: a new one, taken of the same
        // state, lets the old one's go, so the store stays the size it was prepared at.
        let renewed = self.store.savepoint();
        assert!(
            renewed.is_ok(),
            "renewing the savepoint: {:?}",
            renewed.as_ref().err()
        );
        if let Ok(renewed) = renewed {
            self.savepoint = renewed;
        }
    }
}

/// The mailbox every fuzzed login opens.
pub(super) const FUZZ_USER: &str = "fuzz@pec.test";

/// The APPEND limit of fuzzed sessions.
pub(super) const FUZZ_MAX_APPEND: u32 = 1 << 20;

thread_local! {
    /// The store, prepared once per thread (the password hash is slow), in memory: what
    /// one input writes is undone before the next, so no input sees another's state and
    /// the store never grows. Bodies too large to inline go to files under the temp dir,
    /// named by their content.
    pub(super) static PREPARED: std::cell::RefCell<Option<Prepared>> =
        std::cell::RefCell::new(Prepared::new());
}

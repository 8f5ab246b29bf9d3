//! `pecd log query` and `pecd log verify`: the event log (registro) read from the
//! store, while the daemon runs or not.

use std::path::Path;

use crate::store::log::LogQuery;

/// `log query`.
pub fn query(config_path: &Path, query: &LogQuery, json: bool) -> anyhow::Result<()> {
    let (_, store) = super::mailbox::open(config_path)?;
    let records = store.read(|tx| tx.query(query))?;
    for record in records {
        if json {
            println!("{}", serde_json::to_string(&record)?);
        } else {
            let e = &record.event;
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                record.seq,
                e.time,
                e.kind.as_str(),
                e.pec_id.as_deref().unwrap_or("-"),
                e.sender.as_deref().unwrap_or("-"),
                e.subject.as_deref().unwrap_or("-")
            );
        }
    }
    Ok(())
}

/// `log verify`: exit 1 with the first broken record.
pub fn verify(config_path: &Path) -> anyhow::Result<bool> {
    let (_, store) = super::mailbox::open(config_path)?;
    match store.read(|tx| tx.verify_chain())? {
        Ok(count) => {
            println!("log chain intact: {count} records");
            Ok(true)
        }
        Err(broken) => {
            println!("{broken}");
            Ok(false)
        }
    }
}

//! `pecd log query` and `pecd log verify`: the event log (registro) read from the
//! store (by the daemon on the operator's behalf while it runs, [`super::store`]).

use super::console::Console;
use crate::store::Store;
use crate::store::log::LogQuery;

/// `log query`.
pub fn query(
    store: &Store,
    console: &mut Console<'_>,
    query: &LogQuery,
    json: bool,
) -> anyhow::Result<()> {
    let records = store.read(|tx| tx.events().query(query))?;
    for record in records {
        if json {
            writeln!(console.out, "{}", serde_json::to_string(&record)?)?;
        } else {
            let e = &record.event;
            writeln!(
                console.out,
                "{}\t{}\t{}\t{}\t{}\t{}",
                record.seq,
                e.time,
                e.kind.as_str(),
                e.pec_id.as_deref().unwrap_or("-"),
                e.sender.as_deref().unwrap_or("-"),
                e.subject.as_deref().unwrap_or("-")
            )?;
        }
    }
    Ok(())
}

/// `log verify`: false (exit 1) with the first broken record.
pub fn verify(store: &Store, console: &mut Console<'_>) -> anyhow::Result<bool> {
    match store.read(|tx| tx.events().verify_chain())? {
        Ok(count) => {
            writeln!(console.out, "log chain intact: {count} records")?;
            Ok(true)
        }
        Err(broken) => {
            writeln!(console.out, "{broken}")?;
            Ok(false)
        }
    }
}

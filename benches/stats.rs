//! The AgID P01 statistic over a long registro (a benchmark, not a timed test): logs
//! N events spread over 30 months (the retention), then makes P01 of one quadrimestre,
//! against a baseline measured in the same run on the same store: reading and decoding
//! every record of the log (`pecd log query` with no filter), which is what counting
//! by a full scan costs.
//!
//! Run with `cargo bench --bench stats` (`PECD_BENCH_EVENTS`, default 300000;
//! `PECD_BENCH_DIR` for the scratch folder, default the system temp dir).

use std::time::Instant;

use jiff::SignedDuration;
use jiff::Timestamp;
use pecd::config::Config;
use pecd::stats::p01;
use pecd::store::Store;
use pecd::store::log::Event;
use pecd::store::log::EventKind;
use pecd::store::log::LogQuery;

fn main() -> anyhow::Result<()> {
    let count: u64 = std::env::var("PECD_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let base = std::env::var("PECD_BENCH_DIR").map_or_else(|_| std::env::temp_dir(), Into::into);
    let dir = base.join(format!("pecd-bench-stats-{}", std::process::id()));
    let result = run(&dir, count);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(dir: &std::path::Path, count: u64) -> anyhow::Result<()> {
    let config = Config::parse(
        &format!(
            "[provider]\ndomain = \"pec-bench.test\"\nname = \"Bench\"\ndata_dir = {:?}\ncodice = \"TIN-97735020584\"\n",
            dir.join("data")
        ),
        dir,
    )?;
    let store = Store::open(&config.provider.data_dir)?;
    // 30 months back from the end of Q2 2026, evenly.
    let end: Timestamp = "2026-08-31T00:00:00Z".parse()?;
    let span = SignedDuration::from_hours(24 * 913);
    let step = span / i32::try_from(count.max(1))?;
    let kinds = [
        EventKind::Accepted,
        EventKind::TakenInCharge,
        EventKind::Delivered,
        EventKind::ReceiptReceived,
    ];
    let started = Instant::now();
    for batch in 0..count.div_ceil(10_000) {
        store.write(|tx| {
            for n in batch * 10_000..((batch + 1) * 10_000).min(count) {
                let time = end - span + step * i32::try_from(n).unwrap_or(i32::MAX);
                let mut event = Event::new(kinds[(n % 4) as usize], time);
                event.sender = Some(format!("utente{}@pec-altro.test", n % 1000));
                event.pec_id = Some(format!("opec{n}@pec-bench.test"));
                event.subject = Some("Oggetto del messaggio di prova".into());
                tx.events().log(event)?;
            }
            Ok(())
        })?;
    }
    println!("logged {count} events in {:.1?}", started.elapsed());

    let started = Instant::now();
    let all = store.read(|tx| tx.events().query(&LogQuery::default()))?;
    let baseline = started.elapsed();
    let started = Instant::now();
    let record = p01::make(&config, &store, 2026, 2)?;
    let p01_time = started.elapsed();
    println!(
        "full scan (baseline): {} records in {baseline:.1?}\n\
         P01 of Q2 2026: MsgUscita {} MsgIngresso {} in {p01_time:.1?}\n\
         ratio P01 / full scan: {:.3}",
        all.len(),
        record.outgoing,
        record.incoming,
        p01_time.as_secs_f64() / baseline.as_secs_f64()
    );
    Ok(())
}

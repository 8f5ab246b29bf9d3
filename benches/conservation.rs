//! Conservation ingest throughput (a benchmark, not a timed test): queue N
//! messages of realistic PEC sizes, package them all (`Gateway::drain`), and compare with
//! a baseline measured in the same run on the same disk: the SHA-256 of the same bytes
//! plus as many fsyncs as the ingest made (one per file and folder written, one per
//! package publication, two store commits per package). Then search latency over the
//! conserved messages.
//!
//! Run with `cargo bench --bench conservation` (`PECD_BENCH_MESSAGES`, default 10000;
//! `PECD_BENCH_DIR` for the scratch folder, default the system temp dir).

use std::io::Write;
use std::path::Path;
use std::time::Duration;
use std::time::Instant;

use jiff::Timestamp;
use pecd::conservation::queue;
use pecd::conservation::search;
use pecd::conservation::worker::Gateway;
use pecd::conservation::worker::Settings;
use pecd::crypto::certs;
use pecd::crypto::identity::Signer;
use pecd::store::Store;
use pecd::store::mailbox::NewMailbox;

const MAILBOX: &str = "bench@pec-bench.test";

fn main() -> anyhow::Result<()> {
    let count: usize = std::env::var("PECD_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let base = std::env::var("PECD_BENCH_DIR").map_or_else(|_| std::env::temp_dir(), Into::into);
    let dir = base.join(format!("pecd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir, count);
    let _ = make_writable(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Sizes seen in PEC traffic: receipts of a few KiB, envelopes of tens of KiB, some
/// with large attachments.
fn size_of(n: usize) -> usize {
    match n % 20 {
        0 => 400 * 1024,
        1..=7 => 40 * 1024,
        _ => 6 * 1024,
    }
}

fn message(n: usize) -> Vec<u8> {
    let header = format!(
        "From: mittente{n}@pec-other.test\r\nTo: {MAILBOX}\r\nSubject: Pratica {n} fattura decreto\r\n\
         Message-ID: <bench-{n}@pec-other.test>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n\r\n"
    );
    let line = format!("Riga {n} del messaggio conservato, con testo ricercabile.\r\n");
    let mut raw = header.into_bytes();
    while raw.len() < size_of(n) {
        raw.extend_from_slice(line.as_bytes());
    }
    raw
}

fn run(dir: &Path, count: usize) -> anyhow::Result<()> {
    let ca = certs::dev_ca("Bench", 2048)?;
    let leaf = certs::signing_certificate(&ca, "pec-bench.test", "Gestore Bench", 2048)?;
    std::fs::write(dir.join("ca.pem"), ca.certificate_pem()?)?;
    std::fs::write(dir.join("ca.key"), ca.key_pem()?)?;
    let bench_signer = Signer::new(leaf.certificate.clone(), leaf.key.clone(), Vec::new())?;
    let signer = Signer::new(leaf.certificate, leaf.key, Vec::new())?;
    let data = dir.join("data");
    let store = Store::open(&data)?;
    store.write(|tx| {
        tx.mailboxes()
            .create(MAILBOX, "x", &NewMailbox::default(), Timestamp::now())
            .map(|_| ())
    })?;
    let messages: Vec<Vec<u8>> = (0..count).map(message).collect();
    let total: usize = messages.iter().map(Vec::len).sum();
    for raw in &messages {
        let blob = store.blobs().put(raw)?;
        store.write(|tx| {
            queue::enqueue_manual(tx, MAILBOX, &blob, raw.len() as u64, None, Timestamp::now())
                .map(|_| ())
        })?;
    }
    let settings = Settings {
        provider_name: "Gestore Bench".into(),
        domain: "pec-bench.test".into(),
        tsa_url: None,
        tsa_certificate: None,
        ca: Some((dir.join("ca.pem"), dir.join("ca.key"))),
        allowed_formats: vec!["message/rfc822".into()],
        batch_max: 500,
        batch_max_bytes: 256 << 20,
        batch_wait: Duration::ZERO,
        poll: Duration::from_secs(1),
        audit_interval: Duration::from_secs(86_400),
        tiers: [("small".to_string(), u64::MAX)].into(),
        default_tier: "small".into(),
        retention: pecd::conservation::retention::Classes {
            default_years: 10,
            by_kind: Default::default(),
        },
    };
    let gateway = Gateway::open(store, &data, signer.clone(), signer, settings)?;

    let started = Instant::now();
    let drained = gateway.drain(None, Timestamp::now(), true)?;
    let ingest = started.elapsed();
    assert_eq!(drained.conserved, count, "every message conserved");

    let (files, folders) = count_entries(gateway.packages_dir())?;
    let fsyncs = files + folders + drained.packages.len() * 3;
    let started = Instant::now();
    baseline(&dir.join("baseline"), &messages, fsyncs)?;
    let base = started.elapsed();

    let mb = total as f64 / 1e6;
    let rate = |d: Duration| (mb / d.as_secs_f64(), count as f64 / d.as_secs_f64());
    let (ingest_mb, ingest_msgs) = rate(ingest);
    let (base_mb, base_msgs) = rate(base);
    println!(
        "{count} messages, {mb:.1} MB, {} packages, {fsyncs} fsyncs",
        drained.packages.len()
    );
    println!(
        "ingest:   {:>8.2} s  {ingest_mb:>8.1} MB/s  {ingest_msgs:>8.1} msg/s",
        ingest.as_secs_f64()
    );
    println!(
        "baseline: {:>8.2} s  {base_mb:>8.1} MB/s  {base_msgs:>8.1} msg/s  (sha256 + same fsyncs)",
        base.as_secs_f64()
    );
    println!(
        "ratio:    {:.0} % of the baseline (target ≥ 50 %)",
        100.0 * base.as_secs_f64() / ingest.as_secs_f64()
    );

    // Where the ingest time goes: the per-message CPU steps alone.
    let started = Instant::now();
    for raw in &messages {
        std::hint::black_box(pecd::conservation::sip::check(
            "pdv-x",
            MAILBOX,
            raw,
            Timestamp::now(),
            &["message/rfc822".to_string()],
            None,
            None,
        ));
    }
    let check = started.elapsed();
    let started = Instant::now();
    for raw in messages.iter().take(1000) {
        std::hint::black_box(pecd::conservation::seal::sign(&bench_signer, &raw[..64])?);
    }
    let sign = started.elapsed() * (count.max(1) as u32) / (count.clamp(1, 1000) as u32);
    println!(
        "of which: SIP checks {:.2} s, one CAdES signature per rapporto {:.2} s",
        check.as_secs_f64(),
        sign.as_secs_f64()
    );

    let started = Instant::now();
    gateway.sync_index()?;
    let sync = started.elapsed();
    let words = [
        "pratica",
        "fattura",
        "decreto",
        "conservato",
        "mittente17",
        "riga",
    ];
    let mut latencies = Vec::new();
    let mut selective = Vec::new();
    for n in 0..100 {
        let text = format!(
            "{} {}",
            words[n % words.len()],
            if n % 2 == 0 { "ricercabile" } else { "" }
        );
        let query = search::Query::parse(&text, |_| Err("no dates")).map_err(anyhow::Error::msg)?;
        let started = Instant::now();
        let hits = gateway.search(MAILBOX, &query)?;
        let took = started.elapsed();
        latencies.push(took);
        if hits.len() <= 10 {
            selective.push(took);
        }
        std::hint::black_box(hits);
    }
    latencies.sort();
    selective.sort();
    println!(
        "search over {count} messages: p50 {:.2} ms, p99 {:.2} ms (tantivy index; most queries \
         match every message; index up-to-date check {:.1} ms)",
        latencies[49].as_secs_f64() * 1e3,
        latencies[98].as_secs_f64() * 1e3,
        sync.as_secs_f64() * 1e3
    );
    if let Some(median) = selective.get(selective.len() / 2) {
        println!(
            "  of which {} queries with at most 10 hits: p50 {:.2} ms",
            selective.len(),
            median.as_secs_f64() * 1e3
        );
    }

    // What the index costs at ingest, about: a full rebuild from the packages (which
    // also reads every message file back).
    let records = gateway.packages()?;
    let started = Instant::now();
    let rebuilt = search::SearchIndex::open(&dir.join("index-rebuild"))?
        .sync(&records, gateway.packages_dir())?;
    println!(
        "index rebuild from the packages: {rebuilt} packages, {count} messages in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// SHA-256 of every message and `fsyncs` fsyncs: each message written to its own file
/// and synced, the rest on a small file.
fn baseline(dir: &Path, messages: &[Vec<u8>], fsyncs: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (n, raw) in messages.iter().enumerate() {
        std::hint::black_box(openssl::sha::sha256(raw));
        let mut file = std::fs::File::create(dir.join(format!("m{n}")))?;
        file.write_all(raw)?;
        file.sync_all()?;
    }
    let mut small = std::fs::File::create(dir.join("small"))?;
    for _ in messages.len()..fsyncs {
        small.write_all(b"x")?;
        small.sync_all()?;
    }
    Ok(())
}

fn count_entries(root: &Path) -> std::io::Result<(usize, usize)> {
    let (mut files, mut folders) = (0, 0);
    for entry in std::fs::read_dir(root)?.flatten() {
        if entry.file_type()?.is_dir() {
            let (f, d) = count_entries(&entry.path())?;
            files += f;
            folders += d + 1;
        } else {
            files += 1;
        }
    }
    Ok((files, folders))
}

fn make_writable(root: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(root)?.flatten() {
        if entry.file_type()?.is_dir() {
            make_writable(&entry.path())?;
        }
    }
    let mut permissions = std::fs::metadata(root)?.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(root, permissions)
}

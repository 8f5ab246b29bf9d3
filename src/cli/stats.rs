//! `pecd stats p01|p02|c01` (the AgID statistics as CSV on stdout, [`crate::stats`])
//! and `pecd outage add|list` (the outages P02 and C01 report). Both run on the store,
//! here or in the daemon ([`super::store`]).

use anyhow::Context;
use anyhow::bail;

use super::args::OutageCommand;
use super::args::StatsCommand;
use super::console::Console;
use crate::config::Config;
use crate::stats;
use crate::stats::p02::all_outages;
use crate::store::Store;
use crate::store::log::LogQuery;
use crate::store::outages::OutageType;

/// `stats …`: the record(s) as CSV.
pub fn stats(
    command: &StatsCommand,
    config: &Config,
    store: &Store,
    console: &mut Console<'_>,
) -> anyhow::Result<u8> {
    match command {
        StatsCommand::P01 {
            year, quadrimestre, ..
        } => {
            let record = stats::p01::make(config, store, *year, *quadrimestre)?;
            stats::write_csv(console.out, &[record])?;
        }
        StatsCommand::P02 {
            year, quadrimestre, ..
        } => {
            let records = stats::p02::make(config, store, *year, *quadrimestre)?;
            stats::write_csv(console.out, &records)?;
        }
        StatsCommand::C01 { year, semestre, .. } => {
            let record = stats::c01::make(config, store, *year, *semestre)?;
            stats::write_csv(console.out, &[record])?;
        }
    }
    Ok(0)
}

/// `outage add` and `outage list`.
pub fn outage(
    command: &OutageCommand,
    store: &Store,
    console: &mut Console<'_>,
) -> anyhow::Result<u8> {
    match command {
        OutageCommand::Add {
            start, end, kind, ..
        } => {
            let time = |text: &str, name: &str| {
                LogQuery::parse_time(text)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("--{name}"))
            };
            let (start, end) = (time(start, "start")?, time(end, "end")?);
            let Some(kind) = OutageType::parse(kind) else {
                bail!("--type {kind:?} is not 01 (planned), 02 (incident) or 03 (malfunction)");
            };
            if start >= end {
                bail!("--start {start} is not before --end {end}");
            }
            let now = jiff::Timestamp::now();
            let id = store.write(|tx| tx.outages().record(start, end, kind, now))?;
            writeln!(
                console.out,
                "outage {id} recorded: {start} to {end}, type {}",
                kind.code()
            )?;
        }
        OutageCommand::List { .. } => {
            for outage in all_outages(store)? {
                writeln!(
                    console.out,
                    "{}\t{}\t{}\t{}\t{}",
                    outage.start,
                    outage.end,
                    outage.kind.code(),
                    outage.minutes(),
                    if outage.detected {
                        "detected"
                    } else {
                        "recorded"
                    }
                )?;
            }
        }
    }
    Ok(0)
}

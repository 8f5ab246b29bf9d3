//! The AgID statistics of a run whose counts are known: two live providers exchange
//! certified mail (and a stranger sends an anomaly), the daemon is stopped, crashed and
//! restarted, outages are recorded, and `pecd stats p01|p02|c01` must print exactly the
//! records those facts make, through the running daemon and with it stopped.

use std::path::Path;
use std::process::Command;

use jiff::Timestamp;
use pecd::pec::kind::Kind;
use pecd::pec::kind::ReceiptKind;
use pecd::stats::Period;

use crate::attacks::mx_send;
use crate::conservation::FAST;
use crate::conservation::packages;
use crate::daemon;
use crate::daemon::Daemon;

const CODE_A: &str = "TIN-97735020584";
const CODE_B: &str = "VAT-01234567890";

fn pecd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pecd"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `pecd ARGS --config DIR/pecd.toml`, which must succeed; its stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let config = dir.join("pecd.toml");
    let mut all = args.to_vec();
    all.extend(["--config", config.to_str().unwrap()]);
    let out = pecd(&all);
    assert!(
        out.status.success(),
        "pecd {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Sets `[provider] codice` in the provider at `dir`, once.
pub fn set_code(dir: &Path, code: &str) {
    let path = dir.join("pecd.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    if config.contains("\ncodice = ") {
        return;
    }
    let config = config.replacen(
        "data_dir = \"data\"\n",
        &format!("data_dir = \"data\"\ncodice = \"{code}\"\n"),
        1,
    );
    std::fs::write(path, config).unwrap();
}

fn message(from: &str, to: &[&str], subject: &str) -> String {
    format!(
        "From: {from}\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{}@client.test>\r\n\
         Date: Mon, 07 Dec 2026 10:00:00 +0100\r\n\r\nTesto.\r\n",
        to.join(", "),
        subject.replace(' ', "-")
    )
}

fn send(daemon: &Daemon, from: &str, to: &[&str], subject: &str) -> String {
    daemon::smtplib_send(daemon, from, to, &message(from, to, subject))
}

/// The quadrimestre, the semestre and the year of now.
fn periods() -> (Period, Period) {
    let now = Timestamp::now();
    let year = now
        .to_zoned(jiff::tz::TimeZone::get("Europe/Rome").unwrap())
        .year();
    let quadrimestre = (1..=3)
        .map(|q| Period::quadrimestre(year, q).unwrap())
        .find(|p| p.contains(now))
        .unwrap();
    let semestre = (1..=2)
        .map(|s| Period::semestre(year, s).unwrap())
        .find(|p| p.contains(now))
        .unwrap();
    (quadrimestre, semestre)
}

/// VirusIngresso and VirusUscita of the current quadrimestre at the provider in `dir`,
/// from `pecd stats p01`.
pub fn virus_figures(dir: &Path) -> (u64, u64) {
    set_code(dir, CODE_A);
    let (q, _) = periods();
    let (year, number) = (q.year.to_string(), q.number.to_string());
    let csv = ok(
        dir,
        &["stats", "p01", "--year", &year, "--quadrimestre", &number],
    );
    let row: Vec<u64> = csv
        .lines()
        .nth(1)
        .unwrap()
        .rsplit(',')
        .take(2)
        .map(|figure| figure.parse().unwrap())
        .collect();
    (row[1], row[0])
}

fn p01(code: &str, q: &Period, counts: [u64; 6]) -> String {
    let [domini, caselle, uscita, ingresso, virus_in, virus_out] = counts;
    format!(
        "CodGestPEC,Quadrimestre,Anno,NumDomini,NumCaselle,MsgUscita,MsgIngresso,VirusIngresso,VirusUscita\r\n\
         {code},{},{},{domini},{caselle},{uscita},{ingresso},{virus_in},{virus_out}\r\n",
        q.number, q.year
    )
}

#[test]
fn the_statistics_of_a_known_run_are_exactly_its_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = daemon::pair(tmp.path(), FAST);
    set_code(&a_dir, CODE_A);
    set_code(&b_dir, CODE_B);
    for address in [
        "alice@pec-a.test",
        "paolo@pec-a.test",
        "sospeso@pec-a.test",
        "chiuso@pec-a.test",
    ] {
        daemon::add_mailbox(&a_dir, address);
    }
    ok(&a_dir, &["mailbox", "suspend", "sospeso@pec-a.test"]);
    ok(&a_dir, &["mailbox", "delete", "chiuso@pec-a.test"]);
    ok(
        &a_dir,
        &[
            "mailbox",
            "set",
            "alice@pec-a.test",
            "--conservation",
            "all-inbound",
        ],
    );
    ok(&a_dir, &["domain", "add", "altro-a.test"]);
    for address in ["bob@pec-b.test", "carol@pec-b.test"] {
        daemon::add_mailbox(&b_dir, address);
    }

    // Two outages recorded inside the current periods: a malfunction now, with the
    // daemon stopped, and a planned one later, through the running daemon.
    let (q, s) = periods();
    let now = Timestamp::now();
    let base = if now.duration_since(q.start).as_secs() > 2 * 86_400 {
        now - jiff::SignedDuration::from_hours(48)
    } else {
        now + jiff::SignedDuration::from_hours(24)
    };
    let planned = (base, base + jiff::SignedDuration::from_mins(30));
    let malfunction = (
        base + jiff::SignedDuration::from_hours(2),
        base + jiff::SignedDuration::from_mins(135),
    );
    let recorded = ok(
        &a_dir,
        &[
            "outage",
            "add",
            "--type",
            "03",
            "--start",
            &malfunction.0.to_string(),
            "--end",
            &malfunction.1.to_string(),
        ],
    );
    assert!(recorded.starts_with("outage 1 recorded"), "{recorded}");

    let a = daemon::start(&a_dir, base_a);
    let b = daemon::start(&b_dir, base_b);
    ok(
        &a_dir,
        &[
            "outage",
            "add",
            "--type",
            "01",
            "--start",
            &planned.0.to_string(),
            "--end",
            &planned.1.to_string(),
        ],
    );

    // A sends three certified messages (one to B, one to two at B, one to its own
    // user), one refused; B sends one to A; a stranger's ordinary mail reaches A's MX.
    assert_eq!(
        send(&a, "alice@pec-a.test", &["bob@pec-b.test"], "Uno"),
        "250"
    );
    assert_eq!(
        send(
            &a,
            "alice@pec-a.test",
            &["bob@pec-b.test", "carol@pec-b.test"],
            "Due"
        ),
        "250"
    );
    assert_eq!(
        send(&a, "alice@pec-a.test", &["paolo@pec-a.test"], "Tre"),
        "250"
    );
    let bcc = message("alice@pec-a.test", &["bob@pec-b.test"], "Rifiutato")
        .replace("Subject:", "Bcc: eve@pec-b.test\r\nSubject:");
    let refused = daemon::smtplib_send(&a, "alice@pec-a.test", &["bob@pec-b.test"], &bcc);
    assert!(refused.starts_with("550"), "{refused}");
    assert_eq!(
        send(&b, "bob@pec-b.test", &["alice@pec-a.test"], "Quattro"),
        "250"
    );
    let ordinary = b"From: someone@example.com\r\nTo: alice@pec-a.test\r\nSubject: ciao\r\n\r\nposta ordinaria\r\n";
    let reply = mx_send(
        base_a + 2,
        "someone@example.com",
        &["alice@pec-a.test"],
        ordinary,
    );
    assert!(reply.starts_with("250"), "{reply}");

    let alice_inbox = [
        vec![Kind::Receipt(ReceiptKind::Acceptance); 3],
        vec![Kind::Receipt(ReceiptKind::NonAcceptance)],
        vec![Kind::Receipt(ReceiptKind::Delivered); 4],
        vec![Kind::Transport, Kind::Anomaly],
    ]
    .concat();
    daemon::wait_for(&a, "alice@pec-a.test", &alice_inbox);
    daemon::wait_for(&b, "bob@pec-b.test", &[Kind::Transport, Kind::Transport]);

    // P01. A: its domain and one added; alice, paolo and the suspended mailbox; three
    // accettazioni; one presa in carico for another provider (paolo's is A's own
    // traffic); no virus (the anomaly, the refusal and every receipt A received are
    // no P01 figures). B: two prese in carico, one accettazione.
    let year = q.year.to_string();
    let number = q.number.to_string();
    let quadrimestre = ["--year", &year, "--quadrimestre", &number];
    let expected_a = p01(CODE_A, &q, [2, 3, 3, 1, 0, 0]);
    assert_eq!(
        ok(&a_dir, &[&["stats", "p01"][..], &quadrimestre].concat()),
        expected_a
    );
    assert_eq!(
        ok(&b_dir, &[&["stats", "p01"][..], &quadrimestre].concat()),
        p01(CODE_B, &q, [1, 2, 1, 2, 0, 0])
    );

    // C01 needs alice's ten messages packaged.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while packages(&a_dir)
        .iter()
        .map(|p| p.messages.len())
        .sum::<usize>()
        < 10
    {
        assert!(
            std::time::Instant::now() < deadline,
            "alice's messages were not conserved"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    // Stopped cleanly: the same P01 from the store itself.
    drop(a);
    assert_eq!(
        ok(&a_dir, &[&["stats", "p01"][..], &quadrimestre].concat()),
        expected_a
    );
    // Started, crashed (SIGKILL) at once, started again: two detected outages.
    let crashed = daemon::start(&a_dir, base_a);
    let killed = Command::new("kill")
        .args(["-KILL", &crashed.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    drop(crashed);
    let a = daemon::start(&a_dir, base_a);

    // P02: the two recorded outages with their types and minutes, and the two gaps
    // (a clean stop, a crash), each under a minute, reported as one-minute incidents;
    // all within the service level.
    let today = format!("{:03}", Period::day_of_year(Timestamp::now()));
    let row = |day: String, kind: &str, minutes: u32| {
        format!(
            "{CODE_A},{},{day},{},{kind},{minutes},S\r\n",
            q.number, q.year
        )
    };
    let day = |t: Timestamp| format!("{:03}", Period::day_of_year(t));
    let recorded_rows = row(day(planned.0), "01", 30) + &row(day(malfunction.0), "03", 15);
    let detected_rows = row(today.clone(), "02", 1) + &row(today, "02", 1);
    let rows = if planned.0 < now {
        recorded_rows + &detected_rows
    } else {
        detected_rows + &recorded_rows
    };
    assert_eq!(
        ok(&a_dir, &[&["stats", "p02"][..], &quadrimestre].concat()),
        format!("CodGestPEC,Quadrimestre,Giorno,Anno,TipoDisservizio,Durata,SLA\r\n{rows}")
    );
    let listed = ok(&a_dir, &["outage", "list"]);
    assert_eq!(listed.matches("\tdetected").count(), 2, "{listed}");
    assert_eq!(listed.matches("\trecorded").count(), 2, "{listed}");

    // C01: alice's conservation contract (private: no [stats] pa_enti), her ten
    // messages, well under 0.01 GB; four interruptions (30 + 15 + 1 + 1 minutes), the
    // restore time the mean of the incidents' and the malfunction's (17 / 3).
    let (year_s, number_s) = (s.year.to_string(), s.number.to_string());
    assert_eq!(
        ok(
            &a_dir,
            &["stats", "c01", "--year", &year_s, "--semestre", &number_s]
        ),
        format!(
            "CodConservatore,Semestre,Anno,ContrattiPA,ContrattiPrivati,DocumentiAcquisiti,\
             MemoriaImpegnata,DisponibilitàServizio,InterruzioniServizio,InterruzioneTipo1,\
             InterruzioneTipo2,InterruzioneTipo3,InterruzioneMax,TempoMedioRipristino\r\n\
             {CODE_A},{},{},0,1,10,0.00,99.98,4,1,2,1,30,6\r\n",
            s.number, s.year
        )
    );
    drop(a);
}

#[test]
fn bad_statistics_requests_fail_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, _b_dir, _, _) = daemon::pair(tmp.path(), "");
    let config = a_dir.join("pecd.toml");
    let config = config.to_str().unwrap();
    // No [provider] codice yet.
    let out = pecd(&[
        "stats",
        "p01",
        "--config",
        config,
        "--year",
        "2026",
        "--quadrimestre",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[provider] codice"));
    set_code(&a_dir, CODE_A);
    for args in [
        &["stats", "p01", "--year", "2026", "--quadrimestre", "4"][..],
        &["stats", "c01", "--year", "2026", "--semestre", "3"],
        &[
            "outage",
            "add",
            "--type",
            "04",
            "--start",
            "2026-01-01",
            "--end",
            "2026-01-02",
        ],
        &[
            "outage",
            "add",
            "--type",
            "01",
            "--start",
            "2026-01-02",
            "--end",
            "2026-01-01",
        ],
        &[
            "outage",
            "add",
            "--type",
            "01",
            "--start",
            "ieri",
            "--end",
            "2026-01-01",
        ],
    ] {
        let mut all = args.to_vec();
        all.extend(["--config", config]);
        let out = pecd(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    // A code of the wrong form is a configuration error.
    let path = a_dir.join("pecd.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(CODE_A, "97735020584");
    std::fs::write(&path, text).unwrap();
    let out = pecd(&[
        "stats",
        "p02",
        "--config",
        config,
        "--year",
        "2026",
        "--quadrimestre",
        "1",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("provider.codice"));
}

//! Operator commands while the daemon runs: the daemon is the store's one writer, so
//! `pecd mailbox …` and `pecd log …` find it holding the store and hand their work to
//! it over the control socket. The output, the exit status and the effect are those of
//! the command run directly.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::process::Output;

use crate::daemon;
use crate::daemon::PASSWORD;
use crate::support;

/// Runs pecd in `dir` (so `--config pecd.toml` is relative), with `stdin`.
fn pecd_in(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pecd"));
    command.current_dir(dir).args(args);
    support::with_stdin(command, stdin)
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn mailbox_and_log_commands_are_run_by_the_daemon_while_it_holds_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, _, base_a, _) = daemon::pair(tmp.path(), "");
    let a = daemon::start(&a_dir, base_a);
    let config = ["--config", "pecd.toml"];
    let mailbox =
        |verb: &'static str| [&["mailbox", verb, "mario@pec-a.test"][..], &config].concat();

    let add = [&mailbox("add")[..], &["--password-stdin"]].concat();
    let created = stdout(&pecd_in(&a_dir, &add, &format!("{PASSWORD}\n")));
    assert_eq!(created, "mailbox mario@pec-a.test created\n");
    // The daemon's own sessions see it at once: a real client logs in with the
    // password that travelled over the socket, and submits.
    let message =
        "From: mario@pec-a.test\r\nTo: mario@pec-a.test\r\nSubject: prova\r\n\r\nciao\r\n";
    let reply = daemon::smtplib_send(&a, "mario@pec-a.test", &["mario@pec-a.test"], message);
    assert_eq!(reply, "250");

    let suspended = stdout(&pecd_in(&a_dir, &mailbox("suspend"), ""));
    assert!(suspended.contains("state:        suspended"), "{suspended}");
    let shown = stdout(&pecd_in(&a_dir, &mailbox("show"), ""));
    assert!(shown.contains("state:        suspended"), "{shown}");
    let listed = stdout(&pecd_in(
        &a_dir,
        &[&["mailbox", "list"][..], &config].concat(),
        "",
    ));
    assert!(
        listed.starts_with("mario@pec-a.test\tSuspended\t"),
        "{listed}"
    );
    let deleted = stdout(&pecd_in(&a_dir, &mailbox("delete"), ""));
    assert_eq!(deleted, "mailbox mario@pec-a.test deleted\n");

    // An error comes back as the usual one line and exit status 2.
    let missing = pecd_in(&a_dir, &mailbox("show"), "");
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "pecd: no mailbox mario@pec-a.test\n"
    );

    // The log holds the submission, and its chain checks out through the daemon.
    let log = stdout(&pecd_in(
        &a_dir,
        &[
            &["log", "query", "--mailbox", "mario@pec-a.test", "--json"][..],
            &config,
        ]
        .concat(),
        "",
    ));
    assert!(log.contains("\"accepted\""), "{log}");
    let verified = stdout(&pecd_in(
        &a_dir,
        &[&["log", "verify"][..], &config].concat(),
        "",
    ));
    assert!(verified.starts_with("log chain intact: "), "{verified}");

    // Only the daemon's user may reach the socket.
    let control = a_dir.join("data/control");
    let mode = std::fs::metadata(&control).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(control.join("pecd.sock").exists());

    // Stopped, it leaves no socket, and the commands open the store themselves.
    drop(a);
    assert!(!control.join("pecd.sock").exists());
    let listed = stdout(&pecd_in(
        &a_dir,
        &[&["mailbox", "list"][..], &config].concat(),
        "",
    ));
    assert_eq!(listed, "");
}

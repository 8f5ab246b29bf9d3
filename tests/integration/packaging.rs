//! `packaging/pecd.service` checked by systemd's own tools (Debian `systemd`):
//! `systemd-analyze verify` finds nothing wrong with it (pointed at the binary the
//! tests built, since verify wants its ExecStart to exist), and `systemd-analyze
//! security --offline=true` rates its exposure at most the figure the README states.

use crate::support;

/// The exposure the README's "Operating pecd" states; the unit must not get worse.
const README_EXPOSURE: f64 = 1.4;

/// The unit as installed, with its ExecStart on the binary under test.
fn installed_unit(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(support::root().join("packaging/pecd.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/pecd serve --config /etc/pecd/pecd.toml"));
    let path = dir.join("pecd.service");
    std::fs::write(
        &path,
        unit.replace("/usr/bin/pecd", env!("CARGO_BIN_EXE_pecd")),
    )
    .unwrap();
    path
}

#[test]
fn the_systemd_unit_verifies_and_its_exposure_is_low() {
    let tmp = tempfile::tempdir().unwrap();
    let unit = installed_unit(tmp.path());
    let unit = unit.to_string_lossy();
    let verify = support::run("systemd-analyze", &["verify", &unit], "systemd");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );

    let security = support::run(
        "systemd-analyze",
        &["security", "--offline=true", "--no-pager", &unit],
        "systemd",
    );
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|line| {
            line.split("Overall exposure level for pecd.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {report}"));
    println!("systemd-analyze security: exposure {exposure}");
    assert!(
        exposure <= README_EXPOSURE,
        "exposure {exposure}:\n{report}"
    );
    // The one capability: binding ports below 1024.
    assert!(
        report.contains("✓ CapabilityBoundingSet=~CAP_SYS_ADMIN"),
        "{report}"
    );
    let readme = std::fs::read_to_string(support::root().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("exposure level {README_EXPOSURE}")),
        "the README states another exposure than {README_EXPOSURE}"
    );
}

/// `systemd-sysusers` makes the unit's user from `packaging/pecd.sysusers`, in a
/// scratch root: a system user with the state directory as home and no shell.
#[test]
fn systemd_sysusers_creates_the_service_user() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    let sysusers = support::root().join("packaging/pecd.sysusers");
    let root_arg = format!("--root={}", root.path().display());
    let out = support::run(
        "systemd-sysusers",
        &[&root_arg, &sysusers.to_string_lossy()],
        "systemd",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let entry = passwd
        .lines()
        .find(|l| l.starts_with("pecd:"))
        .unwrap_or_else(|| panic!("{passwd}"));
    let fields: Vec<&str> = entry.split(':').collect();
    assert_eq!(fields[5], "/var/lib/pecd", "{entry}");
    assert!(fields[6].ends_with("nologin"), "{entry}");
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid < 1000, "not a system user: {entry}");
    let unit = std::fs::read_to_string(support::root().join("packaging/pecd.service")).unwrap();
    assert!(unit.contains("\nUser=pecd\n") && unit.contains("\nStateDirectory=pecd\n"));
}

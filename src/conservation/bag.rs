//! BagIt 1.0 (RFC 8493): the tag files of a bag whose payload is already written, and
//! the check of a bag on disk (complete: every payload file listed in every manifest and
//! nothing else; valid: every checksum holds; tag manifests too).

use std::path::Path;

use crate::conservation::ConservationError;
use crate::conservation::files;
use crate::conservation::sha256_hex;
use crate::conservation::sha512_hex;

/// `bagit.txt`.
pub const BAGIT_TXT: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";
/// The payload manifests, in the order written.
pub const MANIFESTS: [&str; 2] = ["manifest-sha256.txt", "manifest-sha512.txt"];
/// The tag manifests.
pub const TAG_MANIFESTS: [&str; 2] = ["tagmanifest-sha256.txt", "tagmanifest-sha512.txt"];

/// Writes bagit.txt, bag-info.txt, the manifests and tag manifests into `root`, whose
/// `data/` folder holds the payload. `info` lists extra bag-info fields. Returns the
/// SHA-256 of `tagmanifest-sha256.txt`, which pins the whole bag.
pub fn finish(root: &Path, info: &[(&str, String)]) -> Result<String, ConservationError> {
    let payload = files::list(&root.join("data"))?;
    let mut sha256 = String::new();
    let mut sha512 = String::new();
    let mut octets: u64 = 0;
    for relative in &payload {
        let bytes = files::read(&root.join("data").join(relative))?;
        octets += bytes.len() as u64;
        sha256.push_str(&format!("{}  data/{relative}\n", sha256_hex(&bytes)));
        sha512.push_str(&format!("{}  data/{relative}\n", sha512_hex(&bytes)));
    }
    let mut bag_info = String::new();
    for (label, value) in info {
        bag_info.push_str(&format!("{label}: {}\n", value.replace(['\r', '\n'], " ")));
    }
    bag_info.push_str(&format!("Payload-Oxum: {octets}.{}\n", payload.len()));
    bag_info.push_str(&format!("Bag-Size: {}\n", human_size(octets)));
    let tags = [
        ("bagit.txt", BAGIT_TXT.to_string()),
        ("bag-info.txt", bag_info),
        (MANIFESTS[0], sha256),
        (MANIFESTS[1], sha512),
    ];
    let mut tag256 = String::new();
    let mut tag512 = String::new();
    for (name, text) in &tags {
        files::write_in_package(&root.join(name), text.as_bytes())?;
        tag256.push_str(&format!("{}  {name}\n", sha256_hex(text.as_bytes())));
        tag512.push_str(&format!("{}  {name}\n", sha512_hex(text.as_bytes())));
    }
    files::write_in_package(&root.join(TAG_MANIFESTS[0]), tag256.as_bytes())?;
    files::write_in_package(&root.join(TAG_MANIFESTS[1]), tag512.as_bytes())?;
    Ok(sha256_hex(tag256.as_bytes()))
}

fn human_size(octets: u64) -> String {
    if octets >= 1 << 20 {
        format!("{:.1} MB", octets as f64 / f64::from(1 << 20))
    } else {
        format!("{:.1} KB", octets as f64 / 1024.0)
    }
}

/// Checks a bag; returns every problem found (empty when the bag is complete and valid).
pub fn check(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    match std::fs::read_to_string(root.join("bagit.txt")) {
        Ok(text) if text.contains("BagIt-Version: 1.0") => {}
        Ok(_) => problems.push("bagit.txt: not BagIt 1.0".to_string()),
        Err(e) => problems.push(format!("bagit.txt: {e}")),
    }
    let payload = match files::list(&root.join("data")) {
        Ok(list) => list,
        Err(e) => {
            problems.push(format!("data/: {e}"));
            return problems;
        }
    };
    for manifest in MANIFESTS {
        let listed = check_manifest(root, manifest, &mut problems);
        for relative in &payload {
            let path = format!("data/{relative}");
            if !listed.contains(&path) {
                problems.push(format!("{path}: not in {manifest}"));
            }
        }
    }
    for manifest in TAG_MANIFESTS {
        check_manifest(root, manifest, &mut problems);
    }
    problems
}

/// Checks every line of one manifest; returns the paths it lists.
fn check_manifest(root: &Path, manifest: &str, problems: &mut Vec<String>) -> Vec<String> {
    let text = match std::fs::read_to_string(root.join(manifest)) {
        Ok(text) => text,
        Err(e) => {
            problems.push(format!("{manifest}: {e}"));
            return Vec::new();
        }
    };
    let sha512 = manifest.contains("sha512");
    let mut listed = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((digest, path)) = line.split_once(char::is_whitespace) else {
            problems.push(format!("{manifest}: bad line {line:?}"));
            continue;
        };
        let path = path.trim_start().to_string();
        if path.split('/').any(|part| part == ".." || part.is_empty()) {
            problems.push(format!("{manifest}: unsafe path {path:?}"));
            continue;
        }
        match std::fs::read(root.join(&path)) {
            Ok(bytes) => {
                let actual = if sha512 {
                    sha512_hex(&bytes)
                } else {
                    sha256_hex(&bytes)
                };
                if !actual.eq_ignore_ascii_case(digest) {
                    problems.push(format!("{path}: checksum mismatch ({manifest})"));
                }
            }
            Err(_) => problems.push(format!("{path}: missing ({manifest})")),
        }
        listed.push(path);
    }
    listed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_bag_checks_and_tampering_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        files::write_new(&root.join("data/a/one.txt"), b"one").unwrap();
        files::write_new(&root.join("data/two.txt"), b"two").unwrap();
        finish(root, &[("Source-Organization", "Gestore A".into())]).unwrap();
        assert_eq!(check(root), Vec::<String>::new());
        let info = std::fs::read_to_string(root.join("bag-info.txt")).unwrap();
        assert!(info.contains("Payload-Oxum: 6.2"), "{info}");

        let target = root.join("data/two.txt");
        let mut permissions = std::fs::metadata(&target).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        std::fs::set_permissions(&target, permissions).unwrap();
        std::fs::write(&target, b"twO").unwrap();
        let problems = check(root);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("data/two.txt"));
        std::fs::remove_file(root.join("data/a/one.txt")).unwrap();
        assert!(check(root).iter().any(|p| p.contains("one.txt: missing")));
    }
}

//! Shared test material: the two test providers, a sample submission, fixed stamps,
//! and wrappers around the real `openssl` and `xmllint` binaries.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use pecd::crypto::identity::Signer;
use pecd::crypto::smime::Anchors;
use pecd::crypto::trust;
use pecd::pec::compose::Issuer;
use pecd::pec::compose::Stamp;
use pecd::pec::index::Provider;
use pecd::pec::index::ProvidersIndex;
use pecd::pec::time::LocalTime;

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared`, or `None` (after printing why the caller skips).
pub fn shared(what: &str) -> Option<PathBuf> {
    let path = root().join("../shared");
    if path.join("CONTRACT.md").exists() {
        Some(path)
    } else {
        eprintln!("SKIP {what}: ../shared is absent (a fresh clone without the shared folder)");
        None
    }
}

/// One of the two test providers of `certs/`.
pub struct TestProvider {
    pub issuer: Issuer,
    pub signer: Signer,
    pub dir: PathBuf,
}

impl TestProvider {
    pub fn a() -> TestProvider {
        TestProvider::load("pec-a.test", "Gestore A S.p.A.")
    }

    pub fn b() -> TestProvider {
        TestProvider::load("pec-b.test", "Gestore B S.p.A.")
    }

    fn load(domain: &str, name: &str) -> TestProvider {
        let dir = root().join("certs").join(domain);
        let signer = Signer::load(&dir.join("signing.pem"), &dir.join("signing.key")).unwrap();
        TestProvider {
            issuer: Issuer {
                domain: domain.into(),
                name: name.into(),
            },
            signer,
            dir,
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn provider(&self) -> Provider {
        let der = self.signer.certificate_der();
        Provider {
            name: self.issuer.name.clone(),
            unit: None,
            certificate_hashes: vec![trust::sha1_hex(&der)],
            certificates: vec![der],
            mail_receipt: self.issuer.service_address(),
            managed_domains: vec![self.issuer.domain.clone()],
            description: None,
            ldif_location_url: None,
        }
    }
}

/// An index listing both test providers, as concatenated `pecd index entry` output.
pub fn index_ldif() -> String {
    format!(
        "{}\n{}",
        TestProvider::a().provider().to_ldif(),
        TestProvider::b().provider().to_ldif()
    )
}

pub fn index() -> ProvidersIndex {
    ProvidersIndex::from_ldif(index_ldif().as_bytes()).unwrap()
}

/// Both dev CAs as trust anchors.
pub fn anchors() -> Anchors {
    let (a, b) = (TestProvider::a().ca(), TestProvider::b().ca());
    Anchors::from_pem_files(&[a.as_path(), b.as_path()]).unwrap()
}

/// A fixed stamp: 02/03/2026 10:15:30 (+0100), message id numbered `n`.
pub fn stamp(n: u64, domain: &str) -> Stamp {
    let time = LocalTime::parse("02/03/2026", "10:15:30", "+0100").unwrap();
    Stamp {
        time,
        message_id: pecd::pec::id::pec_msgid(&time, n, domain),
    }
}

/// A realistic submission: To a PEC and an ordinary recipient, Cc a PEC one, an
/// attachment, a non-ASCII subject.
pub const SUBMISSION: &[u8] = b"From: Alice Rossi <alice@pec-a.test>\r\n\
To: Bob Bianchi <bob@pec-b.test>, carol@example.com\r\n\
Cc: dave@pec-b.test\r\n\
Subject: =?utf-8?q?Atto_di_citazione=2C_perch=C3=A9_urgente?=\r\n\
Date: Mon, 02 Mar 2026 10:15:00 +0100\r\n\
Message-ID: <client-1@mua.example>\r\n\
X-TipoRicevuta: completa\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Buongiorno, in allegato l'atto. Cordialit\xc3\xa0.\r\n\
--b1\r\n\
Content-Type: application/pdf; name=\"atto.pdf\"\r\n\
Content-Disposition: attachment; filename=\"atto.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoK\r\n\
--b1--\r\n";

/// Runs `command` with `stdin` written to its standard input; its output.
pub fn with_stdin(mut command: Command, stdin: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs a real binary; panics with what to install when it is missing.
pub fn run(program: &str, args: &[&str], package: &str) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}); install the Debian package {package}")
        })
}

/// The standard output of a command that must succeed (its stderr in the failure).
pub fn stdout_of(program: &str, args: &[&str], package: &str) -> String {
    let out = run(program, args, package);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `openssl smime -verify` with a CA file; returns the verified content.
pub fn openssl_smime_verify(message: &Path, ca: &Path) -> Vec<u8> {
    let out = run(
        "openssl",
        &[
            "smime",
            "-verify",
            "-CAfile",
            &ca.to_string_lossy(),
            "-in",
            &message.to_string_lossy(),
        ],
        "openssl",
    );
    assert!(
        out.status.success(),
        "openssl smime -verify failed for {}: {}",
        message.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Verification successful"));
    out.stdout
}

/// `xmllint --noout --dtdvalid ../shared/spec/daticert.dtd`, when `../shared` is there.
pub fn xmllint_daticert(xml: &Path) {
    let Some(shared) = shared("xmllint --dtdvalid") else {
        return;
    };
    let dtd = shared.join("spec/daticert.dtd");
    let out = run(
        "xmllint",
        &[
            "--noout",
            "--dtdvalid",
            &dtd.to_string_lossy(),
            &xml.to_string_lossy(),
        ],
        "libxml2-utils",
    );
    assert!(
        out.status.success(),
        "xmllint rejected {}: {}",
        xml.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The decoded `daticert.xml` part of a message, if any.
pub fn daticert_bytes(message: &[u8]) -> Option<Vec<u8>> {
    use mail_parser::MimeHeaders;
    let parsed = mail_parser::MessageParser::default().parse(message)?;
    parsed
        .parts
        .iter()
        .find(|p| p.attachment_name().is_some_and(|n| n == "daticert.xml"))
        .map(|p| p.contents().to_vec())
}

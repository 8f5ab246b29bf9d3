//! Signing and verification throughput of `crypto::smime` for 1 KiB, 1 MiB and 30 MiB
//! entities (30 MB is the DM 2 Nov 2005 minimum message size, pec.md §10.2), against
//! the raw RSA-2048 signing rate of the same key, which bounds what `sign` can reach.
//!
//! Run with `cargo bench --bench smime`. Plain `fn main`: no harness, no dependency.

use std::hint::black_box;
use std::time::Duration;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use openssl::hash::MessageDigest;
use openssl::md::Md;
use openssl::pkey::PKey;
use openssl::pkey::Private;
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use pecd::crypto::certs;
use pecd::crypto::identity::Signer;
use pecd::crypto::smime;
use pecd::crypto::smime::Anchors;
use pecd::pec::compose::Unsigned;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn main() -> anyhow::Result<()> {
    let ca = certs::dev_ca("Bench", 2048)?;
    let leaf = certs::signing_certificate(&ca, "pec-bench.test", "Gestore Bench", 2048)?;
    let key = leaf.key.clone();
    let signer = Signer::new(leaf.certificate, leaf.key, Vec::new())?;
    let anchors = Anchors::from_certificates(vec![ca.certificate])?;

    let raw_rate = raw_rsa_rate(&key)?;
    println!("raw RSA-2048 PKCS#1 v1.5 sign of a SHA-256 digest: {raw_rate:.1} ops/s");
    println!();
    println!(
        "{:>8}  {:>10}  {:>10}  {:>12}  {:>14}  {:>10}  {:>10}  {:>14}",
        "entity",
        "sign/s",
        "ms/sign",
        "sign MiB/s",
        "ms/CMS only",
        "verify/s",
        "ms/verify",
        "sign/raw RSA"
    );
    for (label, size, budget) in [
        ("1 KiB", KIB, Duration::from_secs(2)),
        ("1 MiB", MIB, Duration::from_secs(2)),
        ("30 MiB", 30 * MIB, Duration::from_secs(4)),
    ] {
        let message = Unsigned {
            headers: vec![
                ("From".into(), "posta-certificata@pec-bench.test".into()),
                ("Subject".into(), "ACCETTAZIONE: bench".into()),
            ],
            entity: entity(size)?,
            daticert: None,
        };
        let signed = smime::sign(&signer, &message)?;
        let sign_rate = rate(budget, || {
            black_box(smime::sign(&signer, black_box(&message)).map(|out| out.len()))
        });
        let cms_rate = rate(budget, || {
            black_box(
                smime::sign_detached(&signer, black_box(&message.entity)).map(|der| der.len()),
            )
        });
        let verify_rate = rate(budget, || {
            let parts = smime::split_signed(black_box(&signed));
            black_box(parts.map(|parts| {
                smime::verify(&parts.entity, &parts.signature, &anchors, Timestamp::now()).valid
            }))
        });
        let report = {
            let parts = smime::split_signed(&signed)?;
            smime::verify(&parts.entity, &parts.signature, &anchors, Timestamp::now())
        };
        if !report.valid {
            anyhow::bail!("{label}: own signature did not verify: {report:?}");
        }
        println!(
            "{:>8}  {:>10.1}  {:>10.3}  {:>12.1}  {:>14.3}  {:>10.1}  {:>10.3}  {:>14.3}",
            label,
            sign_rate,
            1000.0 / sign_rate,
            sign_rate * size as f64 / MIB as f64,
            1000.0 / cms_rate,
            verify_rate,
            1000.0 / verify_rate,
            sign_rate / raw_rate,
        );
    }
    Ok(())
}

/// A `multipart/mixed` entity of about `size` bytes: a short text part and a base64
/// attachment of random bytes, CRLF throughout, as `pec::compose` would produce.
fn entity(size: usize) -> anyhow::Result<Vec<u8>> {
    let head = "Content-Type: multipart/mixed; boundary=\"bench-inner\"\r\n\r\n\
                --bench-inner\r\nContent-Type: text/plain; charset=\"iso-8859-1\"\r\n\r\n\
                Messaggio di prova.\r\n\r\n--bench-inner\r\n\
                Content-Type: application/octet-stream; name=\"payload.bin\"\r\n\
                Content-Transfer-Encoding: base64\r\n\r\n";
    let tail = "\r\n--bench-inner--\r\n";
    // 76 base64 characters plus CRLF carry 57 bytes.
    let lines = size.saturating_sub(head.len() + tail.len()) / 78;
    let mut raw = vec![0u8; lines.max(1) * 57];
    openssl::rand::rand_bytes(&mut raw)?;
    let encoded = STANDARD.encode(&raw);
    let mut out = Vec::with_capacity(size + 128);
    out.extend_from_slice(head.as_bytes());
    for (index, line) in encoded.as_bytes().chunks(76).enumerate() {
        if index > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(tail.as_bytes());
    Ok(out)
}

/// RSA private-key operations per second: PKCS#1 v1.5 signatures over a 32-byte
/// SHA-256 digest, the part of a CMS signature that does not depend on message size.
fn raw_rsa_rate(key: &PKey<Private>) -> anyhow::Result<f64> {
    let digest = openssl::hash::hash(MessageDigest::sha256(), b"bench")?;
    let mut context = PkeyCtx::new(key)?;
    context.sign_init()?;
    context.set_rsa_padding(Padding::PKCS1)?;
    context.set_signature_md(Md::sha256())?;
    let mut signature = Vec::new();
    context.sign_to_vec(&digest, &mut signature)?;
    anyhow::ensure!(signature.len() == 256, "not an RSA-2048 signature");
    Ok(rate(Duration::from_secs(2), || {
        signature.clear();
        black_box(
            context
                .sign_to_vec(black_box(&digest), &mut signature)
                .is_ok(),
        )
    }))
}

/// Operations per second of `operation`, repeated until `budget` has passed (at least
/// three times).
fn rate<T>(budget: Duration, mut operation: impl FnMut() -> T) -> f64 {
    black_box(operation());
    let start = Instant::now();
    let mut count = 0u32;
    while count < 3 || start.elapsed() < budget {
        black_box(operation());
        count += 1;
    }
    f64::from(count) / start.elapsed().as_secs_f64()
}

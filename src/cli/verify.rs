//! `pecd verify FILE.eml [--index FILE] [--ca FILE]… [--json]`: reads one message and
//! prints what it is, its daticert fields, the signer and every check.
//! Exit code: 0 valid PEC, 1 not valid, 2 unreadable.

use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;
use serde_json::json;

use crate::crypto::smime::Anchors;
use crate::crypto::smime::ChainStatus;
use crate::crypto::trust;
use crate::crypto::validation::Validation;
use crate::pec::daticert::Daticert;
use crate::pec::reader::PecMessage;

/// What `verify` concluded, mapped to the exit code by `main`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Outcome {
    /// Exit 0.
    Valid,
    /// Exit 1.
    NotValid,
    /// Exit 2: not a message at all.
    Unreadable,
}

/// Runs `pecd verify`.
pub fn run(
    file: &Path,
    index: Option<&Path>,
    ca: &[PathBuf],
    json: bool,
) -> anyhow::Result<Outcome> {
    let raw = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let index = match index {
        Some(path) => Some(
            trust::load_index_file(path, None)
                .with_context(|| format!("cannot load the index {}", path.display()))?
                .index,
        ),
        None => None,
    };
    let anchors = if ca.is_empty() {
        None
    } else {
        let paths: Vec<&Path> = ca.iter().map(PathBuf::as_path).collect();
        Some(Anchors::from_pem_files(&paths).context("cannot load the --ca trust anchors")?)
    };
    let validation = match Validation::check(
        &raw,
        anchors.as_ref(),
        index.as_ref(),
        jiff::Timestamp::now(),
    ) {
        Ok(validation) => validation,
        Err(error) => {
            if json {
                let printed = writeln!(
                    std::io::stdout().lock(),
                    "{}",
                    json!({ "kind": null, "error": error.to_string() })
                );
                super::output_closed_is_fine(printed)?;
            } else {
                eprintln!("{}: unreadable: {error}", file.display());
            }
            return Ok(Outcome::Unreadable);
        }
    };
    let mut out = std::io::stdout().lock();
    let printed = if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&to_json(&validation)).unwrap_or_default()
        )
    } else {
        print_text(&mut out, &validation)
    };
    super::output_closed_is_fine(printed)?;
    Ok(if validation.is_valid_pec() {
        Outcome::Valid
    } else {
        Outcome::NotValid
    })
}

/// The `--json` object: `kind`, `daticert`, `signature`, plus `index`, `problems`, `valid`.
pub fn to_json(validation: &Validation) -> Value {
    let message = &validation.message;
    let signature = match &validation.signature {
        None => json!({ "present": false, "valid": false, "signer": null, "expired": null,
                        "in_index": validation.index.as_ref().map(|_| false),
                        "error": validation.signature_error }),
        Some(report) => json!({
            "present": true,
            "valid": report.valid,
            "digest": report.digest,
            "signer": report.signer.as_ref().map(|s| json!({
                "subject": s.subject, "issuer": s.issuer, "serial": s.serial, "sha1": s.sha1,
                "email": s.email, "not_before": s.not_before.to_string(), "not_after": s.not_after.to_string(),
            })),
            "signing_time": report.signing_time.map(|t| t.to_string()),
            "expired": report.expired,
            "not_yet_valid": report.not_yet_valid,
            "valid_at_signing_time": report.valid_at_signing_time,
            "chain": match &report.chain {
                ChainStatus::Trusted => json!({ "trusted": true }),
                ChainStatus::Untrusted { reason } => json!({ "trusted": false, "reason": reason }),
            },
            "in_index": validation.index.as_ref().map(|i| i.in_index),
            "error": report.error,
        }),
    };
    json!({
        "kind": message.kind.as_str(),
        "valid": validation.is_valid_pec(),
        "reasons": validation.reasons(),
        "from": message.from,
        "subject": message.subject,
        "message_id": message.message_id,
        "reference_message_id": message.reference_message_id,
        "daticert": message.daticert.as_ref().map(daticert_json),
        "daticert_error": message.daticert_error,
        "has_original": message.original.is_some(),
        "signature": signature,
        "index": validation.index,
        "problems": message.problems,
    })
}

/// The daticert fields as JSON, with the DTD's element names.
pub fn daticert_json(d: &Daticert) -> Value {
    json!({
        "tipo": d.kind.as_str(),
        "errore": d.error.as_str(),
        "mittente": d.header.sender,
        "destinatari": d.header.recipients.iter()
            .map(|r| json!({ "indirizzo": r.address, "tipo": r.kind.as_str() })).collect::<Vec<_>>(),
        "risposte": d.header.reply_to,
        "oggetto": d.header.subject,
        "gestore_emittente": d.data.issuer,
        "data": { "giorno": d.data.time.giorno(), "ora": d.data.time.ora(), "zona": d.data.time.zona() },
        "identificativo": d.data.id,
        "msgid": d.data.msgid,
        "ricevuta": d.data.receipt_type.map(|t| t.as_str()),
        "consegna": d.data.delivery,
        "ricezione": d.data.receptions,
        "errore_esteso": d.data.extended_error,
    })
}

/// The human-readable report of `pecd verify`: what the message is, what its daticert
/// says, who signed it, what the index says, and the verdict.
fn print_text(out: &mut impl Write, validation: &Validation) -> std::io::Result<()> {
    let message = &validation.message;
    writeln!(out, "kind:        {}", message.kind)?;
    writeln!(
        out,
        "from:        {}",
        message.from.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "subject:     {}",
        message.subject.as_deref().unwrap_or("-")
    )?;
    print_daticert(out, message)?;
    print_signature(out, validation)?;
    match &validation.index {
        None => writeln!(out, "index:       not checked (no --index given)")?,
        Some(index) => writeln!(
            out,
            "index:       {}; certificate matches: {}; From domain managed: {}",
            index
                .provider
                .as_deref()
                .map_or("signer NOT listed".to_string(), |p| format!(
                    "listed as {p}"
                )),
            index.certificate_matches,
            index.from_domain_managed
        )?,
    }
    let reasons = validation.reasons();
    if reasons.is_empty() {
        writeln!(out, "verdict:     VALID PEC")?;
    } else {
        writeln!(out, "verdict:     NOT VALID")?;
        for reason in reasons {
            writeln!(out, "  - {reason}")?;
        }
    }
    Ok(())
}

/// The daticert's fields, or why it does not read.
fn print_daticert(out: &mut impl Write, message: &PecMessage) -> std::io::Result<()> {
    if let Some(d) = &message.daticert {
        writeln!(
            out,
            "daticert:    tipo={} errore={}",
            d.kind,
            d.error.as_str()
        )?;
        writeln!(out, "  mittente:      {}", d.header.sender)?;
        for r in &d.header.recipients {
            writeln!(out, "  destinatario:  {} ({})", r.address, r.kind.as_str())?;
        }
        writeln!(
            out,
            "  oggetto:       {}",
            d.header.subject.as_deref().unwrap_or("-")
        )?;
        writeln!(out, "  gestore:       {}", d.data.issuer)?;
        writeln!(out, "  data:          {}", d.data.time)?;
        writeln!(out, "  identificativo {}", d.data.id)?;
        for (label, value) in [
            ("msgid", &d.data.msgid),
            ("consegna", &d.data.delivery),
            ("errore-esteso", &d.data.extended_error),
        ] {
            if let Some(value) = value {
                writeln!(out, "  {label:<14} {value}")?;
            }
        }
        for r in &d.data.receptions {
            writeln!(out, "  ricezione:     {r}")?;
        }
    } else if let Some(error) = &message.daticert_error {
        writeln!(out, "daticert:    invalid: {error}")?;
    }
    Ok(())
}

/// The signature's checks and its signer's certificate.
fn print_signature(out: &mut impl Write, validation: &Validation) -> std::io::Result<()> {
    let Some(report) = &validation.signature else {
        return writeln!(
            out,
            "signature:   none ({})",
            validation.signature_error.as_deref().unwrap_or("absent")
        );
    };
    writeln!(
        out,
        "signature:   {} ({})",
        if report.valid { "valid" } else { "INVALID" },
        report.digest.as_deref().unwrap_or("?")
    )?;
    if let Some(signer) = &report.signer {
        writeln!(
            out,
            "signer:      {} <{}>",
            signer.subject,
            signer.email.as_deref().unwrap_or("-")
        )?;
        writeln!(out, "  issuer:    {}", signer.issuer)?;
        writeln!(out, "  sha1:      {}", signer.sha1)?;
        writeln!(
            out,
            "  validity:  {} .. {}",
            signer.not_before, signer.not_after
        )?;
    }
    let state = if report.expired {
        "EXPIRED"
    } else if report.not_yet_valid {
        "NOT YET VALID"
    } else {
        "current"
    };
    writeln!(
        out,
        "certificate: {state}; valid when signed: {}",
        match report.valid_at_signing_time {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown (no signing time)",
        }
    )?;
    match &report.chain {
        ChainStatus::Trusted => writeln!(out, "chain:       trusted")?,
        ChainStatus::Untrusted { reason } => writeln!(out, "chain:       not trusted ({reason})")?,
    }
    Ok(())
}

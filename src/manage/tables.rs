//! The columns of every list the panel and the API download as CSV, in one place, so
//! that a search result and its download never disagree.

use crate::manage::ManageError;
use crate::manage::csv::Table;
use crate::manage::mailboxes::MailboxRow;
use crate::manage::mailboxes::state_label;
use crate::manage::reports::Summary;
use crate::manage::reports::UsageRow;
use crate::store::management::Holder;

fn failed(error: crate::manage::csv::CsvError) -> ManageError {
    ManageError::invalid("csv", error.to_string())
}

fn table<const N: usize>(
    header: [&str; N],
    rows: impl Iterator<Item = [String; N]>,
) -> Result<Table, ManageError> {
    let mut table = Table::new(header).map_err(failed)?;
    for row in rows {
        table.row(row).map_err(failed)?;
    }
    Ok(table)
}

/// Holders: one row each, with the first address's contacts and the companies.
pub fn holders(found: &[Holder]) -> Result<Table, ManageError> {
    let header = [
        "codice_fiscale",
        "cognome",
        "nome",
        "ente",
        "email",
        "telefono",
        "fax",
        "ragione_sociale",
        "partita_iva",
    ];
    table(
        header,
        found.iter().map(|h| {
            let first = h.indirizzi.first().cloned().unwrap_or_default();
            let join = |pick: fn(&crate::store::management::Company) -> &str| {
                h.attivita.iter().map(pick).collect::<Vec<_>>().join("; ")
            };
            [
                h.codice_fiscale.clone(),
                h.cognome.clone(),
                h.nome.clone(),
                h.ente.clone(),
                first.email,
                first.telefono,
                first.fax,
                join(|c| &c.ragione_sociale),
                join(|c| &c.partita_iva),
            ]
        }),
    )
}

/// Mailboxes as searches list them.
pub fn mailboxes(found: &[MailboxRow]) -> Result<Table, ManageError> {
    let header = [
        "indirizzo",
        "stato",
        "tipo",
        "ente",
        "codice_fiscale",
        "cognome",
        "nome",
        "inserita",
        "richieste",
        "byte_usati",
        "ricevuti",
        "inviati",
    ];
    table(
        header,
        found.iter().map(|m| {
            [
                m.address.clone(),
                state_label(m.state).to_string(),
                m.kind.as_str().to_string(),
                m.ente.clone(),
                m.codice_fiscale.clone(),
                m.cognome.clone(),
                m.nome.clone(),
                m.created.to_string(),
                m.requests
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                m.used_bytes.to_string(),
                m.received.to_string(),
                m.sent.to_string(),
            ]
        }),
    )
}

/// The summary: one row per ente.
pub fn entes(summary: &Summary) -> Result<Table, ManageError> {
    let header = [
        "ente",
        "operatori",
        "contatti",
        "domini",
        "caselle",
        "attive",
        "in_attesa",
        "sospese",
        "eliminate",
        "ricevuti",
        "inviati",
        "byte_inbox",
        "byte_archivio",
    ];
    table(
        header,
        summary.entes.iter().map(|e| {
            let c = &e.counts;
            [
                e.ente.clone(),
                e.operators.join(" "),
                e.contacts.join(" "),
                e.domains.join(" "),
                c.mailboxes().to_string(),
                c.in_state("active").to_string(),
                c.in_state("pending").to_string(),
                c.in_state("suspended").to_string(),
                c.in_state("deleted").to_string(),
                c.received.to_string(),
                c.sent.to_string(),
                c.bytes.to_string(),
                c.archive.to_string(),
            ]
        }),
    )
}

/// Usage per mailbox.
pub fn usage(rows: &[UsageRow]) -> Result<Table, ManageError> {
    let header = [
        "indirizzo",
        "ente",
        "stato",
        "tipo",
        "ricevuti",
        "inviati",
        "byte_inbox",
        "byte_archivio",
    ];
    table(
        header,
        rows.iter().map(|r| {
            [
                r.address.clone(),
                r.ente.clone(),
                r.state.clone(),
                r.kind.clone(),
                r.received.to_string(),
                r.sent.to_string(),
                r.bytes.to_string(),
                r.archive.to_string(),
            ]
        }),
    )
}

//! The rapporto di versamento (conservation.md §1.3): for every accepted SIP a unique
//! identifier, the UTC time of acceptance, the SHA-256 of the whole SIP and of each of
//! its files, and the outcome. It is signed (CAdES, [`crate::conservation::seal`]) and
//! stored in the package beside the SIP it reports on.
//!
//! The digest "of the whole SIP" is the SHA-256 of the SIP manifest: one line
//! `<sha256 hex>  <file name>\n` per file, sorted by name, so anyone can recompute it
//! from the files.

use jiff::Timestamp;

use crate::conservation::sha256_hex;
use crate::conservation::xml_escape;

/// One file of a SIP.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SipFile {
    /// Its name within the SIP (`message.eml`, `metadata.xml`).
    pub name: String,
    /// SHA-256, hex.
    pub sha256: String,
}

/// The SHA-256 of a SIP: over its manifest (see the module doc).
pub fn sip_digest(files: &[SipFile]) -> String {
    let mut sorted: Vec<&SipFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let manifest: String = sorted
        .iter()
        .map(|f| format!("{}  {}\n", f.sha256, f.name))
        .collect();
    sha256_hex(manifest.as_bytes())
}

/// The rapporto di versamento XML of an accepted SIP.
pub fn rapporto(
    rdv_id: &str,
    sip_id: &str,
    mailbox: &str,
    time: Timestamp,
    files: &[SipFile],
) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<RapportoVersamento xmlns=\"urn:pecd:conservazione:rdv:1\">\n");
    out.push_str(&format!(
        "  <IdentificativoRapporto>{}</IdentificativoRapporto>\n",
        xml_escape(rdv_id)
    ));
    out.push_str(&format!(
        "  <DataRapporto>{}</DataRapporto>\n",
        time.strftime("%Y-%m-%dT%H:%M:%SZ")
    ));
    out.push_str(&format!("  <IdPdV>{}</IdPdV>\n", xml_escape(sip_id)));
    out.push_str(&format!(
        "  <Produttore>{}</Produttore>\n",
        xml_escape(mailbox)
    ));
    out.push_str(&format!(
        "  <ImprontaPdV algoritmo=\"SHA-256\">{}</ImprontaPdV>\n",
        sip_digest(files)
    ));
    for file in files {
        out.push_str(&format!(
            "  <Documento><Nome>{}</Nome><Impronta algoritmo=\"SHA-256\">{}</Impronta><Esito>POSITIVO</Esito></Documento>\n",
            xml_escape(&file.name),
            file.sha256
        ));
    }
    out.push_str("  <EsitoGenerale>POSITIVO</EsitoGenerale>\n</RapportoVersamento>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_order_independent_and_rapporto_names_it() {
        let a = SipFile {
            name: "a".into(),
            sha256: "11".into(),
        };
        let b = SipFile {
            name: "b".into(),
            sha256: "22".into(),
        };
        assert_eq!(
            sip_digest(&[a.clone(), b.clone()]),
            sip_digest(&[b.clone(), a.clone()])
        );
        let xml = rapporto("rdv-1", "pdv-1", "x@y.test", Timestamp::UNIX_EPOCH, &[a, b]);
        assert!(xml.contains("<DataRapporto>1970-01-01T00:00:00Z</DataRapporto>"));
        assert!(xml.contains(&sip_digest(&[
            SipFile {
                name: "a".into(),
                sha256: "11".into()
            },
            SipFile {
                name: "b".into(),
                sha256: "22".into()
            }
        ])));
    }
}

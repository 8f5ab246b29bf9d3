//! The management plane's records: the mail domains this provider manages, the
//! operators who administer it through the panel, the holders (titolari) of its
//! mailboxes, each mailbox's history and documents, and the counters the reports read.
//! A mailbox's own administrative fields live in its record ([`Profile`]), so they
//! change in the same write as everything else about it.

mod tally;

use jiff::Timestamp;
use redb::MultimapTableDefinition;
use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::decode;
use crate::store::encode;
use crate::store::key::AddressKey;
use crate::store::kv::Table;
use crate::store::mailbox::DUMMY_HASH;
use crate::store::mailbox::verify_argon2;
pub use crate::store::management::tally::Counts;
pub(crate) use crate::store::management::tally::conserved;
pub(crate) use crate::store::management::tally::retally;

const DOMAINS: TableDefinition<&str, &[u8]> = TableDefinition::new("domains");
const OPERATORS: TableDefinition<&str, &[u8]> = TableDefinition::new("operators");
/// Holders by `ente \0 codice fiscale`: each ente keeps its own, so one ente never
/// learns another's.
const HOLDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("holders");
const HISTORY: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("mailbox_history");
const DOCUMENTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("mailbox_documents");
/// The mailboxes of each ente, so that an ente's lists never read the others'.
pub(crate) const ENTE_MAILBOXES: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("ente_mailboxes");

/// What an operator may do.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The provider: everything, and alone activates mailboxes.
    Gestore,
    /// A Local Registration Authority: its ente's holders and mailboxes.
    Lra,
    /// A body that buys the service for many entes: an LRA of its own ente, and
    /// reports over all of them.
    Aggregator,
}

impl Role {
    /// The name on the command line, in the API and in the panel.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gestore => "gestore",
            Role::Lra => "lra",
            Role::Aggregator => "aggregator",
        }
    }

    /// The role named `text`.
    pub fn parse(text: &str) -> Option<Role> {
        [Role::Gestore, Role::Lra, Role::Aggregator]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

/// A person who logs in to the panel.
#[derive(Clone, Deserialize, Eq, PartialEq, Serialize)]
pub struct Operator {
    /// The login name, lower-cased.
    pub username: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// What the operator may do.
    pub role: Role,
    /// The ente the operator acts for (LRA and aggregator).
    pub ente: Option<String>,
    /// The domains an LRA may create mailboxes in.
    pub domains: Vec<String>,
    /// Where the panel's mails to the operator go.
    pub email: Option<String>,
    /// A disabled operator cannot log in; the record stays for the history.
    pub disabled: bool,
    /// When it was added.
    pub created: Timestamp,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("ente", &self.ente)
            .field("domains", &self.domains)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A mail domain this provider manages.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Domain {
    /// The domain, lower-cased.
    pub name: String,
    /// The ente it is dedicated to, if any.
    pub ente: Option<String>,
    /// Who added it.
    pub added_by: String,
    /// When.
    pub added: Timestamp,
}

/// A postal address and the contacts at it.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostalAddress {
    /// Street and number.
    pub via: String,
    /// Town.
    pub localita: String,
    /// Province (sigla).
    pub provincia: String,
    /// Postcode.
    pub cap: String,
    /// Telephone.
    pub telefono: String,
    /// Fax.
    pub fax: String,
    /// Ordinary e-mail, where activation mails go.
    pub email: String,
    /// Mobile.
    pub cellulare: String,
}

/// A company or activity linked to a holder.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Company {
    /// Ragione sociale.
    pub ragione_sociale: String,
    /// Legal form (S.r.l., S.p.A., ditta individuale, …).
    pub forma_giuridica: String,
    /// Partita IVA, checked.
    pub partita_iva: String,
    /// REA number.
    pub rea: String,
    /// Codice destinatario for electronic invoices.
    pub codice_destinatario: String,
    /// PEC address for invoices.
    pub pec_fatturazione: String,
    /// Administrative contact.
    pub referente: String,
}

/// A holder (titolare) of mailboxes.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Holder {
    /// Codice fiscale, upper-cased and checked.
    pub codice_fiscale: String,
    /// Name.
    pub nome: String,
    /// Surname.
    pub cognome: String,
    /// The ente whose holder this is (`""`: the provider's own).
    pub ente: String,
    /// Addresses and contacts.
    pub indirizzi: Vec<PostalAddress>,
    /// Companies and activities.
    pub attivita: Vec<Company>,
    /// When it was created.
    pub created: Timestamp,
}

/// One change to a mailbox: who, when, which field, from what to what.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Change {
    /// When.
    pub at: Timestamp,
    /// The operator (or `cli`, `api`, `holder`).
    pub by: String,
    /// The field.
    pub field: String,
    /// The value before (empty when it had none).
    pub old: String,
    /// The value after.
    pub new: String,
}

/// What a document is.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentKind {
    /// Contratto di attivazione.
    Contratto,
    /// Richiesta nuove credenziali.
    NuoveCredenziali,
    /// Subentro.
    Subentro,
    /// Richiesta di chiusura.
    Chiusura,
    /// Anything else.
    Altro,
}

impl DocumentKind {
    /// Every kind, in the order the panel offers them.
    pub const ALL: [DocumentKind; 5] = [
        DocumentKind::Contratto,
        DocumentKind::NuoveCredenziali,
        DocumentKind::Subentro,
        DocumentKind::Chiusura,
        DocumentKind::Altro,
    ];

    /// The name in the API and in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Contratto => "contratto",
            DocumentKind::NuoveCredenziali => "nuove-credenziali",
            DocumentKind::Subentro => "subentro",
            DocumentKind::Chiusura => "chiusura",
            DocumentKind::Altro => "altro",
        }
    }

    /// The Italian label.
    pub fn label(self) -> &'static str {
        match self {
            DocumentKind::Contratto => "Contratto di attivazione",
            DocumentKind::NuoveCredenziali => "Richiesta nuove credenziali",
            DocumentKind::Subentro => "Subentro",
            DocumentKind::Chiusura => "Richiesta di chiusura",
            DocumentKind::Altro => "Altro",
        }
    }

    /// The kind named `text`.
    pub fn parse(text: &str) -> Option<DocumentKind> {
        DocumentKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A document kept with a mailbox: immutable bytes, content-addressed.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Document {
    /// Its number within the mailbox.
    pub id: u64,
    /// What it is.
    pub kind: DocumentKind,
    /// The name it was uploaded with (shown, never used as a path).
    pub filename: String,
    /// The bytes.
    pub blob: BlobId,
    /// Their length.
    pub size: u64,
    /// Who uploaded it.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// The management records: `Management<&mut Tx>` changes them, `Management<&ReadTx>`
/// reads a snapshot.
pub struct Management<T>(pub(super) T);

fn holder_key(ente: &str, codice_fiscale: &str) -> String {
    format!("{ente}\0{codice_fiscale}")
}

impl Management<&mut Tx<'_>> {
    /// Adds or replaces a domain.
    pub fn put_domain(&mut self, domain: &Domain) -> Result<(), StoreError> {
        self.put(DOMAINS, &domain.name, domain)
    }

    /// The argon2id PHC string of a password.
    pub fn hash_password(&self, password: &str) -> Result<String, StoreError> {
        crate::store::mailbox::hash_password(password)
    }

    /// Adds or replaces an operator.
    pub fn put_operator(&mut self, operator: &Operator) -> Result<(), StoreError> {
        self.put(OPERATORS, &operator.username, operator)
    }

    /// Adds or replaces a holder.
    pub fn put_holder(&mut self, holder: &Holder) -> Result<(), StoreError> {
        let key = holder_key(&holder.ente, &holder.codice_fiscale);
        self.put(HOLDERS, &key, holder)
    }

    /// Records a change to a mailbox.
    pub fn record_change(&mut self, address: &str, change: &Change) -> Result<(), StoreError> {
        let seq = self.0.next("mailbox_history")?;
        let address = AddressKey::new(address);
        self.0
            .table(HISTORY)?
            .insert((address.as_str(), seq), encode(change)?.as_slice())?;
        Ok(())
    }

    /// Keeps a document with a mailbox; its `id` is given here.
    pub fn add_document(
        &mut self,
        address: &str,
        mut document: Document,
    ) -> Result<Document, StoreError> {
        document.id = self.0.next("mailbox_documents")?;
        let address = AddressKey::new(address);
        self.0.table(DOCUMENTS)?.insert(
            (address.as_str(), document.id),
            encode(&document)?.as_slice(),
        )?;
        Ok(document)
    }

    /// An operator, read inside the transaction that changes it.
    pub fn operator(&self, username: &str) -> Result<Option<Operator>, StoreError> {
        let table = self.0.table(OPERATORS)?;
        get(&table, &username.to_lowercase())
    }

    /// A domain, read inside the transaction that changes it.
    pub fn domain(&self, name: &str) -> Result<Option<Domain>, StoreError> {
        let table = self.0.table(DOMAINS)?;
        get(&table, &name.to_lowercase())
    }

    /// A holder of an ente, read inside the transaction that changes it.
    pub fn holder(&self, ente: &str, codice_fiscale: &str) -> Result<Option<Holder>, StoreError> {
        let table = self.0.table(HOLDERS)?;
        get(&table, &holder_key(ente, codice_fiscale))
    }

    /// The addresses of one ente's mailboxes, read inside the transaction that relies
    /// on them.
    pub fn ente_mailboxes(&self, ente: &str) -> Result<Vec<String>, StoreError> {
        let table = self.0.multimap(ENTE_MAILBOXES)?;
        let addresses = table.get(ente)?;
        Ok(addresses.iter().map(|v| v.value().to_string()).collect())
    }

    fn put<V: Serialize>(
        &mut self,
        definition: TableDefinition<'static, &'static str, &'static [u8]>,
        key: &str,
        value: &V,
    ) -> Result<(), StoreError> {
        self.0
            .table(definition)?
            .insert(key, encode(value)?.as_slice())?;
        Ok(())
    }
}

impl Management<&ReadTx<'_>> {
    /// Every managed domain besides the provider's own, by name.
    pub fn domains(&self) -> Result<Vec<Domain>, StoreError> {
        self.0.values(DOMAINS)
    }

    /// Whether `name` is an added managed domain.
    pub fn is_domain(&self, name: &str) -> Result<bool, StoreError> {
        let table = self.0.table(DOMAINS)?;
        Ok(table.get(name.to_ascii_lowercase().as_str())?.is_some())
    }

    /// Every operator, by username.
    pub fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        self.0.values(OPERATORS)
    }

    /// One operator.
    pub fn operator(&self, username: &str) -> Result<Option<Operator>, StoreError> {
        get(&self.0.table(OPERATORS)?, &username.to_lowercase())
    }

    /// The operator whose password this is, if enabled. Unknown names take the same
    /// time (a dummy hash is checked), so they cannot be told apart from outside.
    pub fn verify_operator(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Operator>, StoreError> {
        let operator = self.operator(username)?;
        let hash = operator
            .as_ref()
            .map_or(DUMMY_HASH, |o| o.password_hash.as_str());
        let ok = verify_argon2(password, hash);
        Ok(operator.filter(|o| ok && !o.disabled))
    }

    /// One holder of an ente.
    pub fn holder(&self, ente: &str, codice_fiscale: &str) -> Result<Option<Holder>, StoreError> {
        get(&self.0.table(HOLDERS)?, &holder_key(ente, codice_fiscale))
    }

    /// The holders of one ente, or of every ente when `ente` is `None`.
    pub fn holders(&self, ente: Option<&str>) -> Result<Vec<Holder>, StoreError> {
        let table = self.0.table(HOLDERS)?;
        let entries = match ente {
            Some(ente) => {
                let (first, past) = (format!("{ente}\0"), format!("{ente}\u{1}"));
                table.range(first.as_str()..past.as_str())?
            }
            None => table.iter()?,
        };
        entries.map(|entry| decode(entry?.1.value())).collect()
    }

    /// A mailbox's history, oldest first.
    pub fn history(&self, address: &str) -> Result<Vec<Change>, StoreError> {
        self.per_mailbox(HISTORY, address)
    }

    /// A mailbox's documents, oldest first.
    pub fn documents(&self, address: &str) -> Result<Vec<Document>, StoreError> {
        self.per_mailbox(DOCUMENTS, address)
    }

    /// The addresses of one ente's mailboxes (`""`: the provider's own).
    pub fn ente_mailboxes(&self, ente: &str) -> Result<Vec<String>, StoreError> {
        let table = self.0.multimap(ENTE_MAILBOXES)?;
        let addresses = table.get(ente)?;
        Ok(addresses.iter().map(|v| v.value().to_string()).collect())
    }

    /// The counters of one ente, or of every ente by name.
    pub fn counts(&self, ente: Option<&str>) -> Result<Vec<(String, Counts)>, StoreError> {
        tally::read(self.0, ente)
    }

    fn per_mailbox<V: serde::de::DeserializeOwned>(
        &self,
        definition: TableDefinition<'static, (&'static str, u64), &'static [u8]>,
        address: &str,
    ) -> Result<Vec<V>, StoreError> {
        let table = self.0.table(definition)?;
        let address = AddressKey::new(address);
        table
            .range((address.as_str(), 0)..=(address.as_str(), u64::MAX))?
            .map(|entry| decode(entry?.1.value()))
            .collect()
    }
}

fn get<V: serde::de::DeserializeOwned>(
    table: &Table<'_, &'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<V>, StoreError> {
    table
        .get(key)?
        .map(|bytes| decode(bytes.value()))
        .transpose()
}

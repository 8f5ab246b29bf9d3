//! Search over conserved messages: a tantivy full-text index under
//! `<data_dir>/conservation/index/`, one for all mailboxes. Each conserved message is one
//! document: its `mailbox`, the words of its subject, body text (first 64 KiB, and the
//! daticert subject), sender, recipients and attachment names (split on non-alphanumerics,
//! lower-cased, ASCII-folded, Italian-stemmed, so `ricevuta` finds `ricevute` and `perche`
//! finds `perché`), its PEC `kind` (a raw string) and its received time (a fast i64 field
//! of nanoseconds), plus the stored ids and header values a [`Hit`] shows.
//!
//! A query (`words… kind:K since:T until:T`) matches the messages of one mailbox holding
//! every word (AND; a word that splits into several tokens, like `atto.pdf`, needs all of
//! them), whose kind starts with `K` and that were received in the range.
//!
//! The package store stays the source of truth: documents are added after the store
//! transaction that records their package commits, each package's documents replacing any
//! earlier ones of the same package in one index commit; [`SearchIndex::sync`] adds every
//! recorded package the index lacks (reading the body text back from the package's message
//! files), so a missing, unreadable or lagging index is rebuilt from the packages.

use std::ops::Bound;
use std::path::Path;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;
use tantivy::Index;
use tantivy::IndexReader;
use tantivy::IndexWriter;
use tantivy::TantivyDocument;
use tantivy::Term;
use tantivy::collector::Count;
use tantivy::collector::DocSetCollector;
use tantivy::directory::MmapDirectory;
use tantivy::query::BooleanQuery;
use tantivy::query::Occur;
use tantivy::query::Query as _;
use tantivy::query::RangeQuery;
use tantivy::query::TermQuery;
use tantivy::schema::FAST;
use tantivy::schema::Field;
use tantivy::schema::INDEXED;
use tantivy::schema::IndexRecordOption;
use tantivy::schema::STORED;
use tantivy::schema::STRING;
use tantivy::schema::Schema;
use tantivy::schema::TextFieldIndexing;
use tantivy::schema::TextOptions;
use tantivy::schema::Value;
use tantivy::tokenizer::AsciiFoldingFilter;
use tantivy::tokenizer::Language;
use tantivy::tokenizer::LowerCaser;
use tantivy::tokenizer::RemoveLongFilter;
use tantivy::tokenizer::SimpleTokenizer;
use tantivy::tokenizer::Stemmer;
use tantivy::tokenizer::TextAnalyzer;

use crate::conservation::ConservationError;
use crate::conservation::archive::PackageRecord;
use crate::conservation::sip::Metadata;

/// The analyzer of the text fields.
const ANALYZER: &str = "pecd_it";
/// The index writer's memory budget.
const WRITER_BYTES: usize = 50_000_000;

/// A parsed query.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Query {
    /// Words that must all match (as typed; the index's analyzer folds and stems them).
    pub words: Vec<String>,
    /// `kind:` filter (prefix of the PEC kind).
    pub kind: Option<String>,
    /// `since:` filter.
    pub since: Option<Timestamp>,
    /// `until:` filter.
    pub until: Option<Timestamp>,
}

/// One hit.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Hit {
    /// The package.
    pub package: String,
    /// The SIP id.
    pub sip_id: String,
    /// The PEC kind.
    pub kind: String,
    /// When filed.
    pub received: Timestamp,
    /// From.
    pub from: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// The PEC msgid.
    pub pec_id: Option<String>,
}

impl Query {
    /// Parses `words… kind:K since:T until:T`; `parse_time` reads the dates.
    pub fn parse<E>(
        text: &str,
        parse_time: impl Fn(&str) -> Result<Timestamp, E>,
    ) -> Result<Query, E> {
        let mut query = Query::default();
        for token in text.split_whitespace() {
            if let Some(kind) = token.strip_prefix("kind:") {
                query.kind = Some(kind.to_lowercase());
            } else if let Some(time) = token.strip_prefix("since:") {
                query.since = Some(parse_time(time)?);
            } else if let Some(time) = token.strip_prefix("until:") {
                query.until = Some(parse_time(time)?);
            } else {
                query.words.push(token.to_string());
            }
        }
        Ok(query)
    }
}

/// The schema's fields.
#[derive(Clone, Copy)]
struct Fields {
    mailbox: Field,
    package: Field,
    sip_id: Field,
    kind: Field,
    received: Field,
    subject: Field,
    body: Field,
    sender: Field,
    recipients: Field,
    attachments: Field,
    pec_id: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::Basic);
        let text = TextOptions::default().set_indexing_options(indexing);
        let stored_text = text.clone().set_stored();
        let fields = Fields {
            mailbox: builder.add_text_field("mailbox", STRING),
            package: builder.add_text_field("package", STRING | STORED),
            sip_id: builder.add_text_field("sip_id", STRING | STORED),
            kind: builder.add_text_field("kind", STRING | STORED),
            received: builder.add_i64_field("received", INDEXED | FAST | STORED),
            subject: builder.add_text_field("subject", stored_text.clone()),
            body: builder.add_text_field("body", text.clone()),
            sender: builder.add_text_field("sender", stored_text),
            recipients: builder.add_text_field("recipients", text.clone()),
            attachments: builder.add_text_field("attachments", text),
            pec_id: builder.add_text_field("pec_id", STORED),
        };
        (builder.build(), fields)
    }

    fn text(&self) -> [Field; 5] {
        [
            self.subject,
            self.body,
            self.sender,
            self.recipients,
            self.attachments,
        ]
    }
}

/// Split on non-alphanumerics, long tokens dropped, lower-cased, ASCII-folded, stemmed.
fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(48))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::Italian))
        .build()
}

fn fault(error: tantivy::TantivyError) -> ConservationError {
    ConservationError::Search(error)
}

/// One message to index: its metadata and its body text.
pub struct Document<'a> {
    /// The message's metadata, as recorded.
    pub metadata: &'a Metadata,
    /// The body text ([`crate::conservation::sip::body_text`]).
    pub body: String,
}

/// The full-text index of the conserved messages.
pub struct SearchIndex {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    synced: std::sync::atomic::AtomicBool,
}

impl SearchIndex {
    /// Opens (or creates) the index in `dir`; one that cannot be opened (damaged, or of
    /// another schema) is removed and created anew, empty: [`SearchIndex::sync`] refills it.
    pub fn open(dir: &Path) -> Result<SearchIndex, ConservationError> {
        let (schema, fields) = Fields::schema();
        let index = match open_index(dir, &schema) {
            Ok(index) => index,
            Err(error) => {
                tracing::warn!(%error, dir = %dir.display(), "search index unusable; rebuilding it");
                let _ = std::fs::remove_dir_all(dir);
                open_index(dir, &schema).map_err(fault)?
            }
        };
        index.tokenizers().register(ANALYZER, analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .map_err(fault)?;
        Ok(SearchIndex {
            dir: dir.to_path_buf(),
            index,
            reader,
            fields,
            synced: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Where the index lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether [`SearchIndex::sync`] ran and every package since was indexed.
    pub fn is_synced(&self) -> bool {
        self.synced.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Indexes the messages of packages (`docs` holds each package's documents), replacing
    /// whatever the index held for them, in one commit. On failure the index is marked
    /// behind, so the next search syncs it first.
    pub fn add(
        &self,
        packages: &[(&str, &str, Vec<Document<'_>>)],
    ) -> Result<(), ConservationError> {
        let added = self.write(packages);
        if added.is_err() {
            self.synced
                .store(false, std::sync::atomic::Ordering::Release);
        }
        added
    }

    fn write(&self, packages: &[(&str, &str, Vec<Document<'_>>)]) -> Result<(), ConservationError> {
        if packages.is_empty() {
            return Ok(());
        }
        let f = self.fields;
        let mut writer: IndexWriter<TantivyDocument> = self
            .index
            .writer_with_num_threads(1, WRITER_BYTES)
            .map_err(fault)?;
        for (package, mailbox, docs) in packages {
            writer.delete_term(Term::from_field_text(f.package, package));
            for doc in docs {
                writer
                    .add_document(self.document(package, mailbox, doc))
                    .map_err(fault)?;
            }
        }
        writer.commit().map_err(fault)?;
        writer.wait_merging_threads().map_err(fault)?;
        self.reader.reload().map_err(fault)
    }

    fn document(&self, package: &str, mailbox: &str, doc: &Document<'_>) -> TantivyDocument {
        let f = self.fields;
        let m = doc.metadata;
        let mut out = TantivyDocument::default();
        out.add_text(f.mailbox, mailbox.to_lowercase());
        out.add_text(f.package, package);
        out.add_text(f.sip_id, &m.sip_id);
        out.add_text(f.kind, m.kind.to_lowercase());
        out.add_i64(f.received, nanos(m.received));
        if let Some(subject) = &m.subject {
            out.add_text(f.subject, subject);
        }
        out.add_text(f.body, distinct_words(&doc.body));
        if let Some(oggetto) = m.daticert.get("oggetto") {
            out.add_text(f.body, oggetto);
        }
        if let Some(from) = &m.from {
            out.add_text(f.sender, from);
        }
        for recipient in &m.recipients {
            out.add_text(f.recipients, recipient);
        }
        for name in &m.attachments {
            out.add_text(f.attachments, name);
        }
        if let Some(pec_id) = &m.pec_id {
            out.add_text(f.pec_id, pec_id);
        }
        out
    }

    /// Indexes every recorded package the index lacks (or holds with another message
    /// count), reading each message's body text from `root/<package>/…/message.eml`.
    /// Returns how many packages were (re)indexed.
    pub fn sync(&self, records: &[PackageRecord], root: &Path) -> Result<usize, ConservationError> {
        let searcher = self.reader.searcher();
        let mut behind = Vec::new();
        for record in records {
            let term = Term::from_field_text(self.fields.package, &record.id);
            let query = TermQuery::new(term, IndexRecordOption::Basic);
            let held = query.count(&searcher).map_err(fault)?;
            if held != record.messages.len() {
                behind.push(record);
            }
        }
        let mut batch = Vec::new();
        for record in &behind {
            let docs = record
                .messages
                .iter()
                .map(|message| {
                    let sip = &message.metadata.sip_id;
                    let path = root
                        .join(&record.id)
                        .join(format!("data/representations/rep1/data/{sip}/message.eml"));
                    let body = crate::conservation::files::read(&path)
                        .map(|raw| crate::conservation::sip::body_text(&raw))
                        .unwrap_or_default();
                    Document {
                        metadata: &message.metadata,
                        body,
                    }
                })
                .collect();
            batch.push((record.id.as_str(), record.mailbox.as_str(), docs));
            if batch.len() >= 16 {
                self.write(&batch)?;
                batch.clear();
            }
        }
        self.write(&batch)?;
        self.synced
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(behind.len())
    }

    /// The hits of `query` among `mailbox`'s messages, oldest first.
    pub fn search(&self, mailbox: &str, query: &Query) -> Result<Vec<Hit>, ConservationError> {
        let query = self.tantivy_query(mailbox, query);
        let searcher = self.reader.searcher();
        let found = searcher.search(&query, &DocSetCollector).map_err(fault)?;
        let mut hits = Vec::with_capacity(found.len());
        for address in found {
            let doc: TantivyDocument = searcher.doc(address).map_err(fault)?;
            hits.push(hit(self.fields, &doc));
        }
        hits.sort_by(|a, b| {
            (a.received, &a.package, &a.sip_id).cmp(&(b.received, &b.package, &b.sip_id))
        });
        Ok(hits)
    }

    /// `query` within `mailbox` as tantivy's: every word (analysed as the index is) in
    /// some text field, the kind as a prefix, the dates as a range.
    fn tantivy_query(&self, mailbox: &str, query: &Query) -> BooleanQuery {
        let f = self.fields;
        let term = |field: Field, text: &str| -> Box<dyn tantivy::query::Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, text),
                IndexRecordOption::Basic,
            ))
        };
        let mut must = vec![term(f.mailbox, &mailbox.to_lowercase())];
        let mut analyzer = analyzer();
        for word in &query.words {
            let mut stream = analyzer.token_stream(word);
            while stream.advance() {
                let token = stream.token().text.clone();
                let any_field = f
                    .text()
                    .into_iter()
                    .map(|field| (Occur::Should, term(field, &token)))
                    .collect();
                must.push(Box::new(BooleanQuery::new(any_field)));
            }
        }
        if let Some(kind) = &query.kind {
            must.push(Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_text(f.kind, kind)),
                Bound::Excluded(Term::from_field_text(f.kind, &format!("{kind}\u{10FFFF}"))),
            )));
        }
        if query.since.is_some() || query.until.is_some() {
            let bound = |t: Option<Timestamp>| {
                t.map_or(Bound::Unbounded, |t| {
                    Bound::Included(Term::from_field_i64(f.received, nanos(t)))
                })
            };
            must.push(Box::new(RangeQuery::new(
                bound(query.since),
                bound(query.until),
            )));
        }
        BooleanQuery::new(must.into_iter().map(|q| (Occur::Must, q)).collect())
    }

    /// How many messages the index holds.
    pub fn len(&self) -> Result<usize, ConservationError> {
        let searcher = self.reader.searcher();
        searcher
            .search(&tantivy::query::AllQuery, &Count)
            .map_err(fault)
    }

    /// Whether the index holds no message.
    pub fn is_empty(&self) -> Result<bool, ConservationError> {
        self.len().map(|n| n == 0)
    }
}

/// The distinct words of a text, in first-seen order: matching needs neither
/// frequencies nor positions, so the analyzer (and its stemmer) sees each word once.
fn distinct_words(text: &str) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::with_capacity(text.len().min(16 * 1024));
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if !word.is_empty() && seen.insert(word) {
            out.push_str(word);
            out.push(' ');
        }
    }
    out
}

fn open_index(dir: &Path, schema: &Schema) -> tantivy::Result<Index> {
    std::fs::create_dir_all(dir)?;
    let directory = MmapDirectory::open(dir)?;
    Index::open_or_create(directory, schema.clone())
}

/// A time as i64 nanoseconds (saturating outside 1678–2262).
fn nanos(t: Timestamp) -> i64 {
    let n = t.as_nanosecond();
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// A found document as a hit (a field the document lacks reads as empty).
fn hit(f: Fields, doc: &TantivyDocument) -> Hit {
    let text = |field: Field| {
        doc.get_first(field)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let received = doc
        .get_first(f.received)
        .and_then(|v| v.as_i64())
        .map_or(Timestamp::UNIX_EPOCH, |n| {
            Timestamp::from_nanosecond(i128::from(n)).unwrap_or(Timestamp::UNIX_EPOCH)
        });
    Hit {
        package: text(f.package).unwrap_or_default(),
        sip_id: text(f.sip_id).unwrap_or_default(),
        kind: text(f.kind).unwrap_or_default(),
        received,
        from: text(f.sender),
        subject: text(f.subject),
        pec_id: text(f.pec_id),
    }
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;

//! The CSV downloads of the management plane (search results, reports): RFC 4180,
//! UTF-8, a header row, CRLF line ends, written with the `csv` crate so quoting is
//! right for every cell, and opened as they are by spreadsheets.
//!
//! Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` as a formula, and
//! LibreOffice and Excel also skip a leading tab or carriage return before deciding;
//! a holder's name such as `=HYPERLINK("http://…")` would then act when an operator
//! opens the report (CSV or formula injection). Every such cell is written with a
//! leading `'`, which spreadsheets show as text and never evaluate.

use std::borrow::Cow;

/// The media type of what [`Table::finish`] returns, for the download's
/// `Content-Type` (RFC 4180 §3 and RFC 6657: UTF-8, with a header row).
pub const CONTENT_TYPE: &str = "text/csv; charset=utf-8; header=present";

/// Why a table could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// A row has a different number of cells than the header.
    #[error("row {row} has {found} cells, the header has {expected}")]
    Width {
        /// The row's position among the data rows, from 1.
        row: usize,
        /// Its number of cells.
        found: usize,
        /// The header's.
        expected: usize,
    },
    /// The CSV writer failed.
    #[error("writing CSV")]
    Write(#[from] ::csv::Error),
    /// The written bytes could not be flushed out of the writer.
    #[error("finishing CSV")]
    Finish(#[source] std::io::Error),
}

/// A CSV document being written: the header, then rows of the same width.
pub struct Table {
    writer: ::csv::Writer<Vec<u8>>,
    width: usize,
    rows: usize,
}

impl Table {
    /// A table with this header row.
    pub fn new<I, S>(header: I) -> Result<Table, CsvError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let writer = ::csv::WriterBuilder::new()
            .terminator(::csv::Terminator::CRLF)
            // Every cell quoted: a spreadsheet whose list separator is `;` (Excel's
            // in Italy) splits an unquoted cell at each `;`, and what follows one
            // would start a formula no prefix neutralised.
            .quote_style(::csv::QuoteStyle::Always)
            .from_writer(Vec::new());
        let mut table = Table {
            writer,
            width: 0,
            rows: 0,
        };
        let cells = neutralized(header);
        table.width = cells.len();
        table
            .writer
            .write_record(cells.iter().map(|c| c.as_bytes()))?;
        Ok(table)
    }

    /// Appends one data row; its cells are neutralized ([`neutralize`]).
    pub fn row<I, S>(&mut self, cells: I) -> Result<(), CsvError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let cells = neutralized(cells);
        self.rows += 1;
        if cells.len() != self.width {
            return Err(CsvError::Width {
                row: self.rows,
                found: cells.len(),
                expected: self.width,
            });
        }
        self.writer
            .write_record(cells.iter().map(|c| c.as_bytes()))?;
        Ok(())
    }

    /// The document's bytes.
    pub fn finish(self) -> Result<Vec<u8>, CsvError> {
        self.writer
            .into_inner()
            .map_err(|e| CsvError::Finish(e.into_error()))
    }
}

/// `cell`, with a `'` in front when a spreadsheet would read it as a formula: when it
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return.
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The first characters that make a spreadsheet cell a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The cells of one row, each neutralized.
fn neutralized<I, S>(cells: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    cells
        .into_iter()
        .map(|cell| neutralize(cell.as_ref()).into_owned())
        .collect()
}

/// The fuzz target `manage_fields`'s CSV half: the text cut at `,` into the cells of
/// one row (with a header as wide) is written, read back with the `csv` reader, and
/// must come back cell by cell as [`neutralize`] made it, none of them a formula.
#[doc(hidden)]
pub fn fuzz_table(text: &str) {
    let cells: Vec<&str> = text.split(',').collect();
    let header: Vec<String> = (0..cells.len()).map(|i| format!("c{i}")).collect();
    let Ok(mut table) = Table::new(&header) else {
        return;
    };
    if table.row(&cells).is_err() {
        return;
    }
    let Ok(bytes) = table.finish() else {
        return;
    };
    let mut reader = ::csv::ReaderBuilder::new().from_reader(bytes.as_slice());
    let records: Vec<::csv::StringRecord> = reader.records().filter_map(Result::ok).collect();
    assert_eq!(records.len(), 1, "one data row: {text:?}");
    let read: Vec<&str> = records[0].iter().collect();
    let expected: Vec<Cow<'_, str>> = cells.iter().map(|cell| neutralize(cell)).collect();
    assert_eq!(read, expected, "the row reads back as written");
    assert!(
        read.iter().all(|cell| !cell.starts_with(FORMULA_STARTS)),
        "no cell starts a formula: {read:?}"
    );
}

#[cfg(test)]
mod tests;

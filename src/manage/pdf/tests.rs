//! The PDF check on real files (hand-made, printed by Chromium, rewritten by qpdf) and
//! on what an upload form receives instead: truncated files, renamed text, oversized
//! files, garbage, and PDFs broken or crafted in one place each.

use std::io::Write;

use super::*;

const MINIMAL: &[u8] = include_bytes!("../../../tests/data/pdf/minimal.pdf");
const UPDATED: &[u8] = include_bytes!("../../../tests/data/pdf/updated.pdf");
const COMPRESSED: &[u8] = include_bytes!("../../../tests/data/pdf/compressed.pdf");
const CHROMIUM: &[u8] = include_bytes!("../../../tests/data/pdf/chromium.pdf");
const QPDF_OBJSTM: &[u8] = include_bytes!("../../../tests/data/pdf/qpdf-objstm.pdf");
const QPDF_LINEARIZED: &[u8] = include_bytes!("../../../tests/data/pdf/qpdf-linearized.pdf");
const QPDF_ENCRYPTED: &[u8] = include_bytes!("../../../tests/data/pdf/qpdf-encrypted.pdf");

const LIMIT: usize = 10 << 20;

/// A PDF 1.4 file of `objects` (object 1 first) with a correct xref table and a trailer
/// of `/Size`, `/Root 1 0 R` and `trailer_extra`.
fn pdf(objects: &[&str], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        write!(out, "{} 0 obj\n{body}\nendobj\n", i + 1).unwrap();
    }
    let xref = out.len();
    write!(out, "xref\n0 {}\n0000000000 65535 f\r\n", objects.len() + 1).unwrap();
    for offset in offsets {
        write!(out, "{offset:010} 00000 n\r\n").unwrap();
    }
    write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R{trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    )
    .unwrap();
    out
}

const CATALOG: &str = "<< /Type /Catalog /Pages 2 0 R >>";
const PAGES: &str = "<< /Type /Pages /Kids [3 0 R] /Count 1 >>";
const PAGE: &str = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>";

fn version(major: u8, minor: u8) -> PdfVersion {
    PdfVersion { major, minor }
}

#[test]
fn real_pdfs_are_accepted() {
    let cases = [
        ("minimal", MINIMAL, version(1, 4), 1, 1),
        ("updated", UPDATED, version(1, 4), 2, 2),
        ("compressed", COMPRESSED, version(1, 5), 1, 1),
        ("chromium", CHROMIUM, version(1, 4), 1, 1),
        ("qpdf-objstm", QPDF_OBJSTM, version(1, 5), 1, 1),
        ("qpdf-linearized", QPDF_LINEARIZED, version(1, 4), 1, 2),
    ];
    for (name, bytes, version, pages, revisions) in cases {
        let info = check(bytes, LIMIT).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(
            info,
            PdfInfo {
                version,
                pages,
                revisions,
                bytes: bytes.len(),
            },
            "{name}"
        );
    }
    assert_eq!(version(1, 7).to_string(), "1.7");
}

#[test]
fn a_crafted_pdf_with_the_test_builder_is_accepted() {
    let info = check(&pdf(&[CATALOG, PAGES, PAGE], ""), LIMIT).unwrap();
    assert_eq!(info.pages, 1);
}

#[test]
fn every_truncation_is_refused() {
    for (name, bytes, step) in [
        ("minimal", MINIMAL, 1),
        ("compressed", COMPRESSED, 1),
        ("chromium", CHROMIUM, 7),
        ("qpdf-objstm", QPDF_OBJSTM, 7),
    ] {
        // These files end with `%%EOF` and a line feed; every shorter prefix lacks
        // the final marker.
        let complete = bytes.len() - 1;
        for len in (0..complete).step_by(step).chain(complete - 8..complete) {
            let result = check(&bytes[..len], LIMIT);
            assert!(result.is_err(), "{name} cut to {len} bytes was accepted");
        }
    }
    let error = check(&CHROMIUM[..CHROMIUM.len() / 2], LIMIT).unwrap_err();
    assert!(matches!(error, PdfError::Truncated), "{error:?}");
    assert_eq!(
        error.to_string(),
        "Il PDF è incompleto: il file si interrompe prima della fine."
    );
}

#[test]
fn text_renamed_to_pdf_is_refused() {
    let files: [&[u8]; 5] = [
        "Gentile cliente,\nin allegato il contratto.\n".as_bytes(),
        b"<!doctype html><html><body>%PDF-1.4</body></html>\n%%EOF\n",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        b"PK\x03\x04\x14\0\x06\0word/document.xml",
        b" %PDF-1.4\n",
    ];
    for file in files {
        let error = check(file, LIMIT).unwrap_err();
        assert!(matches!(error, PdfError::NotPdf), "{error:?}");
        assert_eq!(error.to_string(), "Il file non è un PDF.");
    }
    assert!(matches!(check(b"", LIMIT), Err(PdfError::Empty)));
}

#[test]
fn a_header_and_an_end_marker_alone_are_not_a_pdf() {
    let fake = b"%PDF-1.7\nQuesto testo finge di essere un PDF.\n%%EOF\n";
    assert!(matches!(check(fake, LIMIT), Err(PdfError::StartXref)));
    let pointing_nowhere = b"%PDF-1.7\ntesto\nstartxref\n9999\n%%EOF\n";
    assert!(matches!(
        check(pointing_nowhere, LIMIT),
        Err(PdfError::StartXref)
    ));
    let pointing_at_text = b"%PDF-1.7\ntesto\nstartxref\n9\n%%EOF\n";
    assert!(matches!(
        check(pointing_at_text, LIMIT),
        Err(PdfError::Xref(XrefError::Missing(9)))
    ));
}

#[test]
fn too_large_files_are_refused_before_parsing() {
    let error = check(MINIMAL, MINIMAL.len() - 1).unwrap_err();
    assert!(
        matches!(error, PdfError::TooLarge { size, max } if size == MINIMAL.len() && max == MINIMAL.len() - 1),
        "{error:?}"
    );
    assert!(check(MINIMAL, MINIMAL.len()).is_ok());
    let big = vec![b'x'; (10 << 20) + 1];
    let error = check(&big, 10 << 20).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Il file è troppo grande: il limite è di 10 MB."
    );
    let error = check(&big, 5 << 19).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Il file è troppo grande: il limite è di 2,5 MB."
    );
}

#[test]
fn garbage_is_refused_without_panicking() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..300 {
        let len = usize::try_from(next() % 4096).unwrap();
        let mut bytes: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
        if round % 2 == 0 {
            bytes.splice(0..0, b"%PDF-1.4\n".iter().copied());
            write!(bytes, "\nstartxref\n{}\n%%EOF\n", next() % 4096).unwrap();
        }
        assert!(check(&bytes, LIMIT).is_err(), "round {round}");
    }
}

#[test]
fn a_pdf_without_a_catalog_or_pages_is_refused() {
    let no_root = String::from_utf8(pdf(&[CATALOG, PAGES, PAGE], ""))
        .unwrap()
        .replace("/Root 1 0 R", "/Info 1 0 R");
    assert!(matches!(
        check(no_root.as_bytes(), LIMIT),
        Err(PdfError::NoRoot)
    ));
    let not_catalog = pdf(&["<< /Type /Page /Pages 2 0 R >>", PAGES, PAGE], "");
    assert!(matches!(check(&not_catalog, LIMIT), Err(PdfError::Catalog)));
    let no_pages = pdf(&["<< /Type /Catalog >>", PAGES, PAGE], "");
    assert!(matches!(check(&no_pages, LIMIT), Err(PdfError::Catalog)));
    let empty = pdf(&[CATALOG, "<< /Type /Pages /Kids [] /Count 0 >>"], "");
    let error = check(&empty, LIMIT).unwrap_err();
    assert!(matches!(error, PdfError::NoPages), "{error:?}");
    assert_eq!(error.to_string(), "Il PDF non contiene pagine.");
    let root_not_dictionary = pdf(&["[1 2 3]", PAGES, PAGE], "");
    assert!(matches!(
        check(&root_not_dictionary, LIMIT),
        Err(PdfError::Object {
            number: 1,
            reason: ObjectError::Type
        })
    ));
}

#[test]
fn wrong_xref_offsets_are_refused() {
    let good = pdf(&[CATALOG, PAGES, PAGE], "");
    let text = String::from_utf8(good).unwrap();
    // Object 1's entry moved one byte on: its offset no longer leads to `1 0 obj`.
    let moved = text.replacen("0000000009 00000 n", "0000000010 00000 n", 1);
    assert_ne!(moved, text);
    assert!(matches!(
        check(moved.as_bytes(), LIMIT),
        Err(PdfError::Object {
            number: 1,
            reason: ObjectError::Header
        })
    ));
    let broken_entry = text.replacen("00000 n\r\n", "0000x n\r\n", 1);
    assert!(matches!(
        check(broken_entry.as_bytes(), LIMIT),
        Err(PdfError::Xref(XrefError::Table(_)))
    ));
}

#[test]
fn encrypted_pdfs_are_refused() {
    let error = check(QPDF_ENCRYPTED, LIMIT).unwrap_err();
    assert!(matches!(error, PdfError::Encrypted), "{error:?}");
    assert_eq!(
        error.to_string(),
        "Il PDF è protetto da password o cifrato: caricare una copia senza protezione."
    );
}

#[test]
fn a_prev_chain_that_loops_is_refused() {
    let text = String::from_utf8(pdf(&[CATALOG, PAGES, PAGE], "")).unwrap();
    let xref = text.find("xref\n").unwrap();
    let looped = text.replace("/Root 1 0 R", &format!("/Root 1 0 R /Prev {xref}"));
    assert!(matches!(
        check(looped.as_bytes(), LIMIT),
        Err(PdfError::Xref(XrefError::Chain))
    ));
}

#[test]
fn deep_nesting_ends_in_an_error_not_a_stack_overflow() {
    let deep = format!(
        "<< /Type /Catalog /Pages 2 0 R /X {} >>",
        "[".repeat(100_000)
    );
    let error = check(&pdf(&[&deep, PAGES, PAGE], ""), LIMIT).unwrap_err();
    assert!(
        matches!(
            error,
            PdfError::Object {
                number: 1,
                reason: ObjectError::Syntax(SyntaxError::TooDeep(_))
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_decompression_bomb_stops_at_the_limit() {
    // 17 MiB of zeros compress to a few kilobytes: a cross-reference stream that
    // claims them is refused without holding more than the limit.
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0u8; 17 << 20]).unwrap();
    let bomb = encoder.finish().unwrap();
    let mut file = b"%PDF-1.5\n".to_vec();
    let offset = file.len();
    write!(
        file,
        "1 0 obj\n<< /Type /XRef /Size 1 /W [1 2 1] /Root 1 0 R /Filter /FlateDecode /Length {} >>\nstream\n",
        bomb.len()
    )
    .unwrap();
    file.extend_from_slice(&bomb);
    write!(file, "\nendstream\nendobj\nstartxref\n{offset}\n%%EOF\n").unwrap();
    let error = check(&file, LIMIT).unwrap_err();
    assert!(
        matches!(
            error,
            PdfError::Xref(XrefError::Stream(StreamError::TooLarge))
        ),
        "{error:?}"
    );
}

#[test]
fn every_png_predictor_is_undone() {
    // Rows encoded with each filter type by the PNG rules, decoded back.
    let rows: [[u8; 4]; 5] = [
        [1, 2, 3, 4],
        [200, 7, 255, 0],
        [9, 9, 9, 9],
        [0, 128, 64, 32],
        [250, 1, 2, 3],
    ];
    let mut encoded = Vec::new();
    let mut above = [0u8; 4];
    for (kind, row) in rows.iter().enumerate() {
        encoded.push(u8::try_from(kind).unwrap());
        for i in 0..4 {
            let left = if i > 0 { row[i - 1] } else { 0 };
            let up_left = if i > 0 { above[i - 1] } else { 0 };
            let prediction = match kind {
                0 => 0,
                1 => left,
                2 => above[i],
                3 => ((u16::from(left) + u16::from(above[i])) / 2) as u8,
                _ => stream::paeth(left, above[i], up_left),
            };
            encoded.push(row[i].wrapping_sub(prediction));
        }
        above = *row;
    }
    let parameters = "<< /DecodeParms << /Predictor 15 /Columns 4 >> >>";
    let Object::Dictionary(dictionary) = Cursor::new(parameters.as_bytes(), 0).object().unwrap()
    else {
        panic!("not a dictionary");
    };
    let decoded = stream::decode(&dictionary, &encoded).unwrap();
    assert_eq!(decoded, rows.concat());
    encoded[5] = 5;
    assert!(matches!(
        stream::decode(&dictionary, &encoded),
        Err(StreamError::Rows)
    ));
}

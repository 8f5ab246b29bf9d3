//! One test per rule of the form fields: values that pass (and what they become),
//! values each rule refuses, and the message shown for them.

use super::*;

#[test]
fn codice_fiscale_accepts_valid_codes_and_upper_cases_them() {
    assert_eq!(
        codice_fiscale("RSSMRA80A01H501U").unwrap(),
        "RSSMRA80A01H501U"
    );
    assert_eq!(
        codice_fiscale("  rssmra80a01h501u ").unwrap(),
        "RSSMRA80A01H501U"
    );
    // A woman born on the 1st of August 1975 in Milan: day 41.
    assert_eq!(
        codice_fiscale("BNCGLI75M41F205Z").unwrap(),
        "BNCGLI75M41F205Z"
    );
    // Born in 2013 abroad (codice catastale of a foreign state starts with Z).
    assert_eq!(
        codice_fiscale("VRDGPP13R10Z404K").unwrap(),
        "VRDGPP13R10Z404K"
    );
}

#[test]
fn codice_fiscale_accepts_omocodia_letters_in_every_digit_position() {
    // RSSMRA80A01H501U with its last digit, then its last two, then all seven
    // replaced by their omocodia letters (1 → M, 0 → L, 5 → R, 8 → U).
    for code in ["RSSMRA80A01H50MM", "RSSMRA80A01H5LMX", "RSSMRAULALMHRLMD"] {
        assert_eq!(codice_fiscale(code).unwrap(), code, "{code}");
    }
}

#[test]
fn codice_fiscale_refuses_a_wrong_check_character() {
    for code in ["RSSMRA80A01H501A", "RSSMRA80A01H50MU", "BNCGLI75M41F205Y"] {
        let error = codice_fiscale(code).unwrap_err();
        assert!(
            matches!(error, FieldError::CodiceFiscaleCheck),
            "{code}: {error:?}"
        );
        assert_eq!(
            error.to_string(),
            "Il carattere di controllo del codice fiscale non è corretto."
        );
    }
    // One transposed pair of digits changes the check character.
    assert!(matches!(
        codice_fiscale("RSSMRA08A01H501U"),
        Err(FieldError::CodiceFiscaleCheck)
    ));
}

#[test]
fn codice_fiscale_refuses_wrong_lengths() {
    for code in [
        "RSSMRA80A01H501",
        "RSSMRA80A01H501UU",
        "R",
        "RSSMRA80A01H501U1",
    ] {
        let error = codice_fiscale(code).unwrap_err();
        assert!(
            matches!(error, FieldError::CodiceFiscaleLength),
            "{code}: {error:?}"
        );
        assert_eq!(
            error.to_string(),
            "Il codice fiscale deve avere 16 caratteri."
        );
    }
    // The 11-digit codice fiscale of a company is not a person's.
    assert!(matches!(
        codice_fiscale("06363391001"),
        Err(FieldError::CodiceFiscaleLength)
    ));
}

#[test]
fn codice_fiscale_refuses_what_is_not_its_shape() {
    let cases = [
        ("", "Missing"),
        ("   ", "Missing"),
        ("RSSMRA80A01H501-", "CodiceFiscaleCharacters"),
        ("RSSMRA80A01H501È", "CodiceFiscaleCharacters"),
        ("RSS MRA80A01H501U", "CodiceFiscaleCharacters"),
        ("RSSMR180A01H501U", "CodiceFiscaleShape"),
        ("RSSMRA8AA01H501U", "CodiceFiscaleShape"),
        ("RSSMRA80A01H5W1U", "CodiceFiscaleShape"),
        ("RSSMRA80A0125010", "CodiceFiscaleShape"),
        ("RSSMRA80F01H501U", "CodiceFiscaleMonth"),
        ("RSSMRA80A00H501U", "CodiceFiscaleDay"),
        ("RSSMRA80A32H501U", "CodiceFiscaleDay"),
        ("RSSMRA80A40H501U", "CodiceFiscaleDay"),
        ("RSSMRA80A72H501U", "CodiceFiscaleDay"),
    ];
    for (code, expected) in cases {
        let error = codice_fiscale(code).unwrap_err();
        assert!(
            format!("{error:?}").starts_with(expected),
            "{code}: {error:?}"
        );
    }
}

#[test]
fn partita_iva_accepts_valid_numbers() {
    assert_eq!(partita_iva("06363391001").unwrap(), "06363391001");
    assert_eq!(partita_iva(" 00743110157 ").unwrap(), "00743110157");
    assert_eq!(partita_iva("IT02114320969").unwrap(), "02114320969");
    assert_eq!(partita_iva("123 4567 8903").unwrap(), "12345678903");
}

#[test]
fn partita_iva_refuses_invalid_numbers() {
    let cases = [
        ("", "Il campo è obbligatorio."),
        (
            "06363391002",
            "La cifra di controllo della partita IVA non è corretta.",
        ),
        (
            "00743110151",
            "La cifra di controllo della partita IVA non è corretta.",
        ),
        ("0636339100", "La partita IVA deve avere 11 cifre."),
        ("063633910011", "La partita IVA deve avere 11 cifre."),
        ("0636339100A", "La partita IVA può contenere solo cifre."),
        ("06363391-01", "La partita IVA può contenere solo cifre."),
        (
            "00000000000",
            "La partita IVA non è valida: le prime sette cifre non possono essere tutte zero.",
        ),
    ];
    for (number, message) in cases {
        let error = partita_iva(number).unwrap_err();
        assert_eq!(error.to_string(), message, "{number}");
    }
}

#[test]
fn cap_is_five_digits() {
    assert_eq!(cap(" 00184 ").unwrap(), "00184");
    for bad in ["0018", "001845", "0018a", "00 184"] {
        assert!(matches!(cap(bad), Err(FieldError::Cap)), "{bad}");
    }
    assert!(matches!(cap(""), Err(FieldError::Missing)));
}

#[test]
fn provincia_is_a_real_sigla_or_abroad() {
    assert_eq!(provincia("rm").unwrap(), "RM");
    assert_eq!(provincia("SU").unwrap(), "SU");
    assert_eq!(provincia("ee").unwrap(), "EE");
    for bad in ["XX", "R", "ROMA", "R1", "ZZ"] {
        let error = provincia(bad).unwrap_err();
        assert!(matches!(error, FieldError::Provincia), "{bad}");
    }
}

#[test]
fn province_are_sorted_and_distinct_so_binary_search_finds_each() {
    assert!(PROVINCE.windows(2).all(|pair| pair[0] < pair[1]));
    for sigla in PROVINCE {
        assert!(provincia(sigla).is_ok(), "{sigla}");
    }
}

#[test]
fn telefono_keeps_digits_and_a_leading_plus() {
    assert_eq!(telefono("+39 06 1234 5678").unwrap(), "+390612345678");
    assert_eq!(telefono("(06) 123-456.78").unwrap(), "0612345678");
    assert_eq!(telefono("333/1234567").unwrap(), "3331234567");
    let cases = [
        ("06 1234 567 x", FieldError::TelefonoCharacters),
        ("06+1234567", FieldError::TelefonoCharacters),
        ("++390612345", FieldError::TelefonoCharacters),
        ("12345", FieldError::TelefonoLength),
        ("+1234567890123456", FieldError::TelefonoLength),
    ];
    for (number, expected) in cases {
        let error = telefono(number).unwrap_err();
        assert_eq!(error.to_string(), expected.to_string(), "{number}");
    }
}

#[test]
fn email_uses_the_address_parser_and_lower_cases_the_domain() {
    assert_eq!(
        email(" Mario.Rossi@Example.IT ").unwrap(),
        "Mario.Rossi@example.it"
    );
    for bad in [
        "mario",
        "mario@",
        "@example.it",
        "mario rossi@example.it",
        "a@b@",
    ] {
        let error = email(bad).unwrap_err();
        assert!(matches!(error, FieldError::Email(_)), "{bad}: {error:?}");
        assert_eq!(error.to_string(), "L'indirizzo e-mail non è valido.");
        assert!(std::error::Error::source(&error).is_some());
    }
    assert!(matches!(
        email("mario\u{202E}@example.it"),
        Err(FieldError::ControlCharacter)
    ));
}

#[test]
fn dominio_is_what_follows_the_at_sign() {
    assert_eq!(dominio("PEC.Example.IT").unwrap(), "pec.example.it");
    for bad in ["pec example.it", "-pec.it", "pec..it", "user@pec.it"] {
        assert!(matches!(dominio(bad), Err(FieldError::Domain(_))), "{bad}");
    }
}

#[test]
fn names_are_one_trimmed_line_within_the_cap() {
    assert_eq!(nome("  Maria   Luisa ").unwrap(), "Maria Luisa");
    assert_eq!(nome("D'Annunzio-Ñúñez").unwrap(), "D'Annunzio-Ñúñez");
    // Markup is kept as typed: the pages escape it where they show it.
    assert_eq!(nome("<b>Rossi</b>").unwrap(), "<b>Rossi</b>");
    assert!(matches!(nome(" \t"), Err(FieldError::ControlCharacter)));
    assert!(matches!(nome("   "), Err(FieldError::Missing)));
    assert!(nome(&"à".repeat(MAX_NAME_CHARS)).is_ok());
    let error = nome(&"à".repeat(MAX_NAME_CHARS + 1)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Il testo può avere al massimo 100 caratteri."
    );
    assert!(ragione_sociale(&"x".repeat(MAX_COMPANY_CHARS)).is_ok());
    assert!(indirizzo(&"x".repeat(MAX_ADDRESS_CHARS + 1)).is_err());
}

#[test]
fn names_refuse_control_and_invisible_characters() {
    // A right-to-left override makes "Rossi\u{202E}ocnaiB" show as another name; a
    // zero-width space makes two equal-looking names differ; a newline would split a
    // line of a report.
    for spoof in [
        "Rossi\u{202E}ocnaiB",
        "Ro\u{200B}ssi",
        "Rossi\nBianchi",
        "Rossi\u{0}",
        "\u{FEFF}Rossi",
        "Rossi\u{85}",
    ] {
        let error = nome(spoof).unwrap_err();
        assert!(matches!(error, FieldError::ControlCharacter), "{spoof:?}");
    }
}

#[test]
fn nota_keeps_lines_and_refuses_other_control_characters() {
    assert_eq!(
        nota(" riga uno\r\nriga due \n").unwrap(),
        "riga uno\nriga due"
    );
    assert!(matches!(nota("a\tb"), Err(FieldError::ControlCharacter)));
    assert!(matches!(
        nota("a\u{1B}[31m"),
        Err(FieldError::ControlCharacter)
    ));
    assert!(matches!(nota("\r\n"), Err(FieldError::Missing)));
    assert!(matches!(
        nota(&"x".repeat(MAX_NOTE_CHARS + 1)),
        Err(FieldError::TooLong {
            max: MAX_NOTE_CHARS
        })
    ));
}

#[test]
fn rea_is_a_province_and_a_number() {
    assert_eq!(rea("rm-1234567").unwrap(), "RM-1234567");
    assert_eq!(rea("MI 123456").unwrap(), "MI-123456");
    assert_eq!(rea("TO98765").unwrap(), "TO-98765");
    for bad in [
        "RM-",
        "XX-123456",
        "RM-12345678",
        "RM-12a456",
        "1234567",
        "R",
        "È-12",
    ] {
        let error = rea(bad).unwrap_err();
        assert!(matches!(error, FieldError::Rea), "{bad}: {error:?}");
    }
}

#[test]
fn codice_destinatario_is_seven_letters_or_digits() {
    assert_eq!(codice_destinatario("m5uxcr1").unwrap(), "M5UXCR1");
    assert_eq!(codice_destinatario("0000000").unwrap(), "0000000");
    for bad in ["M5UXCR", "M5UXCR12", "M5UXC-1", "M5UXCRè"] {
        let error = codice_destinatario(bad).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Il codice destinatario deve avere 7 caratteri, lettere o cifre.",
            "{bad}"
        );
    }
}

#[test]
fn data_reads_iso_dates() {
    assert_eq!(data("2026-12-07").unwrap(), jiff::civil::date(2026, 12, 7));
    for bad in ["07/12/2026", "2026-02-30", "2026-13-01", "ieri"] {
        assert!(matches!(data(bad), Err(FieldError::Date(_))), "{bad}");
    }
}

#[test]
fn username_is_lower_case_ascii() {
    assert_eq!(username(" Mario.Rossi ").unwrap(), "mario.rossi");
    assert_eq!(username("lra_roma-1").unwrap(), "lra_roma-1");
    for bad in [
        "ab",
        ".mario",
        "mario rossi",
        "mario@ente",
        "màrio",
        &"a".repeat(65),
    ] {
        assert!(matches!(username(bad), Err(FieldError::Username)), "{bad}");
    }
}

#[test]
fn optional_fields_may_be_left_empty() {
    assert_eq!(optional("  ", telefono).unwrap(), None);
    assert_eq!(
        optional("06 123456", telefono).unwrap(),
        Some("06123456".to_string())
    );
    assert!(optional("06", telefono).is_err());
}

#[test]
fn every_message_is_an_italian_sentence() {
    let errors = [
        codice_fiscale("RSSMRA80A01H501").unwrap_err(),
        partita_iva("1").unwrap_err(),
        cap("1").unwrap_err(),
        provincia("XX").unwrap_err(),
        telefono("1").unwrap_err(),
        email("x").unwrap_err(),
        rea("x").unwrap_err(),
        codice_destinatario("x").unwrap_err(),
        data("x").unwrap_err(),
        username("x").unwrap_err(),
        nome("").unwrap_err(),
    ];
    for error in errors {
        let message = error.to_string();
        let first = message.chars().next().unwrap();
        assert!(first.is_uppercase() && message.ends_with('.'), "{message}");
    }
}

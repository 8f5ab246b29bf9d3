//! The form fields of the management plane (holders, companies, addresses, operators),
//! checked and normalized where they enter, from the web panel or the JSON API.
//!
//! Each check is a pure function from what the user typed to the normalized value the
//! store keeps (trimmed, upper-cased where the format is, separators dropped), or a
//! [`FieldError`] whose `Display` is an Italian sentence fit to show next to the field.
//! What a field means in Italian administration is named in each function's doc: the
//! codice fiscale of a person (DM 23 dicembre 1976 and its omocodia rule), the partita
//! IVA (DPR 633/1972, art. 35), the REA number of the Registro delle Imprese, the
//! codice destinatario of the Sistema di Interscambio.
//!
//! Text is not HTML-escaped here: the pages escape what they show, so a name may hold
//! any printable character. Control and invisible formatting characters are refused,
//! because they let a value look like a different one on screen.

use crate::mail::address::Address;
use crate::mail::address::AddressError;

/// Why a field's value is refused. The message names the rule, never the value, so it
/// can be shown next to the field and logged alike.
#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    /// The field is required and was left empty.
    #[error("Il campo è obbligatorio.")]
    Missing,
    /// The text is longer than the field allows.
    #[error("Il testo può avere al massimo {max} caratteri.")]
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// The text holds a control or invisible formatting character.
    #[error("Il testo contiene caratteri di controllo o invisibili, che non sono ammessi.")]
    ControlCharacter,
    /// A codice fiscale that is not 16 characters long.
    #[error("Il codice fiscale deve avere 16 caratteri.")]
    CodiceFiscaleLength,
    /// A codice fiscale with characters other than letters and digits.
    #[error("Il codice fiscale può contenere solo lettere e cifre.")]
    CodiceFiscaleCharacters,
    /// Letters and digits of a codice fiscale are not where the format puts them.
    #[error(
        "Il codice fiscale non ha la forma prevista: sei lettere, l'anno, la lettera del \
         mese, il giorno, il codice del comune e il carattere di controllo."
    )]
    CodiceFiscaleShape,
    /// The ninth character of a codice fiscale is not one of the twelve month letters.
    #[error("La lettera del mese di nascita nel codice fiscale non è valida.")]
    CodiceFiscaleMonth,
    /// The day of birth of a codice fiscale is not 1–31 (men) or 41–71 (women).
    #[error("Il giorno di nascita nel codice fiscale non è valido.")]
    CodiceFiscaleDay,
    /// The sixteenth character does not match the other fifteen.
    #[error("Il carattere di controllo del codice fiscale non è corretto.")]
    CodiceFiscaleCheck,
    /// A partita IVA that is not 11 characters long.
    #[error("La partita IVA deve avere 11 cifre.")]
    PartitaIvaLength,
    /// A partita IVA with characters other than digits.
    #[error("La partita IVA può contenere solo cifre.")]
    PartitaIvaDigits,
    /// A partita IVA whose company number (the first seven digits) is all zeros.
    #[error("La partita IVA non è valida: le prime sette cifre non possono essere tutte zero.")]
    PartitaIvaZero,
    /// The eleventh digit does not match the other ten.
    #[error("La cifra di controllo della partita IVA non è corretta.")]
    PartitaIvaCheck,
    /// A CAP that is not five digits.
    #[error("Il CAP deve avere 5 cifre.")]
    Cap,
    /// Not the sigla of an Italian province (nor `EE`, abroad).
    #[error("La sigla della provincia non è valida: indicare due lettere, ad esempio RM.")]
    Provincia,
    /// A telephone number with characters other than digits, separators and a leading +.
    #[error("Il numero di telefono può contenere solo cifre, spazi, trattini e un + iniziale.")]
    TelefonoCharacters,
    /// A telephone number with too few or too many digits.
    #[error("Il numero di telefono deve avere da 6 a 15 cifre.")]
    TelefonoLength,
    /// Not an e-mail address.
    #[error("L'indirizzo e-mail non è valido.")]
    Email(#[source] AddressError),
    /// Not a mail domain.
    #[error("Il dominio non è valido: indicare un nome come esempio.it.")]
    Domain(#[source] AddressError),
    /// Not a REA number (province sigla and number).
    #[error(
        "Il numero REA deve avere la sigla della provincia e fino a 7 cifre, ad esempio \
         RM-1234567."
    )]
    Rea,
    /// Not a codice destinatario of the Sistema di Interscambio.
    #[error("Il codice destinatario deve avere 7 caratteri, lettere o cifre.")]
    CodiceDestinatario,
    /// Not a calendar date written as the forms send it.
    #[error("La data deve avere la forma AAAA-MM-GG, ad esempio 2026-12-07.")]
    Date(#[source] jiff::Error),
    /// Not an operator's user name.
    #[error(
        "Il nome utente può contenere solo lettere minuscole, cifre, punto, trattino e \
         trattino basso, da 3 a 64 caratteri."
    )]
    Username,
}

/// The longest person name or surname, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest ragione sociale (company name) or ente name, in characters.
pub const MAX_COMPANY_CHARS: usize = 200;
/// The longest street address or locality, in characters.
pub const MAX_ADDRESS_CHARS: usize = 200;
/// The longest note on a mailbox, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;

/// `None` for a field left empty (blanks only), else what `check` makes of it: the
/// optional fields of a form (fax, mobile, a second address).
pub fn optional<T>(
    input: &str,
    check: impl FnOnce(&str) -> Result<T, FieldError>,
) -> Result<Option<T>, FieldError> {
    if input.trim().is_empty() {
        Ok(None)
    } else {
        check(input).map(Some)
    }
}

/// A person's name or surname (`nome`, `cognome`): required, one line, blanks collapsed.
pub fn nome(input: &str) -> Result<String, FieldError> {
    line(input, MAX_NAME_CHARS)
}

/// A company's or an ente's name (`ragione sociale`, `denominazione`), or its legal form.
pub fn ragione_sociale(input: &str) -> Result<String, FieldError> {
    line(input, MAX_COMPANY_CHARS)
}

/// A street address (`indirizzo`) or a locality (`località`).
pub fn indirizzo(input: &str) -> Result<String, FieldError> {
    line(input, MAX_ADDRESS_CHARS)
}

/// A free note: several lines allowed (line ends become `\n`), tabs and other
/// control characters not.
pub fn nota(input: &str) -> Result<String, FieldError> {
    let text = input.replace("\r\n", "\n");
    let text = text.trim();
    if text.is_empty() {
        return Err(FieldError::Missing);
    }
    if text.chars().any(|c| c != '\n' && is_hidden(c)) {
        return Err(FieldError::ControlCharacter);
    }
    capped(text.to_string(), MAX_NOTE_CHARS)
}

/// One line of text of at most `max_chars` characters: required, no control or
/// invisible characters, runs of blanks collapsed to one space.
pub fn line(input: &str, max_chars: usize) -> Result<String, FieldError> {
    if input.chars().any(is_hidden) {
        return Err(FieldError::ControlCharacter);
    }
    let text = input.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return Err(FieldError::Missing);
    }
    capped(text, max_chars)
}

/// A person's codice fiscale: 16 characters, upper-cased, with a valid check character.
///
/// The format is six letters (surname, name), two digits (year of birth), a month
/// letter, two digits (day of birth, plus 40 for women), a letter and three digits (the
/// comune or foreign state, its codice catastale) and the check character. When two
/// people would share a code (omocodia), the Agenzia delle Entrate replaces digits with
/// the letters `LMNPQRSTUV` (for 0–9); every such substitution is accepted.
pub fn codice_fiscale(input: &str) -> Result<String, FieldError> {
    let code = input.trim().to_ascii_uppercase();
    if code.is_empty() {
        return Err(FieldError::Missing);
    }
    if !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(FieldError::CodiceFiscaleCharacters);
    }
    let bytes: [u8; 16] = code
        .as_bytes()
        .try_into()
        .map_err(|_| FieldError::CodiceFiscaleLength)?;
    codice_fiscale_shape(&bytes)?;
    if codice_fiscale_check_char(&bytes) != bytes[15] {
        return Err(FieldError::CodiceFiscaleCheck);
    }
    Ok(code)
}

/// A partita IVA: 11 digits with the Luhn-style check digit of the Agenzia delle
/// Entrate. A leading `IT` (the VAT number as VIES writes it) and blanks are dropped.
pub fn partita_iva(input: &str) -> Result<String, FieldError> {
    let trimmed = input.trim();
    let bare = trimmed
        .strip_prefix("IT")
        .or_else(|| trimmed.strip_prefix("it"))
        .unwrap_or(trimmed);
    let number: String = bare.chars().filter(|c| *c != ' ').collect();
    if number.is_empty() {
        return Err(FieldError::Missing);
    }
    if !number.chars().all(|c| c.is_ascii_digit()) {
        return Err(FieldError::PartitaIvaDigits);
    }
    let digits: [u8; 11] = number
        .as_bytes()
        .try_into()
        .map_err(|_| FieldError::PartitaIvaLength)?;
    if digits[..7].iter().all(|d| *d == b'0') {
        return Err(FieldError::PartitaIvaZero);
    }
    if partita_iva_check_digit(&digits) != digits[10] {
        return Err(FieldError::PartitaIvaCheck);
    }
    Ok(number)
}

/// A CAP (codice di avviamento postale): five digits.
pub fn cap(input: &str) -> Result<String, FieldError> {
    let code = input.trim();
    if code.is_empty() {
        return Err(FieldError::Missing);
    }
    if code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code.to_string())
    } else {
        Err(FieldError::Cap)
    }
}

/// The sigla of a province, upper-cased: one of [`PROVINCE`], or `EE` for an address
/// abroad, as Italian forms write it.
pub fn provincia(input: &str) -> Result<String, FieldError> {
    let sigla = input.trim().to_ascii_uppercase();
    if sigla.is_empty() {
        return Err(FieldError::Missing);
    }
    if sigla == ABROAD || PROVINCE.binary_search(&sigla.as_str()).is_ok() {
        Ok(sigla)
    } else {
        Err(FieldError::Provincia)
    }
}

/// A telephone, mobile or fax number: digits with an optional leading `+`; blanks,
/// dots, slashes, hyphens and parentheses are dropped. 6 to 15 digits (ITU-T E.164
/// numbers have at most 15).
pub fn telefono(input: &str) -> Result<String, FieldError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(FieldError::Missing);
    }
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", trimmed),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '.' | '/' | '-' | '(' | ')' => {}
            _ => return Err(FieldError::TelefonoCharacters),
        }
    }
    if !(6..=15).contains(&digits.len()) {
        return Err(FieldError::TelefonoLength);
    }
    Ok(format!("{plus}{digits}"))
}

/// An e-mail address (ordinary or PEC), as [`Address::parse`] reads it: the domain
/// lower-cased.
pub fn email(input: &str) -> Result<String, FieldError> {
    if input.trim().is_empty() {
        return Err(FieldError::Missing);
    }
    if input.chars().any(is_hidden) {
        return Err(FieldError::ControlCharacter);
    }
    Address::parse(input)
        .map(|address| address.to_string())
        .map_err(FieldError::Email)
}

/// A mail domain (`example.it`), lower-cased: what may follow the `@` of an address.
pub fn dominio(input: &str) -> Result<String, FieldError> {
    let name = input.trim();
    if name.is_empty() {
        return Err(FieldError::Missing);
    }
    Address::parse(&format!("postmaster@{name}"))
        .map(|address| address.domain().to_string())
        .map_err(FieldError::Domain)
}

/// A REA number (Repertorio Economico Amministrativo): the sigla of the province of the
/// Registro delle Imprese and up to seven digits, normalized to `RM-1234567`; a blank
/// or no separator is accepted in place of the hyphen.
pub fn rea(input: &str) -> Result<String, FieldError> {
    let text = input.trim().to_ascii_uppercase();
    if text.is_empty() {
        return Err(FieldError::Missing);
    }
    let (sigla, rest) = text.split_at_checked(2).ok_or(FieldError::Rea)?;
    let number = rest
        .strip_prefix(['-', ' '])
        .unwrap_or(rest)
        .trim_start_matches(' ');
    let known = PROVINCE.binary_search(&sigla).is_ok();
    let digits = (1..=7).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit());
    if known && digits {
        Ok(format!("{sigla}-{number}"))
    } else {
        Err(FieldError::Rea)
    }
}

/// The codice destinatario for electronic invoices through the Sistema di
/// Interscambio: seven letters or digits, upper-cased (`0000000` when invoices go to
/// the PEC address).
pub fn codice_destinatario(input: &str) -> Result<String, FieldError> {
    let code = input.trim().to_ascii_uppercase();
    if code.is_empty() {
        return Err(FieldError::Missing);
    }
    if code.len() == 7 && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(FieldError::CodiceDestinatario)
    }
}

/// A calendar date as HTML date inputs send it (`2026-12-07`), for the search forms'
/// ranges.
pub fn data(input: &str) -> Result<jiff::civil::Date, FieldError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(FieldError::Missing);
    }
    text.parse::<jiff::civil::Date>().map_err(FieldError::Date)
}

/// An operator's user name: 3 to 64 of lower-case ASCII letters, digits, `.`, `-`,
/// `_`, starting with a letter or digit; upper case is lowered.
pub fn username(input: &str) -> Result<String, FieldError> {
    let name = input.trim().to_ascii_lowercase();
    if name.is_empty() {
        return Err(FieldError::Missing);
    }
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b);
    let starts_well = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if (3..=64).contains(&name.len()) && starts_well && name.bytes().all(allowed) {
        Ok(name)
    } else {
        Err(FieldError::Username)
    }
}

/// The fuzz target `manage_fields`'s half for the checks: none panics, and what one
/// accepts it accepts again unchanged (normalizing twice changes nothing), free of
/// control and invisible characters.
#[doc(hidden)]
pub fn fuzz_fields(text: &str) {
    type Check = fn(&str) -> Result<String, FieldError>;
    let checks: [(&str, Check); 15] = [
        ("nome", nome),
        ("ragione_sociale", ragione_sociale),
        ("indirizzo", indirizzo),
        ("nota", nota),
        ("codice_fiscale", codice_fiscale),
        ("partita_iva", partita_iva),
        ("cap", cap),
        ("provincia", provincia),
        ("telefono", telefono),
        ("email", email),
        ("dominio", dominio),
        ("rea", rea),
        ("codice_destinatario", codice_destinatario),
        ("username", username),
        ("line", |text| line(text, 10)),
    ];
    for (name, check) in checks {
        if let Ok(value) = check(text) {
            let again = check(&value);
            assert!(
                matches!(&again, Ok(same) if *same == value),
                "{name}({text:?}) = {value:?}, but {name}({value:?}) = {again:?}"
            );
            assert!(
                !value.chars().any(|c| c != '\n' && is_hidden(c)),
                "{name}({text:?}) kept a hidden character"
            );
        }
    }
    if let Ok(date) = data(text) {
        assert_eq!(data(&date.to_string()).ok(), Some(date), "data({text:?})");
    }
}

/// The sigle of the Italian provinces and metropolitan cities (the car plate codes the
/// postal addresses use), sorted. It keeps the sigle of the four Sardinian provinces
/// merged in 2016 (`CI`, `OG`, `OT`, `VS`), since addresses still carry them.
pub const PROVINCE: [&str; 111] = [
    "AG", "AL", "AN", "AO", "AP", "AQ", "AR", "AT", "AV", "BA", "BG", "BI", "BL", "BN", "BO", "BR",
    "BS", "BT", "BZ", "CA", "CB", "CE", "CH", "CI", "CL", "CN", "CO", "CR", "CS", "CT", "CZ", "EN",
    "FC", "FE", "FG", "FI", "FM", "FR", "GE", "GO", "GR", "IM", "IS", "KR", "LC", "LE", "LI", "LO",
    "LT", "LU", "MB", "MC", "ME", "MI", "MN", "MO", "MS", "MT", "NA", "NO", "NU", "OG", "OR", "OT",
    "PA", "PC", "PD", "PE", "PG", "PI", "PN", "PO", "PR", "PT", "PU", "PV", "PZ", "RA", "RC", "RE",
    "RG", "RI", "RM", "RN", "RO", "SA", "SI", "SO", "SP", "SR", "SS", "SU", "SV", "TA", "TE", "TN",
    "TO", "TP", "TR", "TS", "TV", "UD", "VA", "VB", "VC", "VE", "VI", "VR", "VS", "VT", "VV",
];

/// The provincia of an address abroad.
const ABROAD: &str = "EE";

/// The month letters of a codice fiscale, January to December.
const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";

/// The letters that stand for the digits 0–9 in an omocodic codice fiscale.
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";

/// The positions of a codice fiscale that hold a digit or its omocodia letter.
const DIGIT_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];

/// The values of the characters in odd positions (first, third, …) for the check
/// character, for `0`/`A`, `1`/`B`, … `9`/`J`, then `K` to `Z`.
const ODD_VALUES: [u32; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

/// Letters where the format has letters, digits (or omocodia letters) where it has
/// digits, a month letter and a day of birth that exists.
fn codice_fiscale_shape(code: &[u8; 16]) -> Result<(), FieldError> {
    let letters = [0, 1, 2, 3, 4, 5, 8, 11, 15];
    let letters_ok = letters.iter().all(|&i| code[i].is_ascii_uppercase());
    let digits_ok = DIGIT_POSITIONS
        .iter()
        .all(|&i| omocodia_digit(code[i]).is_some());
    if !letters_ok || !digits_ok {
        return Err(FieldError::CodiceFiscaleShape);
    }
    if !MONTHS.contains(&code[8]) {
        return Err(FieldError::CodiceFiscaleMonth);
    }
    let day = omocodia_digit(code[9])
        .zip(omocodia_digit(code[10]))
        .map(|(tens, units)| tens * 10 + units);
    match day {
        Some(1..=31 | 41..=71) => Ok(()),
        _ => Err(FieldError::CodiceFiscaleDay),
    }
}

/// The digit a character stands for in a digit position: itself, or its omocodia letter.
fn omocodia_digit(c: u8) -> Option<u8> {
    if c.is_ascii_digit() {
        return Some(c - b'0');
    }
    OMOCODIA
        .iter()
        .position(|&letter| letter == c)
        .and_then(|digit| u8::try_from(digit).ok())
}

/// The check character of the first fifteen characters: odd positions weighted by
/// [`ODD_VALUES`], even ones by their plain value (digit, or letter from A = 0), the
/// sum modulo 26 as a letter.
fn codice_fiscale_check_char(code: &[u8; 16]) -> u8 {
    let sum: u32 = code[..15]
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let plain = u32::from(if c.is_ascii_digit() {
                c - b'0'
            } else {
                c - b'A'
            });
            if i % 2 == 0 {
                ODD_VALUES[plain as usize]
            } else {
                plain
            }
        })
        .sum();
    // `sum % 26` is below 26, so the letter is in A..=Z.
    b'A' + (sum % 26) as u8
}

/// The check digit of the first ten digits: odd positions summed, even positions
/// doubled (minus 9 above 9) and summed, then what brings the total to a multiple of 10.
fn partita_iva_check_digit(digits: &[u8; 11]) -> u8 {
    let sum: u32 = digits[..10]
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let value = u32::from(d - b'0');
            match (i % 2, value * 2) {
                (0, _) => value,
                (_, doubled) if doubled > 9 => doubled - 9,
                (_, doubled) => doubled,
            }
        })
        .sum();
    // The remainder is below 10, so the digit is in 0..=9.
    b'0' + ((10 - sum % 10) % 10) as u8
}

/// Whether `c` must not appear in a field: control characters (C0, DEL, C1) and the
/// invisible formatting ones that reorder or hide text on screen (zero-width
/// characters, bidirectional overrides and isolates, the byte order mark).
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}')
        || c == '\u{FEFF}'
}

/// `text` when it has at most `max_chars` characters.
fn capped(text: String, max_chars: usize) -> Result<String, FieldError> {
    if text.chars().count() > max_chars {
        Err(FieldError::TooLong { max: max_chars })
    } else {
        Ok(text)
    }
}

#[cfg(test)]
mod tests;

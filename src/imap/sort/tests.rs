use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::extensions::sort::SortKey;

use super::*;

fn base(subject: &str) -> (String, bool) {
    let base = base_subject(subject);
    (base.text, base.reply_or_forward)
}

#[test]
fn base_subject_follows_rfc_5256_section_2_1() {
    let cases = [
        ("foo", "foo", false),
        ("Re: foo", "foo", true),
        ("RE: Re: re:foo", "foo", true),
        ("Fwd: foo (fwd)", "foo", true),
        ("foo (fwd)  (FWD) ", "foo", false),
        ("[list] Re: foo", "foo", true),
        ("[list] foo", "foo", false),
        ("Re [2]: foo", "foo", true),
        ("[fwd: foo]", "foo", true),
        ("re: [fwd: [fwd: re: [fwd: babylon]]]", "babylon", true),
        ("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b", true),
        ("Re: [FWD: c]", "c", true),
        ("[xyz]", "[xyz]", false),
        ("Ad: Re: Ad: Re: Ad: x", "Ad: Re: Ad: Re: Ad: x", false),
        ("  folded\r\n\t subject ", "folded subject", false),
        ("", "", false),
        ("Reply: foo", "Reply: foo", false),
    ];
    for (subject, text, reply) in cases {
        assert_eq!(base(subject), (text.to_string(), reply), "{subject:?}");
    }
}

#[test]
fn casemap_folds_case_and_compatibility_forms() {
    assert_eq!(casemap("abc"), casemap("ABC"));
    assert_eq!(casemap("perché"), casemap("PERCHÉ"));
    assert_eq!(casemap("ﬁle"), casemap("FILE"));
    // Titlecase, not lower case: `_` sorts after the letters, as in Dovecot.
    assert!(casemap("a_") > casemap("ab"));
}

/// A message with these header lines, received at `arrival`.
fn message(
    seq: u32,
    arrival: i64,
    size: u64,
    header: &str,
    criteria: &[SortCriterion],
) -> Sortable {
    let index = HeaderIndex::of(format!("{header}\r\n\r\n").as_bytes());
    Sortable {
        seq,
        arrival,
        size,
        keys: keys(criteria, &index.view(), arrival, size),
    }
}

fn criterion(key: SortKey, reverse: bool) -> SortCriterion {
    SortCriterion { reverse, key }
}

fn order(messages: &mut [Sortable], criteria: &[SortCriterion]) -> Vec<u32> {
    sort(messages, criteria);
    messages.iter().map(|m| m.seq).collect()
}

#[test]
fn addresses_sort_by_mailbox_then_sequence() {
    // imaptest's sort-addresses: the local part counts, not the domain.
    let headers = [
        "From: user2@domain2.org\r\nCc: user2@domain2.org (foo bar)",
        "From: user2@domain1.org\r\nCc: user2: blah@domain1.org;",
        "From: user1@domain1.org\r\nCc: user1@domain1.org",
    ];
    for (key, expected, reversed) in [
        (SortKey::From, [3, 1, 2], [1, 2, 3]),
        (SortKey::Cc, [3, 1, 2], [1, 2, 3]),
    ] {
        for (reverse, expected) in [(false, expected), (true, reversed)] {
            let criteria = [criterion(key.clone(), reverse)];
            let mut messages: Vec<Sortable> = (1..)
                .zip(headers)
                .map(|(seq, header)| message(seq, 0, 0, header, &criteria))
                .collect();
            assert_eq!(
                order(&mut messages, &criteria),
                expected,
                "{key:?} {reverse}"
            );
        }
    }
}

#[test]
fn display_keys_prefer_the_name_then_the_address() {
    // imaptest's sort-display-to.
    let headers = [
        "To: foo bar <a@b.c>",
        "To: b@c.d",
        "To: d",
        "To: =?iso-8859-1?q?foo_aar?= <e@f.g>",
        "To: =?iso-8859-1?q?foo_car?= <f@g.h>",
        "To: a: xx@xx.org, yy@yy.org;",
        "To: z: aa@aa.org, bb@bb.org;",
        "To: empty:;",
    ];
    let criteria = [criterion(SortKey::DisplayTo, false)];
    let mut messages: Vec<Sortable> = (1..)
        .zip(headers)
        .map(|(seq, header)| message(seq, 0, 0, header, &criteria))
        .collect();
    assert_eq!(order(&mut messages, &criteria), [6, 2, 3, 8, 4, 1, 5, 7]);
}

#[test]
fn date_falls_back_to_arrival_and_ties_go_by_sequence() {
    let criteria = [criterion(SortKey::Date, false)];
    let mut messages = vec![
        message(1, 500, 0, "Date: Thu, 1 Jan 1970 00:10:00 +0000", &criteria),
        message(2, 100, 0, "Subject: no date", &criteria),
        message(3, 900, 0, "Date: Thu, 1 Jan 1970 01:00:00 +0100", &criteria),
        message(4, 0, 0, "Date: Thu, 1 Jan 1970 00:01:40 +0000", &criteria),
    ];
    // 3 is at 0 s UTC; 2 and 4 both at 100 s, in sequence order.
    assert_eq!(order(&mut messages, &criteria), [3, 2, 4, 1]);
}

#[test]
fn several_keys_and_reverse_apply_in_turn() {
    let criteria = [
        criterion(SortKey::Subject, false),
        criterion(SortKey::Size, true),
    ];
    let mut messages = vec![
        message(1, 0, 10, "Subject: b", &criteria),
        message(2, 0, 30, "Subject: Re: a", &criteria),
        message(3, 0, 20, "Subject: A", &criteria),
        message(4, 0, 20, "Subject: [fwd: B]", &criteria),
    ];
    assert_eq!(order(&mut messages, &criteria), [2, 3, 4, 1]);
    let criteria = [criterion(SortKey::Arrival, true)];
    let mut messages = vec![
        message(1, 5, 0, "", &criteria),
        message(2, 9, 0, "", &criteria),
        message(3, 5, 0, "", &criteria),
    ];
    // Ties keep sequence order even under REVERSE.
    assert_eq!(order(&mut messages, &criteria), [2, 1, 3]);
}

use super::*;

/// Messages 1.. from header blocks, each received `arrival` seconds in.
fn messages(headers: &[(&str, i64)]) -> Vec<Threadable> {
    (1..)
        .zip(headers)
        .map(|(seq, (header, arrival))| {
            let index = HeaderIndex::of(format!("{header}\r\n\r\n").as_bytes());
            Threadable::of(seq, *arrival, &index.view())
        })
        .collect()
}

fn wire(threads: &[Thread]) -> String {
    threads.iter().map(ToString::to_string).collect()
}

#[test]
fn message_ids_are_bracketed_and_have_an_at() {
    assert_eq!(
        msg_ids("<a@b> junk <c\r\n @d> <nodomain> <e@f"),
        ["a@b", "c@d"]
    );
}

#[test]
fn references_link_parents_and_break_presumed_links() {
    // imaptest's "thread": 3 presumed under 1 by 2's References, but 3 says its
    // parent is 2, which would make a loop: 3 becomes a root.
    let threads = references(&messages(&[
        ("Message-ID: <a@b>", 17),
        ("Message-Id: <b@b>\r\nReferences: <a@b> <c@b>", 15),
        ("Message-Id: <c@b>\r\nReferences: <b@b>", 16),
    ]));
    assert_eq!(wire(&threads), "(3 2)(1)");
}

#[test]
fn duplicate_ids_and_missing_parents() {
    let twins = messages(&[("Message-Id: <a@b>", 0), ("Message-Id: <a@b>", 0)]);
    assert_eq!(wire(&references(&twins)), "(1)(2)");
    // A reply with the same id still joins by subject (thread3).
    let reply = messages(&[
        ("Message-Id: <a@b>\r\nSubject: foo", 0),
        ("Message-Id: <a@b>\r\nSubject: Re: foo", 1),
    ]);
    assert_eq!(wire(&references(&reply)), "(1 2)");
    // Two children of a message that is not here stay under a dummy (thread6).
    let orphans = messages(&[("References: <a@b>", 0), ("References: <a@b>", 1)]);
    assert_eq!(wire(&references(&orphans)), "((1)(2))");
}

#[test]
fn in_reply_to_builds_branches_in_date_order() {
    // thread5: 2 and 3 answer 1, 4 answers 2.
    let threads = references(&messages(&[
        ("Message-ID: <1@b>", 17),
        ("Message-Id: <2@b>\r\nIn-Reply-To: <1@b>", 15),
        ("Message-Id: <3@b>\r\nIn-Reply-To: <1@b>", 15),
        ("Message-Id: <4@b>\r\nIn-Reply-To: <2@b>", 15),
    ]));
    assert_eq!(wire(&threads), "(1 (2 4)(3))");
}

#[test]
fn a_later_duplicate_takes_an_empty_container() {
    // thread7 after the expunge: <b@b> is first a reference, then a message.
    let threads = references(&messages(&[
        ("Message-Id: <a@b>", 0),
        ("Message-Id: <c@b>\r\nReferences: <b@b>", 0),
        ("Message-Id: <b@b>\r\nReferences: <a@b>", 0),
    ]));
    assert_eq!(wire(&threads), "(1 3 2)");
}

#[test]
fn ordered_subject_groups_by_base_subject() {
    // imaptest's thread-orderedsubject, all at the same time.
    let subjects = [
        "Subject: a",
        "Subject: C",
        "Subject: b",
        "Subject: _",
        "Subject: [foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)",
        "Subject: b (a)",
        "Subject: Re: [FWD: c]",
        "Subject: [xyz]",
        "X-No-Subject: 1",
        "Subject: =?iso-8859-1?q?_?=",
        "Subject: Re: =?utf-8?q?b?=",
        "Subject: =?iso-8859-1?q?RE:_C?=",
        "Subject: =?us-ascii?b?UmU6IGM=?=",
        "Subject: Ad: Re: Ad: Re: Ad: x",
        "Subject: re: [fwd: [fwd: re: [fwd: babylon]]]",
    ];
    let headers: Vec<(&str, i64)> = subjects.iter().map(|s| (*s, 0)).collect();
    assert_eq!(
        wire(&ordered_subject(&messages(&headers))),
        "(1)(2 (7)(12)(13))(3 (5)(11))(4)(6)(8)(9 10)(14)(15)"
    );
}

#[test]
fn ordered_subject_orders_by_sent_date() {
    // thread-orderedsubject2: Date where present, else the arrival.
    let headers = [
        ("Subject: a\r\nDate: Fri, 22 Feb 2008 22:00:10 +0200", 0),
        ("Subject: b\r\nDate: Fri, 22 Feb 2008 22:00:09 +0200", 0),
        ("Subject: a\r\nDate: Fri, 22 Feb 2008 22:00:08 +0200", 0),
        ("Subject: b\r\nDate: Fri, 22 Feb 2008 22:00:07 +0200", 0),
        ("Subject: a", 1_203_710_430),
        ("Subject: b", 1_203_710_429),
        ("Subject: a", 1_203_710_428),
        ("Subject: b", 1_203_710_427),
    ];
    assert_eq!(
        wire(&ordered_subject(&messages(&headers))),
        "(4 (2)(8)(6))(3 (1)(7)(5))"
    );
}

#[test]
fn hostile_references_stay_bounded() {
    // A chain where every message also has a sibling: deep branching, flattened
    // past the nesting limit instead of recursing.
    let mut headers = Vec::new();
    for n in 0..2000 {
        let parent = if n == 0 {
            String::new()
        } else {
            format!("\r\nIn-Reply-To: <m{}@x>", n - 1)
        };
        headers.push(format!("Message-Id: <m{n}@x>{parent}"));
        headers.push(format!("Message-Id: <s{n}@x>{parent}"));
    }
    let pairs: Vec<(&str, i64)> = headers.iter().map(|h| (h.as_str(), 0)).collect();
    let threads = references(&messages(&pairs));
    let text = wire(&threads);
    let numbers = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .count();
    assert_eq!(numbers, 4000);
    // A message referring to itself, and loops between two, make no cycle.
    let looped = messages(&[
        ("Message-Id: <a@x>\r\nReferences: <b@x> <a@x>", 0),
        ("Message-Id: <b@x>\r\nReferences: <a@x> <b@x>", 1),
    ]);
    assert_eq!(wire(&references(&looped)), "(1)(2)");
}

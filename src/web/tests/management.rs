//! What operators do through the panel: mailboxes and holders within their ente, the
//! JSON API with the session, CSV downloads, one-time links.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_lra_creates_a_mailbox_that_another_ente_cannot_open() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    panel.add_operator("admin", "gestore", None);
    panel.add_operator("comune", "lra", Some("Comune di Prova"));
    panel.add_operator("altro", "lra", Some("Altro Ente"));
    let base = panel.base.clone();
    browse(move || {
        let mut lra = Browser::logged_in(&base, "comune");
        let token = lra.get("/caselle/nuova").csrf();
        let mut form = vec![
            ("csrf", token.as_str()),
            ("address", "mario.rossi@pec-a.test"),
            ("codice_fiscale", "RSSMRA80A01H501X"),
            ("nome", "Mario"),
            ("cognome", "Rossi"),
            ("email", "mario@example.org"),
            ("tipo", "STANDARD"),
            ("scadenza", ""),
            ("note", "=cmd|' /C calc'!A0"),
        ];
        let refused = lra.post("/caselle/nuova", &form);
        assert_eq!(
            refused.status, 422,
            "a wrong codice fiscale check character"
        );
        assert!(
            refused.body.contains("id=\"e-codice_fiscale\""),
            "{}",
            refused.body
        );
        assert!(refused.body.contains("value=\"mario.rossi@pec-a.test\""));
        form[2] = ("codice_fiscale", "RSSMRA80A01H501U");
        let created = lra.post("/caselle/nuova", &form);
        assert_eq!(created.status, 303, "{}", created.body);
        let location = created.header("location").to_string();
        assert_eq!(location, "/caselle/mario.rossi@pec-a.test");
        let detail = lra.get(&location);
        assert_eq!(detail.status, 200);
        assert!(detail.body.contains("in attesa di attivazione"));
        assert!(
            !detail.body.contains("/attiva\""),
            "only the gestore activates"
        );

        let token = detail.csrf();
        let fields = [("csrf", token.as_str()), ("tipo", "contratto")];
        let fake = lra.upload(
            &format!("{location}/documenti"),
            &fields,
            b"MZ\x90\x00 not a pdf",
        );
        assert_eq!(fake.status, 422, "{}", fake.body);
        assert!(fake.body.contains("id=\"e-file\""), "{}", fake.body);
        let forged = lra.upload(
            &format!("{location}/documenti"),
            &[("tipo", "contratto")],
            b"%PDF",
        );
        assert_eq!(
            forged.status, 403,
            "an upload without the CSRF field is refused"
        );
        let pdf =
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pdf/minimal.pdf"))
                .unwrap();
        let kept = lra.upload(&format!("{location}/documenti"), &fields, &pdf);
        assert_eq!(kept.status, 303, "{}", kept.body);
        let detail = lra.get(&location);
        assert!(detail.body.contains("contratto.pdf"));
        let download = lra.get(&format!("{location}/documenti/1"));
        assert_eq!(download.status, 200);
        assert_eq!(download.header("content-type"), "application/pdf");
        let huge = vec![b'x'; (1 << 20) + 1024];
        let too_large = lra.upload(&format!("{location}/documenti"), &fields, &huge);
        assert_eq!(too_large.status, 413);

        let csv = lra.get("/caselle.csv?indirizzo=mario");
        assert_eq!(csv.status, 200);
        assert!(csv.header("content-type").starts_with("text/csv"));
        assert!(csv.body.contains("mario.rossi@pec-a.test"), "{}", csv.body);

        let mut other = Browser::logged_in(&base, "altro");
        let hidden = other.get(&location);
        assert_eq!(hidden.status, 404);
        assert!(!hidden.body.contains("Rossi"));
        let token = other.get("/").csrf();
        let poke = other.post(&format!("{location}/sospendi"), &[("csrf", token.as_str())]);
        assert_eq!(poke.status, 404);
        assert!(!other.get("/caselle").body.contains("mario.rossi"));

        let mut gestore = Browser::logged_in(&base, "admin");
        let token = gestore.get(&location).csrf();
        let activated = gestore.post(&format!("{location}/attiva"), &[("csrf", token.as_str())]);
        assert_eq!(activated.status, 303, "{}", activated.body);
        let after = gestore.get(&location);
        assert!(
            after.body.contains("Casella attivata"),
            "the notice is shown"
        );
        assert!(after.body.contains(">attiva<"), "{}", after.body);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_answers_for_the_session_and_wants_the_csrf_header_to_change() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    panel.add_operator("admin", "gestore", None);
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        assert_eq!(browser.api("GET", "/v1/me", None, "").status, 401);
        let token = browser.login("admin").csrf();
        let me = browser.api("GET", "/v1/me", None, "");
        assert_eq!(me.status, 200, "{}", me.body);
        assert!(me.body.contains("admin"));
        let domain = r#"{"name": "ente.example.it"}"#;
        let forged = browser.api("POST", "/v1/domains", None, domain);
        assert_eq!(forged.status, 403, "no CSRF header, no change");
        let added = browser.api("POST", "/v1/domains", Some(&token), domain);
        assert!(added.status < 300, "{} {}", added.status, added.body);
        let page = browser.get("/domini");
        assert!(page.body.contains("ente.example.it"));
        let openapi = browser.get("/v1/openapi.json");
        assert_eq!(openapi.status, 200);
        assert!(openapi.body.contains("\"openapi\""));
        for path in [
            "/",
            "/report",
            "/report/enti.csv",
            "/report/utilizzo.csv",
            "/caselle",
        ] {
            assert_eq!(browser.get(path).status, 200, "{path}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_pages_escape_markup_and_the_csv_neutralises_formulas() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    panel.add_operator("comune", "lra", Some("Comune di Prova"));
    let base = panel.base.clone();
    browse(move || {
        let mut lra = Browser::logged_in(&base, "comune");
        let token = lra.get("/titolari/nuovo").csrf();
        let mut form = vec![
            ("csrf", token.as_str()),
            ("codice_fiscale", "RSSMRA80A01H501U"),
            ("nome", "Mario"),
            ("cognome", "Rossi"),
            ("cap", "123"),
            ("ragione_sociale", "=HYPERLINK(\"http://x\")"),
            ("referente", "<img src=x onerror=alert(1)>"),
        ];
        let refused = lra.post("/titolari/nuovo", &form);
        assert_eq!(refused.status, 422);
        assert!(refused.body.contains("id=\"e-cap\""), "{}", refused.body);
        assert!(
            !refused.body.contains("<img src=x"),
            "typed markup is escaped"
        );
        form[4] = ("cap", "00100");
        let created = lra.post("/titolari/nuovo", &form);
        if created.status == 422 {
            // The rules refused the markup outright: neutralised too.
            assert!(
                created.body.contains("id=\"e-referente\""),
                "{}",
                created.body
            );
            form[6] = ("referente", "Ufficio");
            let created = lra.post("/titolari/nuovo", &form);
            assert_eq!(created.status, 303, "{}", created.body);
        } else {
            assert_eq!(created.status, 303, "{}", created.body);
        }
        let record = lra.get("/titolari/scheda?ente=Comune%20di%20Prova&cf=RSSMRA80A01H501U");
        assert_eq!(record.status, 200, "{}", record.body);
        assert!(!record.body.contains("<img src=x"));
        let csv = lra.get("/titolari.csv?cognome=ross");
        assert_eq!(csv.status, 200);
        assert!(csv.body.contains("'=HYPERLINK"), "{}", csv.body);
        assert!(!csv.body.contains(",=HYPERLINK"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_is_not_one_is_not_found_and_sets_nothing() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    let base = panel.base.clone();
    browse(move || {
        let mut holder = Browser::new(&base);
        let page = holder.get("/attiva/0123456789abcdef0123456789abcdef");
        assert_eq!(page.status, 404);
        assert!(page.body.contains("Il link non è valido."));
        assert!(
            !page.body.contains("name=\"password\""),
            "no form for a bad link"
        );
        let token = holder.get("/accesso").csrf();
        let form = [
            ("csrf", token.as_str()),
            ("password", "Nuova-password-1"),
            ("conferma", "Nuova-password-1"),
        ];
        assert_eq!(holder.post("/attiva/%3Cscript%3E", &form).status, 404);
    })
    .await;
}

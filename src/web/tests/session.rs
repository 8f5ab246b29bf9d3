//! The session: its cookie, CSRF on every form, failed and throttled logins, logout.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_secure_httponly_and_samesite_strict() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        let page = browser.get("/accesso");
        assert_eq!(page.status, 200);
        let cookie = page.header("set-cookie");
        assert!(cookie.starts_with("__Host-pecd="), "{cookie}");
        for flag in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
            assert!(cookie.split("; ").any(|f| f == flag), "{flag} in {cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
        let policy = page.header("content-security-policy");
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(!page.body.contains("<script"));
        let css = browser.get("/static/pecd.css");
        assert_eq!(css.status, 200);
        assert!(css.header("content-type").starts_with("text/css"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_their_csrf_token_are_refused() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        let token = browser.get("/accesso").csrf();
        let credentials = [("username", "admin"), ("password", "x")];
        let missing = browser.post("/accesso", &credentials);
        assert_eq!(missing.status, 403);
        assert!(missing.body.contains("Richiesta non valida"));
        let forged = "0".repeat(64);
        let wrong = browser.post(
            "/accesso",
            &[("csrf", forged.as_str()), ("username", "admin")],
        );
        assert_eq!(wrong.status, 403);
        // Another browser's token is no better: tokens belong to their session.
        let mut other = Browser::new(&base);
        other.get("/accesso");
        let stolen = other.post("/accesso", &[("csrf", token.as_str()), ("username", "a")]);
        assert_eq!(stolen.status, 403);
        // Without any session the form is refused too.
        let mut stranger = Browser::new(&base);
        let none = stranger.post("/esci", &[("csrf", token.as_str())]);
        assert_eq!(none.status, 403);
        assert!(none.body.contains("Sessione scaduta"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_login_says_so_next_to_the_form_and_escapes_what_was_typed() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        let token = browser.get("/accesso").csrf();
        let typed = "<script>alert(1)</script>";
        let page = browser.post(
            "/accesso",
            &[
                ("csrf", &token),
                ("username", typed),
                ("password", "sbagliata"),
            ],
        );
        assert_eq!(page.status, 401);
        assert!(page.body.contains("Nome utente o password non corretti."));
        assert!(!page.body.contains(typed));
        assert!(page.body.contains("&#60;script&#62;") || page.body.contains("&lt;script&gt;"));
        let empty = browser.post(
            "/accesso",
            &[("csrf", &token), ("username", ""), ("password", "")],
        );
        assert_eq!(empty.status, 422);
        assert!(empty.body.contains("id=\"e-username\""), "{}", empty.body);
        assert!(empty.body.contains("aria-describedby=\"e-password\""));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_login() {
    let policy = ThrottlePolicy {
        delay_step: Duration::ZERO,
        failures_per_address_account: 3,
        ..ThrottlePolicy::default()
    };
    let panel = Panel::start(policy).await;
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        let token = browser.get("/accesso").csrf();
        let form = [
            ("csrf", token.as_str()),
            ("username", "admin"),
            ("password", "no"),
        ];
        let statuses: Vec<u16> = (0..5)
            .map(|_| browser.post("/accesso", &form).status)
            .collect();
        assert_eq!(statuses, [401, 401, 401, 429, 429]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_on_the_server_and_in_the_browser() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        let token = browser.get("/accesso").csrf();
        let kept = browser.cookie.clone().unwrap();
        let out = browser.post("/esci", &[("csrf", &token)]);
        assert_eq!(out.status, 303);
        assert_eq!(out.header("location"), "/accesso");
        assert!(out.header("set-cookie").contains("Max-Age=0"));
        // Replaying the old cookie finds no session: the form is refused.
        browser.cookie = Some(kept);
        let replay = browser.post("/esci", &[("csrf", &token)]);
        assert_eq!(replay.status, 403);
        let home = browser.get("/");
        assert_eq!(home.status, 303);
        assert_eq!(home.header("location"), "/accesso");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_starts_a_new_session_and_only_the_gestore_sees_operators() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    panel.add_operator("admin", "gestore", None);
    panel.add_operator("comune", "lra", Some("Comune di Prova"));
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        browser.get("/accesso");
        let before = browser.cookie.clone().unwrap();
        let home = browser.login("admin");
        assert_eq!(home.status, 200);
        assert!(home.body.contains("admin"));
        let after = browser.cookie.clone().unwrap();
        assert_ne!(
            before, after,
            "the login's session id is not the one planted before it"
        );
        // The pre-login id is worth nothing now (session fixation).
        browser.cookie = Some(before);
        assert_eq!(browser.get("/").status, 303);
        browser.cookie = Some(after);

        let page = browser.get("/operatori");
        assert_eq!(page.status, 200);
        let token = page.csrf();
        let form = [
            ("csrf", token.as_str()),
            ("username", "nuovo"),
            ("password", "corta"),
            ("role", "lra"),
            ("ente", "Comune di Prova"),
            ("domains", "pec-a.test"),
            ("email", ""),
        ];
        let refused = browser.post("/operatori", &form);
        assert_eq!(refused.status, 422);
        assert!(
            refused.body.contains("id=\"e-password\""),
            "{}",
            refused.body
        );
        assert!(
            refused.body.contains("value=\"nuovo\""),
            "what was typed stays"
        );

        let mut lra = Browser::new(&base);
        let home = lra.login("comune");
        assert!(!home.body.contains("/operatori"), "no link for an LRA");
        assert_eq!(lra.get("/operatori").status, 404);
        let token = lra.get("/").csrf();
        let sneak = lra.post("/operatori/admin/disattiva", &[("csrf", token.as_str())]);
        assert_eq!(sneak.status, 403);
        assert!(sneak.body.contains("riservata al gestore"));
    })
    .await;
}

/// An operator changes their own password: the current one is checked, the new one
/// validated and typed twice, each message next to its field; once changed, this
/// browser goes on under a new session and the operator's other sessions end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_changes_their_password_and_their_other_sessions_end() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    panel.add_operator("comune", "lra", Some("Comune di Prova"));
    let base = panel.base.clone();
    browse(move || {
        let mut here = Browser::logged_in(&base, "comune");
        let mut elsewhere = Browser::logged_in(&base, "comune");
        let page = here.get("/password");
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("href=\"/password\""),
            "linked from every page"
        );
        let token = page.csrf();
        let mut change = |current: &str, new: &str, again: &str| {
            let form = [
                ("csrf", token.as_str()),
                ("attuale", current),
                ("password", new),
                ("conferma", again),
            ];
            here.post("/password", &form)
        };
        let new = "Una-password-nuova-2";
        let wrong = change("non-è-questa", new, new);
        assert_eq!(wrong.status, 422);
        assert!(wrong.body.contains("id=\"e-attuale\""), "{}", wrong.body);
        assert!(wrong.body.contains("La password attuale non è corretta."));
        assert!(
            !wrong.body.contains(new),
            "a password is never written back"
        );
        let mismatch = change(PASSWORD, new, "Una-password-diversa-3");
        assert_eq!(mismatch.status, 422);
        assert!(
            mismatch.body.contains("id=\"e-conferma\""),
            "{}",
            mismatch.body
        );
        let short = change(PASSWORD, "corta", "corta");
        assert_eq!(short.status, 422);
        assert!(short.body.contains("id=\"e-password\""), "{}", short.body);
        // Nothing changed so far: the other browser still works.
        assert_eq!(elsewhere.get("/").status, 200);

        let done = change(PASSWORD, new, new);
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.header("location"), "/");
        assert!(done.header("set-cookie").starts_with("__Host-pecd="));
        let home = here.get("/");
        assert_eq!(home.status, 200);
        assert!(home.body.contains("Password cambiata"), "{}", home.body);
        let gone = elsewhere.get("/");
        assert_eq!(gone.status, 303);
        assert_eq!(gone.header("location"), "/accesso");

        let mut fresh = Browser::new(&base);
        let token = fresh.get("/accesso").csrf();
        let old = [
            ("csrf", token.as_str()),
            ("username", "comune"),
            ("password", PASSWORD),
        ];
        assert_eq!(fresh.post("/accesso", &old).status, 401);
        let token = fresh.get("/accesso").csrf();
        let form = [
            ("csrf", token.as_str()),
            ("username", "comune"),
            ("password", new),
        ];
        assert_eq!(fresh.post("/accesso", &form).status, 303);
    })
    .await;
}

/// Someone holding an operator's open session cannot use the password form to guess
/// the current password: its checks count against the login throttle, and even the
/// right password is refused once it locks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_form_cannot_be_used_to_guess_the_current_password() {
    let policy = ThrottlePolicy {
        delay_step: Duration::ZERO,
        failures_per_address_account: 3,
        ..ThrottlePolicy::default()
    };
    let panel = Panel::start(policy).await;
    panel.add_operator("comune", "lra", Some("Comune di Prova"));
    let base = panel.base.clone();
    browse(move || {
        let mut stolen = Browser::logged_in(&base, "comune");
        let token = stolen.get("/password").csrf();
        let new = "Una-password-nuova-2";
        let mut guess = |current: &str| {
            let form = [
                ("csrf", token.as_str()),
                ("attuale", current),
                ("password", new),
                ("conferma", new),
            ];
            stolen.post("/password", &form).status
        };
        let statuses: Vec<u16> = ["uno", "due", "tre", "quattro", PASSWORD]
            .into_iter()
            .map(&mut guess)
            .collect();
        assert_eq!(statuses, [422, 422, 422, 429, 429]);
    })
    .await;
}

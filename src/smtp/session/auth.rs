//! AUTH inside the SMTP session (RFC 4954): the PLAIN and LOGIN exchanges and the
//! failure counting. Offered only after TLS on the submission service (RFC 8314).

use super::Client;
use super::Greeting;
use super::LOGIN_PASSWORD;
use super::LOGIN_USERNAME;
use super::Mail;
use super::Mode;
use super::Sasl;
use super::Secret;
use super::Session;
use super::State;
use super::Step;
use super::sasl;
use super::sasl::SaslError;
use crate::smtp::command::Mechanism;
use crate::smtp::reply::Reply;

impl Session {
    pub(super) fn auth(
        &mut self,
        state: State,
        mechanism: Mechanism,
        initial_response: Option<String>,
    ) -> (State, Step) {
        if self.config.mode == Mode::Mx {
            return (state, Step::Reply(Reply::NOT_IMPLEMENTED));
        }
        let greeting = match state {
            State::Greeted(Client {
                greeting: greeting @ Greeting::Ehlo(_),
                user: None,
            }) => greeting,
            state => return (state, Step::Reply(Reply::BAD_SEQUENCE)),
        };
        if !self.tls {
            let client = Client {
                greeting,
                user: None,
            };
            return (
                State::Greeted(client),
                Step::Reply(Reply::ENCRYPTION_REQUIRED),
            );
        }
        match (mechanism, initial_response) {
            (Mechanism::Plain, Some(response)) => {
                self.sasl_response(greeting, Sasl::PlainResponse, response.as_bytes())
            }
            (Mechanism::Plain, None) => (
                State::Sasl(greeting, Sasl::PlainResponse),
                Step::Reply(Reply::plain(334, "")),
            ),
            (Mechanism::Login, Some(response)) => {
                self.sasl_response(greeting, Sasl::LoginUser, response.as_bytes())
            }
            (Mechanism::Login, None) => (
                State::Sasl(greeting, Sasl::LoginUser),
                Step::Reply(Reply::plain(334, LOGIN_USERNAME)),
            ),
        }
    }

    pub(super) fn sasl_response(
        &mut self,
        greeting: Greeting,
        exchange: Sasl,
        line: &[u8],
    ) -> (State, Step) {
        let response = crate::smtp::command::strip_line_ending(line);
        let unauthenticated = |greeting| {
            State::Greeted(Client {
                greeting,
                user: None,
            })
        };
        if response == b"*" {
            return (
                unauthenticated(greeting),
                Step::Reply(Reply::AUTH_CANCELLED),
            );
        }
        let malformed = |greeting| {
            (
                unauthenticated(greeting),
                Step::Reply(Reply::BAD_AUTH_RESPONSE),
            )
        };
        let verify = |greeting, user: String, password| {
            let step = Step::Authenticate {
                user: user.clone(),
                password: Secret::new(password),
            };
            (State::Verifying(greeting, user), step)
        };
        match exchange {
            Sasl::LoginUser => match sasl::login(response) {
                Ok(user) => (
                    State::Sasl(greeting, Sasl::LoginPassword { user }),
                    Step::Reply(Reply::plain(334, LOGIN_PASSWORD)),
                ),
                Err(_) => malformed(greeting),
            },
            Sasl::LoginPassword { user } => match sasl::login(response) {
                Ok(password) => verify(greeting, user, password),
                Err(_) => malformed(greeting),
            },
            Sasl::PlainResponse => match sasl::plain(response) {
                Ok((user, password)) => verify(greeting, user, password),
                Err(SaslError::ForeignAuthorization) => self.auth_failed_state(greeting),
                Err(SaslError::Malformed) => malformed(greeting),
            },
        }
    }

    pub(super) fn mail(&self, state: State, from: String, size: Option<usize>) -> (State, Step) {
        let client = match state {
            State::Greeted(client) => client,
            state => return (state, Step::Reply(Reply::BAD_SEQUENCE)),
        };
        let refusal = if self.config.mode == Mode::Submission && client.user.is_none() {
            Some(Reply::AUTH_REQUIRED)
        } else if size.is_some_and(|size| size > self.config.max_message_bytes) {
            Some(Reply::MESSAGE_TOO_LARGE)
        } else {
            None
        };
        if let Some(reply) = refusal {
            return (State::Greeted(client), Step::Reply(reply));
        }
        let mail = Mail {
            from,
            to: Vec::new(),
        };
        let reply = Reply::new(250, (2, 1, 0), "Sender OK");
        (State::Transaction(client, mail), Step::Reply(reply))
    }

    pub(super) fn rcpt(&self, state: State, rcpt: String) -> (State, Step) {
        let (client, mail) = match state {
            State::Transaction(client, mail) => (client, mail),
            state => return (state, Step::Reply(Reply::BAD_SEQUENCE)),
        };
        if mail.to.contains(&rcpt) {
            let reply = Reply::new(250, (2, 1, 5), "Recipient OK");
            return (State::Transaction(client, mail), Step::Reply(reply));
        }
        if mail.to.len() >= self.config.max_recipients {
            let state = State::Transaction(client, mail);
            return (state, Step::Reply(Reply::TOO_MANY_RECIPIENTS));
        }
        let step = Step::CheckRecipient {
            rcpt: rcpt.clone(),
            authenticated: client.user.as_ref().map(|login| login.user.clone()),
        };
        (State::CheckingRecipient(client, mail, rcpt), step)
    }

    pub(super) fn data(&self, state: State) -> (State, Step) {
        match state {
            State::Transaction(client, mail) if mail.to.is_empty() => (
                State::Transaction(client, mail),
                Step::Reply(Reply::NO_VALID_RECIPIENTS),
            ),
            State::Transaction(client, mail) => (
                State::Receiving(client, mail),
                Step::ReadData {
                    reply: Reply::START_DATA,
                    max_bytes: self.config.max_message_bytes,
                },
            ),
            state => (state, Step::Reply(Reply::BAD_SEQUENCE)),
        }
    }

    /// The credentials were not checked (too many checks waiting): `454 4.7.0`
    /// (RFC 4954 §6), and the failure count of the session is left alone.
    pub(super) fn auth_unavailable(&mut self, greeting: Greeting) -> Step {
        self.state = State::Greeted(Client {
            greeting,
            user: None,
        });
        Step::Reply(Reply::new(
            454,
            (4, 7, 0),
            "Temporary authentication failure, try again later",
        ))
    }

    pub(super) fn auth_failed(&mut self, greeting: Greeting) -> Step {
        let (state, step) = self.auth_failed_state(greeting);
        self.state = state;
        step
    }

    pub(super) fn auth_failed_state(&mut self, greeting: Greeting) -> (State, Step) {
        self.auth_failures += 1;
        if self.auth_failures >= self.config.max_auth_failures {
            return (State::Closed, Step::Close(Reply::TOO_MANY_AUTH_FAILURES));
        }
        let client = Client {
            greeting,
            user: None,
        };
        (State::Greeted(client), Step::Reply(Reply::AUTH_FAILED))
    }
}

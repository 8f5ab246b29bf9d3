//! The client's half of the dialogue over one stream: commands, replies, transactions.

use std::io;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::io::AsyncRead;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWrite;
use tokio::io::AsyncWriteExt;
use tokio::io::BufReader;

use super::Capabilities;
use super::ClientError;
use super::ClientTimeouts;
use super::Delivery;
use super::Message;
use super::RecipientOutcome;
use super::Stage;
use super::parse_reply;
use crate::smtp::data::dot_stuff;
use crate::smtp::reply::Reply;

/// The longest reply line accepted (RFC 5321 §4.5.3.1.5 says 512; be lenient).
const MAX_REPLY_LINE: u64 = 4096;
/// The most lines in one multi-line reply (an EHLO answer has a dozen).
const MAX_REPLY_LINES: usize = 100;

/// One side of the dialogue over a plaintext or TLS stream.
pub(super) struct Conversation<T> {
    reader: BufReader<T>,
    timeouts: ClientTimeouts,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Conversation<T> {
    pub(super) fn new(stream: T, timeouts: ClientTimeouts) -> Self {
        Conversation {
            reader: BufReader::new(stream),
            timeouts,
        }
    }

    /// The stream, for the TLS upgrade. Anything the server sent after its last reply
    /// is dropped with the buffer (RFC 3207 §4.2).
    pub(super) fn into_inner(self) -> T {
        self.reader.into_inner()
    }

    pub(super) async fn hello(&mut self, helo: &str) -> Result<Capabilities, ClientError> {
        let reply = self.exchange(&format!("EHLO {helo}"), Stage::Hello).await?;
        if reply.is_positive() {
            return Ok(Capabilities::from_ehlo(&reply));
        }
        if !matches!(reply.code(), 500 | 502) {
            return Err(ClientError::Rejected {
                stage: Stage::Hello,
                reply,
            });
        }
        // A server without ESMTP (RFC 5321 §4.1.1.1): plain HELO, no extensions.
        self.command(&format!("HELO {helo}"), Stage::Hello).await?;
        Ok(Capabilities::default())
    }

    /// MAIL, RCPT, DATA and the message. With PIPELINING (RFC 2920) the commands go in
    /// one write and their replies are read in order.
    pub(super) async fn transaction(
        &mut self,
        capabilities: &Capabilities,
        message: &Message<'_>,
        tls: bool,
    ) -> Result<Delivery, ClientError> {
        let mut mail = format!("MAIL FROM:<{}>", message.mail_from);
        if capabilities.size {
            mail.push_str(&format!(" SIZE={}", message.data.len()));
        }
        if capabilities.eight_bit_mime && !message.data.is_ascii() {
            mail.push_str(" BODY=8BITMIME");
        }
        if capabilities.pipelining {
            self.pipelined(&mail, message, tls).await
        } else {
            self.one_by_one(&mail, message, tls).await
        }
    }

    /// The transaction one command and one reply at a time.
    async fn one_by_one(
        &mut self,
        mail: &str,
        message: &Message<'_>,
        tls: bool,
    ) -> Result<Delivery, ClientError> {
        self.command(mail, Stage::MailFrom).await?;
        let mut recipients = Vec::with_capacity(message.rcpt_to.len());
        for address in message.rcpt_to {
            let reply = self.exchange(&rcpt(address), Stage::RcptTo).await?;
            recipients.push(RecipientOutcome {
                address: address.clone(),
                reply,
            });
        }
        if !recipients.iter().any(|r| r.reply.is_positive()) {
            return Ok(Delivery {
                recipients,
                data_reply: None,
                tls,
            });
        }
        let go_ahead = self.exchange("DATA", Stage::Data).await?;
        self.send_data(go_ahead, recipients, message, tls).await
    }

    /// The transaction with MAIL, every RCPT and DATA in one write (RFC 2920).
    async fn pipelined(
        &mut self,
        mail: &str,
        message: &Message<'_>,
        tls: bool,
    ) -> Result<Delivery, ClientError> {
        let mut group = format!("{mail}\r\n");
        for address in message.rcpt_to {
            group.push_str(&rcpt(address));
            group.push_str("\r\n");
        }
        group.push_str("DATA\r\n");
        self.write(group.as_bytes(), Stage::MailFrom).await?;
        let sender = self
            .read_reply(Stage::MailFrom, self.timeouts.command)
            .await?;
        let mut recipients = Vec::with_capacity(message.rcpt_to.len());
        for address in message.rcpt_to {
            let reply = self
                .read_reply(Stage::RcptTo, self.timeouts.command)
                .await?;
            recipients.push(RecipientOutcome {
                address: address.clone(),
                reply,
            });
        }
        let go_ahead = self.read_reply(Stage::Data, self.timeouts.command).await?;
        let nobody = !recipients.iter().any(|r| r.reply.is_positive());
        if sender.is_positive() && !nobody {
            return self.send_data(go_ahead, recipients, message, tls).await;
        }
        if go_ahead.code() == 354 {
            // A server that said 354 with nobody to deliver to gets an empty message,
            // which it must then refuse (RFC 2920 §3.1).
            self.write(b".\r\n", Stage::Data).await?;
            self.read_reply(Stage::DataEnd, self.timeouts.data_end)
                .await?;
        }
        if !sender.is_positive() {
            return Err(ClientError::Rejected {
                stage: Stage::MailFrom,
                reply: sender,
            });
        }
        Ok(Delivery {
            recipients,
            data_reply: None,
            tls,
        })
    }

    /// The message after the server's answer to DATA, and the server's verdict on it.
    async fn send_data(
        &mut self,
        go_ahead: Reply,
        recipients: Vec<RecipientOutcome>,
        message: &Message<'_>,
        tls: bool,
    ) -> Result<Delivery, ClientError> {
        if go_ahead.code() != 354 {
            return Err(ClientError::Rejected {
                stage: Stage::Data,
                reply: go_ahead,
            });
        }
        self.write(&dot_stuff(message.data), Stage::Data).await?;
        let reply = self
            .read_reply(Stage::DataEnd, self.timeouts.data_end)
            .await?;
        if !reply.is_positive() {
            return Err(ClientError::Rejected {
                stage: Stage::DataEnd,
                reply,
            });
        }
        Ok(Delivery {
            recipients,
            data_reply: Some(reply),
            tls,
        })
    }

    /// RSET: back to a clean state after a refused transaction (RFC 5321 §4.1.1.5).
    /// Whether the server agreed.
    pub(super) async fn reset(&mut self) -> bool {
        self.command("RSET", Stage::MailFrom).await.is_ok()
    }

    /// Sends a command and requires a positive reply.
    pub(super) async fn command(&mut self, line: &str, stage: Stage) -> Result<Reply, ClientError> {
        let reply = self.exchange(line, stage).await?;
        if reply.is_positive() {
            Ok(reply)
        } else {
            Err(ClientError::Rejected { stage, reply })
        }
    }

    /// Reads a reply and requires `code`.
    pub(super) async fn expect(&mut self, stage: Stage, code: u16) -> Result<Reply, ClientError> {
        let reply = self.read_reply(stage, self.timeouts.command).await?;
        if reply.code() == code {
            Ok(reply)
        } else {
            Err(ClientError::Rejected { stage, reply })
        }
    }

    async fn exchange(&mut self, line: &str, stage: Stage) -> Result<Reply, ClientError> {
        self.write(format!("{line}\r\n").as_bytes(), stage).await?;
        self.read_reply(stage, self.timeouts.command).await
    }

    /// Says goodbye, ignoring the answer: the outcome is already known.
    pub(super) async fn quit(&mut self) {
        if self.write(b"QUIT\r\n", Stage::DataEnd).await.is_ok() {
            let _ = self.read_reply(Stage::DataEnd, self.timeouts.command).await;
        }
    }

    /// Passes `result` on, saying QUIT first when the server refused something: it is
    /// still talking, and the session ends here. A `421` has closed it already.
    pub(super) async fn quit_if_refused<R>(
        &mut self,
        result: Result<R, ClientError>,
    ) -> Result<R, ClientError> {
        if let Err(ClientError::Rejected { reply, .. }) = &result
            && reply.code() != 421
        {
            self.quit().await;
        }
        result
    }

    async fn write(&mut self, bytes: &[u8], stage: Stage) -> Result<(), ClientError> {
        let stream = self.reader.get_mut();
        let write = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        tokio::time::timeout(self.timeouts.command, write)
            .await
            .map_err(|_| ClientError::Timeout(stage))??;
        Ok(())
    }

    async fn read_reply(&mut self, stage: Stage, limit: Duration) -> Result<Reply, ClientError> {
        tokio::time::timeout(limit, self.read_reply_lines(stage))
            .await
            .map_err(|_| ClientError::Timeout(stage))?
    }

    async fn read_reply_lines(&mut self, stage: Stage) -> Result<Reply, ClientError> {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut line = Vec::new();
            let read = (&mut self.reader)
                .take(MAX_REPLY_LINE)
                .read_until(b'\n', &mut line)
                .await?;
            if read == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
            if !line.ends_with(b"\n") || lines.len() >= MAX_REPLY_LINES {
                return Err(ClientError::MalformedReply(stage));
            }
            let last = line.get(3).is_none_or(|&b| b != b'-');
            lines.push(line);
            if last {
                let slices: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
                return parse_reply(&slices).ok_or(ClientError::MalformedReply(stage));
            }
        }
    }
}

/// The RCPT command for one recipient.
fn rcpt(address: &str) -> String {
    format!("RCPT TO:<{address}>")
}

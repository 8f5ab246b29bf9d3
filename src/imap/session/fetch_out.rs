//! FETCH output on its way to the shell. Small responses (a message's header fields)
//! are packed back to back into blocks of [`BLOCK`] bytes, so that 10,000 of them are
//! some forty buffers instead of 10,000 (each allocated, freed and copied again into
//! the connection's send buffer); a block is as large as the connection's writes, so
//! it goes to TLS from where it was packed. A streaming session hands what is ready
//! to the shell about every [`EARLY_BYTES`], and at each [`FetchOut::hand_over`].

use crate::imap::reply::Out;
use crate::imap::session::Early;
use crate::imap::session::hand_over;

/// About how much output is handed to the shell at a time when streaming.
const EARLY_BYTES: usize = 128 * 1024;

/// How large a block of packed responses grows (the connection's write size, so a
/// block is written from its own buffer).
const BLOCK: usize = 64 * 1024;

/// Responses shorter than this are packed; longer ones (a whole body) stay their own.
const PACK_BELOW: usize = 16 * 1024;

/// The responses of one FETCH.
pub(super) struct FetchOut {
    out: Vec<Out>,
    /// Small responses not yet sealed into a block of `out`.
    packed: Vec<u8>,
    /// Bytes in `out` since it was last handed over.
    pending: usize,
    early: Option<Early>,
}

impl FetchOut {
    /// Output for a command; `early` is the streaming session's channel, if any.
    pub(super) fn new(early: Option<Early>, responses: usize) -> FetchOut {
        FetchOut {
            out: Vec::with_capacity(responses.min(4096)),
            packed: Vec::new(),
            pending: 0,
            early,
        }
    }

    /// Adds one message's response.
    pub(super) fn push(&mut self, response: Out) {
        match response {
            Out::Raw(bytes) if bytes.len() < PACK_BELOW => {
                if self.packed.capacity() == 0 {
                    self.packed.reserve_exact(BLOCK + PACK_BELOW);
                }
                self.packed.extend_from_slice(&bytes);
                if self.packed.len() >= BLOCK {
                    self.seal();
                }
            }
            other => {
                self.seal();
                self.pending += weight(&other);
                self.out.push(other);
            }
        }
        if self.pending >= EARLY_BYTES {
            self.hand_over();
        }
    }

    /// Hands everything ready to a streaming session's shell now (a no-op for a
    /// session that is not streaming: its output is returned by [`FetchOut::finish`]).
    pub(super) fn hand_over(&mut self) {
        if self.early.is_none() {
            return;
        }
        self.seal();
        if !self.out.is_empty() && hand_over(&mut self.early, &mut self.out) {
            self.pending = 0;
        }
    }

    /// What was not handed over, and the channel to give back to the session.
    pub(super) fn finish(mut self) -> (Vec<Out>, Option<Early>) {
        self.seal();
        (self.out, self.early)
    }

    /// Moves the packed responses into `out` as one block.
    fn seal(&mut self) {
        if !self.packed.is_empty() {
            self.pending += self.packed.len();
            self.out.push(Out::Raw(std::mem::take(&mut self.packed)));
        }
    }
}

/// About how many bytes a response is on the wire (responses the codec encodes are
/// counted as a short line).
fn weight(out: &Out) -> usize {
    match out {
        Out::Response(_) => 64,
        Out::Raw(bytes) => bytes.len(),
        Out::Chunks(chunks) => chunks.iter().map(Vec::len).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(seq: u32, len: usize) -> Out {
        let mut bytes = format!("* {seq} FETCH (BODY[HEADER] {{{len}}}\r\n").into_bytes();
        bytes.resize(bytes.len() + len, b'x');
        bytes.extend_from_slice(b")\r\n");
        Out::Raw(bytes)
    }

    fn wire(out: &[Out]) -> Vec<u8> {
        out.iter().flat_map(Out::encode).collect()
    }

    #[test]
    fn small_responses_are_packed_into_blocks_in_order() {
        let mut output = FetchOut::new(None, 1000);
        let responses: Vec<Out> = (1..=1000).map(|seq| response(seq, 250)).collect();
        for response in responses.clone() {
            output.push(response);
        }
        let (out, early) = output.finish();
        assert!(early.is_none());
        assert_eq!(wire(&out), wire(&responses));
        // About 280 KB: four full blocks and the rest.
        assert_eq!(out.len(), 5);
        assert!(out[..4].iter().all(|block| weight(block) >= BLOCK));
    }

    #[test]
    fn a_large_response_stays_its_own_between_blocks() {
        let mut output = FetchOut::new(None, 3);
        let responses = vec![response(1, 100), response(2, 100_000), response(3, 100)];
        for response in responses.clone() {
            output.push(response);
        }
        let (out, _) = output.finish();
        assert_eq!(out.len(), 3);
        assert_eq!(wire(&out), wire(&responses));
        assert_eq!(weight(&out[1]), weight(&responses[1]));
    }

    #[test]
    fn a_streaming_session_gets_the_output_as_it_is_made() {
        let (sender, mut receiver) = tokio::sync::mpsc::channel(64);
        let responses: Vec<Out> = (1..=2000).map(|seq| response(seq, 250)).collect();
        let mut output = FetchOut::new(Some(sender), responses.len());
        for response in responses.iter().take(10).cloned() {
            output.push(response);
        }
        output.hand_over();
        let first = receiver.try_recv().unwrap();
        assert_eq!(wire(&first), wire(&responses[..10]));
        for response in responses.iter().skip(10).cloned() {
            output.push(response);
        }
        let (rest, early) = output.finish();
        drop(early);
        let mut handed = first;
        while let Ok(batch) = receiver.try_recv() {
            assert!(batch.iter().map(weight).sum::<usize>() >= EARLY_BYTES);
            handed.extend(batch);
        }
        handed.extend(rest);
        assert_eq!(wire(&handed), wire(&responses));
    }
}

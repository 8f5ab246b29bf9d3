//! The control socket: how an operator command reaches the daemon that holds the store.
//!
//! The store has one writer ([`crate::store`]). A command (`pecd mailbox add …`) that
//! finds the daemon holding it sends its request over a Unix socket in the data
//! directory and the daemon runs it on the same `Store` its sessions use, streaming the
//! output back. The socket sits in a folder only the daemon's user may enter (0700):
//! whoever can connect could open the database files anyway, so no further credential
//! is asked. What a request means is the caller's business ([`crate::cli::store`]);
//! this module moves bytes.
//!
//! Wire: the request is a 4-byte big-endian length and that many bytes (at most
//! [`MAX_REQUEST`]). The reply is frames, each a tag byte: `O` + 4-byte length + output
//! bytes, any number of times, then `S` + one status byte (the exit status), or `E` +
//! 4-byte length + a one-line error message.

use std::io;
use std::io::BufWriter;
use std::io::Read;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The largest request accepted.
pub const MAX_REQUEST: usize = 1 << 20;
/// The largest output frame and error message a reply may carry.
const MAX_FRAME: usize = 1 << 20;
/// How long the daemon waits for a connected client's request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How a command ended on the daemon: its exit status, or its error line.
pub type Finished = Result<u8, String>;

/// The socket of the daemon serving `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control").join("pecd.sock")
}

/// Binds the control socket, in a folder only this user may enter, replacing a socket
/// left by a daemon that did not stop cleanly (the caller holds the store's writer
/// lock, so no other daemon serves this data directory).
pub fn bind(data_dir: &Path) -> io::Result<tokio::net::UnixListener> {
    let path = socket_path(data_dir);
    let dir = path.parent().unwrap_or(data_dir);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // An existing folder too: the socket must not be reachable through it by others.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    match std::fs::remove_file(&path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    tokio::net::UnixListener::bind(&path)
}

/// Serves requests until `shutdown`, each on a blocking thread: `handle` gets the
/// request and a writer whose bytes stream to the client, and says how it ended.
pub async fn serve<H>(listener: tokio::net::UnixListener, shutdown: CancellationToken, handle: H)
where
    H: Fn(&[u8], &mut dyn Write) -> Finished + Send + Sync + 'static,
{
    let handle = Arc::new(handle);
    let path = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(Path::to_path_buf));
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted.and_then(|(stream, _)| stream.into_std()) {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "control socket: accept failed");
                continue;
            }
        };
        let handle = Arc::clone(&handle);
        tokio::task::spawn_blocking(move || {
            if let Err(error) = answer(stream, handle.as_ref()) {
                tracing::warn!(%error, "control socket: request failed");
            }
        });
    }
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
}

/// Reads one request, runs it, streams the reply.
fn answer(
    stream: UnixStream,
    handle: &(dyn Fn(&[u8], &mut dyn Write) -> Finished + Send + Sync),
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let request = read_request(&mut &stream)?;
    let mut output = BufWriter::with_capacity(64 * 1024, Frames(&stream));
    let finished = handle(&request, &mut output);
    output.flush()?;
    let mut end = Vec::new();
    match finished {
        Ok(status) => end.extend([b'S', status]),
        Err(message) => {
            let message = &message.as_bytes()[..message.len().min(MAX_FRAME)];
            end.push(b'E');
            end.extend(frame_length(message.len()));
            end.extend(message);
        }
    }
    (&stream).write_all(&end)
}

/// A writer whose every write is one `O` frame.
struct Frames<'a>(&'a UnixStream);

impl Write for Frames<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let bytes = &bytes[..bytes.len().min(MAX_FRAME)];
        let mut stream = self.0;
        stream.write_all(b"O")?;
        stream.write_all(&frame_length(bytes.len()))?;
        stream.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn frame_length(length: usize) -> [u8; 4] {
    u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes()
}

/// Connects to the daemon serving `data_dir`; an `Err` if none listens there.
pub fn connect(data_dir: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(socket_path(data_dir))
}

/// Sends `request` over a connection from [`connect`] and copies the daemon's output
/// to `out` as it comes; an `Err` if the reply breaks off.
pub fn call(mut stream: UnixStream, request: &[u8], out: &mut dyn Write) -> io::Result<Finished> {
    if request.len() > MAX_REQUEST {
        return Err(invalid("request too large"));
    }
    stream.write_all(&frame_length(request.len()))?;
    stream.write_all(request)?;
    read_reply(&mut stream, out)
}

/// Reads a request (the daemon's side).
pub fn read_request(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let length = read_length(input, MAX_REQUEST)?;
    read_exact(input, length)
}

/// Reads a reply, copying its output to `out` (the client's side).
pub fn read_reply(input: &mut impl Read, out: &mut dyn Write) -> io::Result<Finished> {
    loop {
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag)?;
        match tag[0] {
            b'O' => {
                let length = read_length(input, MAX_FRAME)?;
                out.write_all(&read_exact(input, length)?)?;
            }
            b'S' => {
                let mut status = [0u8; 1];
                input.read_exact(&mut status)?;
                return Ok(Ok(status[0]));
            }
            b'E' => {
                let length = read_length(input, MAX_FRAME)?;
                let message = read_exact(input, length)?;
                return Ok(Err(String::from_utf8_lossy(&message).into_owned()));
            }
            other => return Err(invalid(&format!("unknown reply frame {other:#04x}"))),
        }
    }
}

fn read_length(input: &mut impl Read, max: usize) -> io::Result<usize> {
    let mut length = [0u8; 4];
    input.read_exact(&mut length)?;
    let length = usize::try_from(u32::from_be_bytes(length)).unwrap_or(usize::MAX);
    if length > max {
        return Err(invalid(&format!("frame of {length} bytes (at most {max})")));
    }
    Ok(length)
}

fn read_exact(input: &mut impl Read, length: usize) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; length];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_streams_output_then_ends_with_a_status_or_an_error() {
        let mut reply = vec![b'O', 0, 0, 0, 3];
        reply.extend(b"abc");
        reply.extend([b'S', 1]);
        let mut out = Vec::new();
        assert_eq!(read_reply(&mut &reply[..], &mut out).unwrap(), Ok(1));
        assert_eq!(out, b"abc");

        let mut reply = vec![b'E', 0, 0, 0, 2];
        reply.extend(b"no");
        assert_eq!(
            read_reply(&mut &reply[..], &mut Vec::new()).unwrap(),
            Err("no".to_string())
        );
    }

    #[test]
    fn a_broken_or_oversized_frame_is_an_error() {
        let mut out = Vec::new();
        assert!(read_reply(&mut &b"O\0\0\0\x09abc"[..], &mut out).is_err());
        assert!(read_reply(&mut &b"X"[..], &mut out).is_err());
        assert!(read_reply(&mut &b"O\xff\xff\xff\xff"[..], &mut out).is_err());
        assert!(read_request(&mut &b"\x00\x20\x00\x00"[..]).is_err());
        assert!(read_request(&mut &b"\x00\x00\x00\x02a"[..]).is_err());
    }
}

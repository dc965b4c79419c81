//! A request body read by blocking code (the unpacker runs on a blocking thread): chunks travel
//! over a bounded channel, so the upload streams into the unpacker at the pace it writes and no
//! copy of the archive is kept.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

/// Chunks in flight between the connection and the unpacker.
const CHUNKS_IN_FLIGHT: usize = 16;

/// The blocking end: reads what [`feed`] sends.
pub(super) struct BodyReader {
    chunks: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(io::Error::other(format!("upload interrupted: {e}"))),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// A channel for one body: the reader for the blocking side, the sender for [`feed`].
pub(super) fn channel() -> (mpsc::Sender<Result<Bytes, String>>, BodyReader) {
    let (sender, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let reader = BodyReader {
        chunks,
        current: Bytes::new(),
    };
    (sender, reader)
}

/// Sends `body` to the reader. Once the reader is gone (the unpack stopped early), the rest of
/// the body is still read and dropped: the client gets its answer after sending everything,
/// instead of a reset connection in the middle of its upload.
pub(super) async fn feed<S, E>(mut body: S, sender: mpsc::Sender<Result<Bytes, String>>)
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut reader_gone = false;
    while let Some(chunk) = body.next().await {
        let failed = chunk.is_err();
        if !reader_gone {
            let chunk = chunk.map_err(|e| e.to_string());
            reader_gone = sender.send(chunk).await.is_err();
        }
        if failed {
            break;
        }
    }
}

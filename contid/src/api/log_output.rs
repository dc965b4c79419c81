//! A container's log as an HTTP body: raw text, newline-delimited `LogLine`s, or attach's
//! multiplexed frames; shared by `/v1` and the Docker API.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use conti_proto::LogLine;
use serde::Deserialize;

use crate::engine::{FRAME_HEADER_LEN, LogFollower, LogRecord, LogStream, stream_frame_header};

#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// The raw output, stdout and stderr merged in order.
    #[default]
    Text,
    /// Newline-delimited `LogLine` objects.
    Json,
    /// The raw output in frames that say which stream they belong to, as attach sends it.
    Multiplexed,
}

/// The body of a logs answer: the follower's records rendered in the format asked, a batch at a
/// time, as they come.
pub(super) fn log_body(
    follower: LogFollower,
    format: LogFormat,
    timestamps: bool,
    streams: LogStreams,
) -> Body {
    let renderer = LogRenderer::new(format, timestamps, streams);
    let stream = futures_util::stream::unfold(
        (follower, renderer),
        |(mut follower, mut renderer)| async move {
            let more = follower
                .next_batch(&mut |record| renderer.push(record))
                .await;
            more.then(|| {
                (
                    Ok::<Bytes, Infallible>(renderer.take()),
                    (follower, renderer),
                )
            })
        },
    );
    Body::from_stream(stream)
}

/// Which of the container's streams a logs answer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LogStreams {
    pub stdout: bool,
    pub stderr: bool,
}

impl LogStreams {
    pub const BOTH: LogStreams = LogStreams {
        stdout: true,
        stderr: true,
    };

    fn wants(self, stream: LogStream) -> bool {
        match stream {
            LogStream::Stdout => self.stdout,
            LogStream::Stderr => self.stderr,
        }
    }
}

/// Largest frame of the multiplexed format (attach's limit is 1 MiB).
const MAX_LOG_FRAME: usize = 256 * 1024;

/// Puts records in the format asked for, a batch at a time.
struct LogRenderer {
    format: LogFormat,
    timestamps: bool,
    streams: LogStreams,
    out: Vec<u8>,
    /// Room for the bytes of one line (`json`).
    line: Vec<u8>,
    /// The frame being filled (`multiplexed`): its stream and where its header is.
    frame: Option<(LogStream, usize)>,
}

impl LogRenderer {
    fn new(format: LogFormat, timestamps: bool, streams: LogStreams) -> LogRenderer {
        LogRenderer {
            format,
            timestamps,
            streams,
            out: Vec::new(),
            line: Vec::new(),
            frame: None,
        }
    }

    fn push(&mut self, record: &LogRecord<'_>) {
        if !self.streams.wants(record.stream) {
            return;
        }
        match self.format {
            LogFormat::Text => self.push_text(record),
            LogFormat::Multiplexed => {
                // Consecutive records of one stream share a frame.
                let same_frame = self.frame.is_some_and(|(stream, header)| {
                    stream == record.stream && self.out.len() - header < MAX_LOG_FRAME
                });
                if !same_frame {
                    self.close_frame();
                    self.frame = Some((record.stream, self.out.len()));
                    self.out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
                }
                self.push_text(record);
            }
            LogFormat::Json => {
                self.line.clear();
                record.write_line(&mut self.line);
                let json = LogLine::new(record.stream.as_str(), record.time, &self.line);
                // Serialising a struct of strings cannot fail.
                if serde_json::to_writer(&mut self.out, &json).is_ok() {
                    self.out.push(b'\n');
                }
            }
        }
    }

    fn push_text(&mut self, record: &LogRecord<'_>) {
        if self.timestamps {
            self.out.extend_from_slice(record.time.as_bytes());
            self.out.push(b' ');
        }
        record.write_line(&mut self.out);
    }

    fn close_frame(&mut self) {
        if let Some((stream, header)) = self.frame.take() {
            let len = self.out.len() - header - FRAME_HEADER_LEN;
            self.out[header..header + FRAME_HEADER_LEN]
                .copy_from_slice(&stream_frame_header(stream, len));
        }
    }

    /// The batch rendered so far.
    fn take(&mut self) -> Bytes {
        self.close_frame();
        Bytes::from(std::mem::take(&mut self.out))
    }
}

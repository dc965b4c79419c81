//! A stand-in for contid in tests: a Unix socket that answers each connection with canned bytes
//! and hands back the requests it got, so the client and the commands are tested without a
//! daemon.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::task::JoinHandle;

use crate::client::Client;

/// A socket path no other test uses.
fn socket_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("conti-cli-test-{}-{n}.sock", std::process::id()))
}

/// Serves one connection: reads the request, answers with `chunks` written one by one with a
/// pause between them, and returns the request it got (see [`serve`]).
pub fn fake_contid<C: AsRef<[u8]> + Send + 'static>(
    chunks: Vec<C>,
) -> (Client, JoinHandle<String>) {
    let (client, server) = serve(vec![chunks]);
    let server = tokio::spawn(async move { server.await.unwrap().remove(0) });
    (client, server)
}

/// Serves one connection per answer, in turn (the client makes one per request): reads each
/// request, answers it with its chunks, and returns the requests, each as its head followed by
/// its body (a chunked body decoded).
pub fn serve<C: AsRef<[u8]> + Send + 'static>(
    answers: Vec<Vec<C>>,
) -> (Client, JoinHandle<Vec<String>>) {
    let path = socket_path();
    let listener = UnixListener::bind(&path).unwrap();
    let client = Client::new(&path);
    let server = tokio::spawn(async move {
        let mut requests = Vec::new();
        let count = answers.len();
        for (n, chunks) in answers.into_iter().enumerate() {
            let (stream, _) = listener.accept().await.unwrap();
            if n + 1 == count {
                // No connection is to come: the path is not needed any more (a test may end
                // before this task does, so it is removed now rather than at the end).
                let _ = std::fs::remove_file(&path);
            }
            let mut stream = BufReader::new(stream);
            requests.push(read_request(&mut stream).await);
            for chunk in chunks {
                // The client may hang up once it has what it wants (a pull, at `done`).
                if stream.get_mut().write_all(chunk.as_ref()).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        requests
    });
    (client, server)
}

async fn read_request(stream: &mut BufReader<tokio::net::UnixStream>) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap();
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if let Some(length) = lower
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
    {
        body.resize(length.trim().parse().unwrap(), 0);
        stream.read_exact(&mut body).await.unwrap();
    } else if lower.contains("transfer-encoding: chunked\r\n") {
        loop {
            let mut size = String::new();
            stream.read_line(&mut size).await.unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            stream.read_exact(&mut chunk).await.unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    head + &String::from_utf8_lossy(&body)
}

/// A whole answer with a JSON (or empty) body.
pub fn json_answer(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One chunk of a chunked body.
pub fn chunked(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

/// A 200 answer whose chunked body is `lines`, one chunk each, as contid streams NDJSON.
pub fn ndjson_answer(lines: &[&str]) -> Vec<String> {
    let mut answer = vec![
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n\
         transfer-encoding: chunked\r\n\r\n"
            .to_string(),
    ];
    answer.extend(lines.iter().map(|line| chunked(&format!("{line}\n"))));
    answer.push("0\r\n\r\n".to_string());
    answer
}

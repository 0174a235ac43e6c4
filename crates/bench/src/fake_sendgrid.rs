//! A local stand-in for SendGrid's v3 Mail Send API (`POST /v3/mail/send`, answered `202`), so
//! that sign-in emails leave the server the way they do in production (its delivery worker, an
//! HTTP call to a provider) and their codes reach the virtual users. A minimal HTTP/1.1 server on
//! tokio: keep-alive, `Content-Length` bodies, nothing else, since only Ostiary talks to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub const API_KEY: &str = "SG.ostiary-bench-key";

#[derive(Default)]
struct Shared {
    /// Virtual users waiting for the code sent to an address.
    waiting: Mutex<HashMap<String, oneshot::Sender<String>>>,
    received: AtomicU64,
    /// Messages nobody waited for (a new-sign-in notice, a late duplicate).
    unclaimed: AtomicU64,
}

#[derive(Clone)]
pub struct FakeSendGrid {
    /// `http://127.0.0.1:PORT`: SendGrid's `base_url`.
    pub base: String,
    shared: Arc<Shared>,
}

impl FakeSendGrid {
    pub async fn start() -> anyhow::Result<FakeSendGrid> {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("bind the fake SendGrid")?;
        let base = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared::default());
        let accepting = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, Arc::clone(&accepting)));
            }
        });
        Ok(FakeSendGrid { base, shared })
    }

    /// Registers interest in the next code sent to `to`; call it before asking for the email.
    pub fn expect_code(&self, to: &str) -> oneshot::Receiver<String> {
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(to.to_owned(), tx);
        rx
    }

    /// Messages received, and how many of them nobody was waiting for.
    pub fn counts(&self) -> (u64, u64) {
        (self.shared.received.load(Ordering::Relaxed), self.shared.unclaimed.load(Ordering::Relaxed))
    }
}

async fn serve_connection(mut stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let length = content_length(&head).unwrap_or(0);
        while buf.len() < head_end + length {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let body: Vec<u8> = buf.drain(..head_end + length).skip(head_end).collect();
        let status = if head.starts_with("POST ") && head.contains("/v3/mail/send") {
            deliver(&shared, &body);
            "202 Accepted"
        } else {
            "404 Not Found"
        };
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
        stream.write_all(answer.as_bytes()).await?;
    }
}

fn content_length(head: &str) -> Option<usize> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
}

/// Hands the code of a Mail Send body to whoever waits for its recipient.
fn deliver(shared: &Shared, body: &[u8]) {
    shared.received.fetch_add(1, Ordering::Relaxed);
    let message: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let to = message["personalizations"][0]["to"][0]["email"].as_str().unwrap_or_default();
    let text = message["content"][0]["value"].as_str().unwrap_or_default();
    let waiter = shared.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(to);
    match (waiter, code_in(text)) {
        (Some(waiter), Some(code)) => {
            let _ = waiter.send(code.to_owned());
        }
        _ => {
            shared.unclaimed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The first run of exactly six digits (`passwordless.email.code_length`).
pub fn code_in(text: &str) -> Option<&str> {
    text.split(|c: char| !c.is_ascii_digit()).find(|run| run.len() == 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_the_first_six_digit_run() {
        assert_eq!(code_in("Your code for 2 apps is 042917. It expires in 5 minutes."), Some("042917"));
        assert_eq!(code_in("No code in 12345 or 1234567"), None);
    }

    #[test]
    fn content_length_is_found_in_any_case() {
        assert_eq!(content_length("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n"), Some(42));
        assert_eq!(content_length("GET / HTTP/1.1\r\n\r\n"), None);
    }
}

//! The client of the discovery and JWKS loads: one HTTP/1.1 keep-alive connection per virtual user
//! on hyper's connection API, without reqwest's pool, redirect, cookie and timeout layers, and a
//! body checked by comparing it with the last one that parsed as JSON.
//!
//! Why a client of its own: a public document costs the server about 15 µs, and reqwest plus a
//! JSON parse of every 2.6 KB discovery document cost the driver's one core about 35 µs. The
//! driver, not the server, set the pace: the server idled between requests and paid a wake-up for
//! each, so its figure per CPU-second measured the driver (docs/performance.md). The other loads
//! cost the server far more than the driver and keep reqwest.

use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::http::{Recorder, TIMEOUT, snippet};

/// A virtual user's connection, and the last document it checked (its URL and body).
#[derive(Default)]
pub struct Documents {
    connection: Option<SendRequest<Empty<Bytes>>>,
    last: Option<(String, Bytes)>,
}

impl Documents {
    /// GETs `url` (plain http), times it as `step`, and checks that the answer is a 200 whose body
    /// is the last document checked or parses as JSON.
    pub async fn get(&mut self, step: &'static str, rec: &mut Recorder, url: &str) -> anyhow::Result<()> {
        let started = Instant::now();
        let body = tokio::time::timeout(TIMEOUT, self.fetch(url))
            .await
            .map_err(|_| anyhow!("{step}: no answer in {} s", TIMEOUT.as_secs()))?
            .with_context(|| format!("{step}: GET {url}"))?;
        rec.requests.push((step, started.elapsed()));
        if self.last.as_ref().is_some_and(|(last_url, last)| last_url == url && *last == body) {
            return Ok(());
        }
        serde_json::from_slice::<serde_json::Value>(&body).with_context(|| format!("{step}: not JSON"))?;
        self.last = Some((url.to_owned(), body));
        Ok(())
    }

    async fn fetch(&mut self, url: &str) -> anyhow::Result<Bytes> {
        let url = url::Url::parse(url)?;
        let mut sender = match self.connection.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => connect(&url).await?,
        };
        sender.ready().await?;
        let request = hyper::Request::get(&url[url::Position::BeforePath..url::Position::AfterQuery])
            .header(hyper::header::HOST, &url[url::Position::BeforeHost..url::Position::AfterPort])
            .body(Empty::new())?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        // Kept only after a whole answer: a connection that failed is not used again.
        self.connection = Some(sender);
        if status != hyper::StatusCode::OK {
            bail!("{status} {}", snippet(&String::from_utf8_lossy(&body)));
        }
        Ok(body)
    }
}

async fn connect(url: &url::Url) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
    if url.scheme() != "http" {
        bail!("the documents' client speaks plain http only, not {}", url.scheme());
    }
    let addresses = url.socket_addrs(|| None)?;
    let stream = tokio::net::TcpStream::connect(&*addresses).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // Drives the connection; it ends when the server closes it or the sender is dropped, and a
    // request on a closed one fails and says so.
    tokio::spawn(connection);
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A server that answers each request on a connection with the next of `bodies` (status, body),
    /// and counts the connections it accepted.
    async fn serve(bodies: Vec<(u16, &'static str)>) -> (String, tokio::task::JoinHandle<usize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/doc", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut bodies = bodies.into_iter();
            let mut connections = 0;
            while let Some((status, body)) = bodies.next() {
                let (mut socket, _) = listener.accept().await.unwrap();
                connections += 1;
                let mut next = Some((status, body));
                while let Some((status, body)) = next.take() {
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") {
                        let mut byte = [0u8; 1];
                        if socket.read(&mut byte).await.unwrap() == 0 {
                            return connections;
                        }
                        head.push(byte[0]);
                    }
                    assert!(head.starts_with(b"GET /doc HTTP/1.1\r\n"), "{}", String::from_utf8_lossy(&head));
                    assert!(String::from_utf8_lossy(&head).to_lowercase().contains("\r\nhost: 127.0.0.1:"));
                    let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                    socket.write_all(answer.as_bytes()).await.unwrap();
                    next = bodies.next();
                }
            }
            connections
        });
        (url, task)
    }

    #[tokio::test]
    async fn one_connection_serves_every_request_and_each_body_is_checked() {
        let (url, server) =
            serve(vec![(200, r#"{"a":1}"#), (200, r#"{"a":1}"#), (200, r#"{"a":2}"#), (200, "not json")]).await;
        let (mut documents, mut rec) = (Documents::default(), Recorder::default());
        documents.get("doc", &mut rec, &url).await.unwrap();
        documents.get("doc", &mut rec, &url).await.unwrap();
        // Another document is parsed again, and accepted as JSON.
        documents.get("doc", &mut rec, &url).await.unwrap();
        let error = documents.get("doc", &mut rec, &url).await.unwrap_err();
        assert!(format!("{error:#}").contains("not JSON"), "{error:#}");
        assert_eq!(rec.requests.len(), 4);
        drop(documents);
        assert_eq!(server.await.unwrap(), 1, "one keep-alive connection");
    }

    #[tokio::test]
    async fn an_answer_other_than_200_is_an_error() {
        let (url, _server) = serve(vec![(404, r#"{"a":1}"#)]).await;
        let error = Documents::default().get("doc", &mut Recorder::default(), &url).await.unwrap_err();
        assert!(format!("{error:#}").contains("404"), "{error:#}");
    }
}

//! The HTTP listener: accepts TCP (and TLS) connections and hands them to actix's HTTP service,
//! through a guard on every HTTP/1 connection.
//!
//! Why the guard: actix answers a request head it cannot parse (a malformed request line, a header
//! past its 128 KB buffer, a URI over 64 KB) by itself, bare, before any middleware sees the
//! request. Such answers would carry none of the security headers every response promises, and
//! actix logs each at ERROR, which lets any client write error lines at will. The guard reads each
//! request head first with actix's own codec (the very parser actix then runs, so the two always
//! agree), and hands actix only what that parser accepts. A head it would refuse is replaced by a
//! well-formed request for [`REFUSED_PATH`]`{status}`, which the application answers like any other
//! page (security headers, language, the access log), and the connection ends there.

use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_codec::{AsyncRead, AsyncWrite, Decoder, ReadBuf};
use actix_http::body::MessageBody;
use actix_http::error::ParseError;
use actix_http::{HttpService, Protocol, Request, Response};
use actix_service::{IntoServiceFactory, ServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::{AppConfig, Server};
use bytes::BytesMut;

/// Where refused requests go: `/_refused/400`, `/_refused/414`, `/_refused/431`.
pub const REFUSED_PATH: &str = "/_refused/";

/// A URI longer than this is refused (the `http` crate's own limit), with 414.
const MAX_URI: usize = 65_534;
/// What actix's parser is given at most at once (its own read buffer): a head that does not end
/// within it is too large, and nothing more of it is held.
const MAX_BUFFER: usize = 131_072;
/// The room made in `pending` before each read from the client.
const READ_CHUNK: usize = 8192;

/// The state of a guarded connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading requests.
    Open,
    /// A head was refused and replaced; nothing more is read from the client.
    Refused,
    /// The client closed its side.
    Closed,
}

/// An HTTP/1 connection whose request heads are checked before actix reads them (see the module
/// documentation). HTTP/2 connections pass through untouched: their errors are protocol frames,
/// not responses.
pub struct Guard<IO> {
    io: IO,
    pass_through: bool,
    codec: actix_http::h1::Codec,
    /// Bytes read from the client that the codec has not accepted yet (an incomplete head).
    pending: BytesMut,
    /// Accepted bytes (and the refusal request) waiting for actix to read them.
    ready: BytesMut,
    state: State,
}

impl<IO> Guard<IO> {
    /// `config`: one per worker thread (it runs a clock for the `Date` header).
    pub fn new(io: IO, config: &actix_http::ServiceConfig) -> Self {
        Guard {
            io,
            pass_through: false,
            codec: actix_http::h1::Codec::new(config.clone()),
            pending: BytesMut::new(),
            ready: BytesMut::new(),
            state: State::Open,
        }
    }

    pub fn pass_through(io: IO, config: &actix_http::ServiceConfig) -> Self {
        Guard { pass_through: true, ..Guard::new(io, config) }
    }

    /// Moves what the codec accepts from `pending` to `ready`; a refused head becomes the request
    /// for its refusal page, and reading stops.
    fn decode(&mut self) {
        loop {
            let mut work = BytesMut::from(&self.pending[..self.pending.len().min(MAX_BUFFER)]);
            let before = work.len();
            let decoded = self.codec.decode(&mut work);
            let used = before - work.len();
            match decoded {
                Ok(item) => {
                    self.ready.extend_from_slice(&self.pending.split_to(used));
                    if item.is_none() || self.pending.is_empty() {
                        return;
                    }
                }
                Err(error) => {
                    let status = refusal_status(&error, &self.pending);
                    self.pending.clear();
                    self.ready.extend_from_slice(
                        format!(
                            "GET {REFUSED_PATH}{status} HTTP/1.1\r\nHost: refused.invalid\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    self.state = State::Refused;
                    return;
                }
            }
        }
    }
}

/// The status a refused head gets: 431 for a head too large to buffer (RFC 6585 §5), 414 for a
/// URI over the limit (RFC 9110 §15.5.15), 400 for anything else malformed.
fn refusal_status(error: &ParseError, head: &[u8]) -> u16 {
    let request_line = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    match error {
        ParseError::TooLarge if request_line > MAX_URI => 414,
        ParseError::TooLarge => 431,
        ParseError::Uri(_) if request_line > MAX_URI => 414,
        _ => 400,
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guard<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pass_through {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        loop {
            if !this.ready.is_empty() {
                let n = buf.remaining().min(this.ready.len());
                buf.put_slice(&this.ready.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.state != State::Open {
                return Poll::Ready(Ok(()));
            }
            // Read straight into `pending`, with room for 8 KiB at least: no buffer to zero and copy from.
            this.pending.reserve(READ_CHUNK);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.io), cx, &mut this.pending) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => {
                    // The client is done: what it sent last goes to actix as it is, then the end.
                    let rest = this.pending.split();
                    this.ready.extend_from_slice(&rest);
                    this.state = State::Closed;
                }
                Poll::Ready(Ok(_)) => this.decode(),
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guard<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Serves the application made by `app` on `listener` (over TLS with `tls`) with `workers`
/// threads, every HTTP/1 connection guarded.
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    workers: usize,
    app: F,
) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as actix_service::Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    // The HTTP service over each connection type (a macro: the stream type differs).
    macro_rules! http {
        () => {{
            let factory = app().into_factory().map_err(|e| e.into().error_response());
            HttpService::build()
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .finish(map_config(factory, |_| AppConfig::default()))
        }};
    }
    let builder = actix_server::Server::build().workers(workers).shutdown_timeout(5);
    let builder = match tls {
        None => builder.listen("ostiary-http", listener, move || {
            let config = actix_http::ServiceConfig::default();
            fn_service(move |io: actix_rt::net::TcpStream| {
                let peer = io.peer_addr().ok();
                std::future::ready(Ok((Guard::new(io, &config), Protocol::Http1, peer)))
            })
            .and_then(http!())
        })?,
        Some(mut config) => {
            // ALPN (RFC 7301): HTTP/2 where the client offers it, else HTTP/1.1.
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            builder.listen("ostiary-https", listener, move || {
                let codec = actix_http::ServiceConfig::default();
                actix_tls::accept::rustls_0_23::Acceptor::new(config.clone())
                    .map_init_err(|_| ())
                    .map_err(|e| {
                        // A client's failed handshake is the client's affair, not an error of ours.
                        tracing::debug!(error = ?e, "TLS handshake failed");
                        actix_http::error::DispatchError::Io(io::Error::other("TLS handshake failed"))
                    })
                    .and_then(fn_service(
                        move |io: actix_tls::accept::rustls_0_23::TlsStream<actix_rt::net::TcpStream>| {
                            let h2 = io.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                            let peer = io.get_ref().0.peer_addr().ok();
                            std::future::ready(Ok(if h2 {
                                (Guard::pass_through(io, &codec), Protocol::Http2, peer)
                            } else {
                                (Guard::new(io, &codec), Protocol::Http1, peer)
                            }))
                        },
                    ))
                    .and_then(http!())
            })?
        }
    };
    Ok(builder.run())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(input: &[u8]) -> (Vec<u8>, State) {
        let mut guard = Guard::new((), &actix_http::ServiceConfig::default());
        guard.pending.extend_from_slice(input);
        guard.decode();
        (guard.ready.to_vec(), guard.state)
    }

    #[actix_rt::test]
    async fn good_requests_pass_as_they_are_and_partial_heads_wait() {
        let two = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(decoded(two), (two.to_vec(), State::Open));
        let partial = b"GET /a HTTP/1.1\r\nHost: x\r\n";
        assert_eq!(decoded(partial), (Vec::new(), State::Open));
    }

    #[actix_rt::test]
    async fn a_bad_head_becomes_a_request_for_its_refusal_page() {
        let (ready, state) = decoded(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nBREW /x HTCPCP/1.0\r\n\r\n");
        let text = String::from_utf8(ready).unwrap();
        assert!(text.starts_with("GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /_refused/400 HTTP/1.1\r\n"), "{text}");
        assert!(state == State::Refused);
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
        assert!(String::from_utf8(decoded(long.as_bytes()).0).unwrap().starts_with("GET /_refused/414 "));
        let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(140_000));
        assert!(String::from_utf8(decoded(big.as_bytes()).0).unwrap().starts_with("GET /_refused/431 "));
    }
}

//! HTTP/1.1 to a plain `http://` agent, over hyper's client connections.
//!
//! Consul's HTTP API over plain HTTP is HTTP/1.1, and every in-flight blocking query holds one
//! connection. Each exchange runs a `hyper::client::conn::http1` connection inside the requesting
//! task (no dispatch task per socket); when the answer has been read the connection is taken
//! apart again ([`hyper::client::conn::http1::Connection::without_shutdown`]) and only the bare
//! socket is kept for reuse, so an idle kept-alive connection holds no buffer at all.
//! Connections are reused last in, first out and dropped after the idle timeout
//! ([`crate::TransportConfig`]); a reused one
//! that the agent had closed before answering is replaced by a new one, once. HTTPS goes through
//! `reqwest` (see `http.rs`).

use std::io;
use std::pin::pin;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, HOST};
use hyper::{Method, Request, Version};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::TransportConfig;

/// The largest response head accepted, and the most read from the socket at once.
const READ_BUF: usize = 64 * 1024;

/// One answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) index: Option<u64>,
    pub(crate) last_contact: Option<u64>,
    pub(crate) body: Bytes,
}

/// What one request carries besides its target.
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    pub(crate) method: Method,
    /// `/v1/...?...`, already encoded.
    pub(crate) target: &'a str,
    /// `X-Consul-Token`, marked sensitive.
    pub(crate) token: Option<&'a HeaderValue>,
    /// `Authorization`, marked sensitive.
    pub(crate) auth: Option<&'a HeaderValue>,
    /// The body; `None` sends no `Content-Length` (a GET or HEAD without one).
    pub(crate) body: Option<Bytes>,
}

/// The agent at one `host:port`, with its idle keep-alive connections.
#[derive(Debug)]
pub(crate) struct AgentConn {
    /// `host:port`, connected to and sent as `Host`.
    authority: String,
    host: HeaderValue,
    /// The path of the base URL (usually empty), put before `/v1/`.
    prefix: String,
    idle: Mutex<Vec<(TcpStream, Instant)>>,
    transport: TransportConfig,
}

/// Why an exchange failed.
enum Failed {
    /// A reused connection the agent had closed before it answered: the request can go again
    /// on a new one.
    Stale(hyper::Error),
    /// Any other failure.
    Other(io::Error),
}

impl AgentConn {
    /// A client for `base` (`http://host:port[/prefix]`).
    pub(crate) fn new(base: &str, transport: TransportConfig) -> io::Result<Self> {
        let rest = base.strip_prefix("http://").unwrap_or(base);
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let host = HeaderValue::from_str(authority).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{authority:?} is not a valid host:port"),
            )
        })?;
        Ok(AgentConn {
            authority: authority.to_owned(),
            host,
            prefix: prefix.to_owned(),
            idle: Mutex::new(Vec::new()),
            transport,
        })
    }

    fn build(&self, out: &Outgoing<'_>) -> io::Result<Request<Full<Bytes>>> {
        let mut req = Request::builder()
            .method(out.method.clone())
            .uri(format!("{}{}", self.prefix, out.target))
            .header(HOST, self.host.clone())
            .header("User-Agent", "discovery-consul")
            .header("Accept", "*/*");
        if let Some(t) = out.token {
            req = req.header("X-Consul-Token", t.clone());
        }
        if let Some(a) = out.auth {
            req = req.header(hyper::header::AUTHORIZATION, a.clone());
        }
        if self.transport.disable_keep_alives {
            req = req.header(CONNECTION, "close");
        }
        let body = match &out.body {
            Some(b) => {
                req = req.header(CONTENT_LENGTH, b.len());
                b.clone()
            }
            None => Bytes::new(),
        };
        req.body(Full::new(body))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }

    /// Sends one request and reads the whole answer. Connecting may take at most
    /// `connect_timeout`; the caller bounds the whole exchange.
    pub(crate) async fn request(
        &self,
        out: &Outgoing<'_>,
        connect_timeout: Duration,
    ) -> io::Result<Answer> {
        if let Some(conn) = self.take_idle() {
            match self.exchange(conn, self.build(out)?, true).await {
                Ok(answer) => return Ok(answer),
                Err(Failed::Stale(e)) => {
                    tracing::debug!(error = %e, "kept-alive connection was closed; reconnecting");
                }
                Err(Failed::Other(e)) => return Err(e),
            }
        }
        let connect_timeout = self.transport.dial_timeout.unwrap_or(connect_timeout);
        let conn = tokio::time::timeout(connect_timeout, TcpStream::connect(&self.authority))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("tcp connect to {} timed out", self.authority),
                )
            })?
            .map_err(|e| io::Error::new(e.kind(), format!("tcp connect error: {e}")))?;
        conn.set_nodelay(true)?;
        match self.exchange(conn, self.build(out)?, false).await {
            Ok(answer) => Ok(answer),
            Err(Failed::Stale(e)) => Err(hyper_io(e)),
            Err(Failed::Other(e)) => Err(e),
        }
    }

    /// Runs one request on `conn`, driving the connection in this task, and keeps the socket
    /// for reuse when the answer allows it.
    async fn exchange(
        &self,
        conn: TcpStream,
        req: Request<Full<Bytes>>,
        reused: bool,
    ) -> Result<Answer, Failed> {
        let fail = |e: hyper::Error| {
            if reused && is_stale(&e) {
                Failed::Stale(e)
            } else {
                Failed::Other(hyper_io(e))
            }
        };
        let (mut sender, connection) = http1::Builder::new()
            .writev(false)
            .max_buf_size(READ_BUF)
            .handshake::<_, Full<Bytes>>(TokioIo::new(conn))
            .await
            .map_err(fail)?;
        let mut connection = pin!(connection.without_shutdown());
        let mut ended = None;

        let mut sending = pin!(sender.send_request(req));
        let response = loop {
            tokio::select! {
                r = &mut sending => break r.map_err(fail)?,
                c = &mut connection, if ended.is_none() => ended = Some(c),
            }
        };
        let (head, body) = response.into_parts();
        let mut collecting = pin!(body.collect());
        let body = loop {
            tokio::select! {
                b = &mut collecting => break b.map_err(|e| Failed::Other(hyper_io(e)))?.to_bytes(),
                c = &mut connection, if ended.is_none() => ended = Some(c),
            }
        };
        let keep_alive = keeps_alive(head.version, head.headers.get(CONNECTION));
        // With the sender gone the connection finishes as soon as it is idle.
        drop(sender);
        let parts = match ended {
            Some(parts) => parts,
            None => connection.await,
        };
        if let Ok(parts) = parts {
            if keep_alive && parts.read_buf.is_empty() {
                self.put_idle(parts.io.into_inner());
            }
        }
        let header = |name: &str| {
            head.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
        };
        Ok(Answer {
            status: head.status.as_u16(),
            index: header("X-Consul-Index"),
            last_contact: header("X-Consul-LastContact"),
            body,
        })
    }

    /// The most recently used idle connection that is still open.
    fn take_idle(&self) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let keep = self.transport.idle_timeout;
        idle.retain(|(_, since)| now.duration_since(*since) < keep);
        while let Some((conn, _)) = idle.pop() {
            // An idle connection has nothing to read: EOF means the agent closed it, data
            // means it is out of step. Only "would block" leaves it usable.
            let mut probe = [0u8; 1];
            match conn.try_read(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(conn),
                _ => continue,
            }
        }
        None
    }

    fn put_idle(&self, conn: TcpStream) {
        let t = self.transport;
        if t.disable_keep_alives || t.max_idle_conns == Some(0) {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(max) = t.max_idle_conns {
            // The oldest idle connections go first.
            while idle.len() >= max {
                idle.remove(0);
            }
        }
        idle.push((conn, Instant::now()));
    }

    #[cfg(test)]
    fn idle_len(&self) -> usize {
        self.idle.lock().map(|i| i.len()).unwrap_or(0)
    }
}

/// Whether the answer leaves the connection open: HTTP/1.1 unless `Connection: close`, HTTP/1.0
/// only with `Connection: keep-alive`.
fn keeps_alive(version: Version, connection: Option<&HeaderValue>) -> bool {
    let has = |token: &str| {
        connection
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    match version {
        Version::HTTP_11 => !has("close"),
        Version::HTTP_10 => has("keep-alive"),
        _ => false,
    }
}

/// A failure that means the agent closed a kept-alive connection before answering.
fn is_stale(e: &hyper::Error) -> bool {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return true;
    }
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            );
        }
        src = s.source();
    }
    false
}

/// hyper's error as an `io::Error`, its whole chain in the message.
fn hyper_io(e: hyper::Error) -> io::Error {
    let mut kind = if e.is_incomplete_message() {
        io::ErrorKind::UnexpectedEof
    } else if e.is_parse() || e.is_parse_status() {
        io::ErrorKind::InvalidData
    } else {
        io::ErrorKind::Other
    };
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            if kind == io::ErrorKind::Other {
                kind = io.kind();
            }
        }
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    io::Error::new(kind, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server answering each connection's requests with the canned `answers`, in order, then
    /// closing it. It returns how many connections it accepted and every request head it saw.
    async fn server(
        answers: Vec<Vec<&'static [u8]>>,
    ) -> (String, tokio::task::JoinHandle<(usize, Vec<String>)>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let mut accepted = 0;
            let mut heads = Vec::new();
            for conn_answers in answers {
                let (mut conn, _) = listener.accept().await.unwrap();
                accepted += 1;
                for answer in conn_answers {
                    let mut req = Vec::new();
                    let mut byte = [0u8; 1];
                    while !req.ends_with(b"\r\n\r\n") {
                        if conn.read(&mut byte).await.unwrap() == 0 {
                            break;
                        }
                        req.push(byte[0]);
                    }
                    heads.push(String::from_utf8(req).unwrap());
                    // Answer in two pieces, to exercise reading more.
                    let (a, b) = answer.split_at(answer.len() / 2);
                    conn.write_all(a).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    conn.write_all(b).await.unwrap();
                }
            }
            (accepted, heads)
        });
        (addr, task)
    }

    fn get(target: &str) -> Outgoing<'_> {
        Outgoing {
            method: Method::GET,
            target,
            token: None,
            auth: None,
            body: None,
        }
    }

    #[tokio::test]
    async fn lengths_chunks_reuse_and_reconnect() {
        let (addr, task) = server(vec![
            vec![
                b"HTTP/1.1 200 OK\r\nX-Consul-Index: 7\r\nContent-Length: 5\r\n\r\nhello",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
            ],
            // The first connection was closed after two answers: a new one serves the third.
            vec![b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops"],
            vec![b"HTTP/1.0 200 OK\r\n\r\nto the end"],
        ])
        .await;
        let agent = AgentConn::new(
            &format!("http://{addr}/consul/"),
            TransportConfig::default(),
        )
        .unwrap();
        let t = Duration::from_secs(5);
        let mut token = HeaderValue::from_static("s3cret");
        token.set_sensitive(true);
        let with_token = Outgoing {
            token: Some(&token),
            auth: None,
            ..get("/v1/kv/a?index=3")
        };
        let a = agent.request(&with_token, t).await.unwrap();
        assert_eq!(
            (a.status, a.index, &a.body[..]),
            (200, Some(7), &b"hello"[..])
        );
        assert_eq!(agent.idle_len(), 1, "a kept-alive answer keeps its socket");
        let a = agent.request(&get("/v1/x"), t).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"abcde"[..]));
        // Give the server time to close the first connection.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let a = agent.request(&get("/v1/x"), t).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (500, &b"oops"[..]));
        assert_eq!(agent.idle_len(), 0, "`Connection: close` is not reused");
        let a = agent.request(&get("/v1/x"), t).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"to the end"[..]));
        let (accepted, heads) = task.await.unwrap();
        assert_eq!(accepted, 3);
        let first = heads[0].to_ascii_lowercase();
        assert!(
            first.starts_with("get /consul/v1/kv/a?index=3 http/1.1\r\n"),
            "{first}"
        );
        assert!(first.contains(&format!("host: {addr}\r\n")), "{first}");
        assert!(first.contains("x-consul-token: s3cret\r\n"), "{first}");
        assert!(!first.contains("content-length"), "{first}");
        assert!(agent.take_idle().is_none());
    }

    #[tokio::test]
    async fn a_stale_connection_is_replaced_once() {
        // The agent answers once, then closes the kept-alive connection while it is idle and
        // answers the retried request on a new one.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let mut accepted = 0;
            for _ in 0..2 {
                let (mut conn, _) = listener.accept().await.unwrap();
                accepted += 1;
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf).await.unwrap();
                conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                // Read the next request (if it comes on this socket) and close without a word.
                let _ = tokio::time::timeout(Duration::from_millis(200), conn.read(&mut buf)).await;
            }
            accepted
        });
        let agent = AgentConn::new(&format!("http://{addr}"), TransportConfig::default()).unwrap();
        let t = Duration::from_secs(5);
        let put = Outgoing {
            method: Method::PUT,
            target: "/v1/kv/a",
            token: None,
            auth: None,
            body: Some(Bytes::from_static(b"v")),
        };
        assert_eq!(agent.request(&put, t).await.unwrap().status, 200);
        // The socket is idle and still open: the probe cannot tell it will be closed.
        assert_eq!(agent.idle_len(), 1);
        let a = agent.request(&put, t).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"ok"[..]));
        assert_eq!(server.await.unwrap(), 2);
    }

    #[tokio::test]
    async fn truncated_answers_fail() {
        let (addr, _task) = server(vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",
        ]])
        .await;
        let agent = AgentConn::new(&format!("http://{addr}"), TransportConfig::default()).unwrap();
        let e = agent
            .request(&get("/v1/x"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    }

    #[test]
    fn keep_alive_rules() {
        let close = HeaderValue::from_static("keep-alive, Close");
        let ka = HeaderValue::from_static("Keep-Alive");
        assert!(keeps_alive(Version::HTTP_11, None));
        assert!(!keeps_alive(Version::HTTP_11, Some(&close)));
        assert!(!keeps_alive(Version::HTTP_10, None));
        assert!(keeps_alive(Version::HTTP_10, Some(&ka)));
    }
}

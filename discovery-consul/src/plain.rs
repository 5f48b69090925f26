//! A small HTTP/1.1 client for plain `http://` agents.
//!
//! Consul's HTTP API over plain HTTP is HTTP/1.1, and every in-flight blocking query holds one
//! connection. A general-purpose client keeps two 8 KiB buffers, a dispatch task and channels
//! per connection; this one keeps an idle socket and nothing else: a buffer exists only while
//! an answer is being read. Requests are written whole; answers are read with `Content-Length`,
//! `Transfer-Encoding: chunked`, or up to the end of the connection. Connections are kept
//! alive and reused (last in, first out); one found closed by the agent before it answered is
//! replaced by a new one, once. HTTPS goes through `reqwest` (see `http.rs`).

use std::io;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long an idle connection is kept for reuse (as the `reqwest` client was configured).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// The longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// One answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) index: Option<u64>,
    pub(crate) body: Bytes,
}

/// The agent at one `host:port`, with its idle keep-alive connections.
#[derive(Debug)]
pub(crate) struct Plain {
    /// `host:port`, connected to and sent as `Host`.
    authority: String,
    /// The path of the base URL (usually empty), put before `/v1/`.
    prefix: String,
    idle: Mutex<Vec<(TcpStream, Instant)>>,
}

/// Why an exchange failed.
enum Failed {
    /// Nothing of an answer arrived and the connection is gone: a reused connection the agent
    /// had closed; the request can go again on a new one.
    Stale(io::Error),
    /// Any other failure.
    Io(io::Error),
}

impl Failed {
    fn into_io(self) -> io::Error {
        match self {
            Failed::Stale(e) | Failed::Io(e) => e,
        }
    }
}

impl Plain {
    /// A client for `base` (`http://host:port[/prefix]`).
    pub(crate) fn new(base: &str) -> Self {
        let rest = base.strip_prefix("http://").unwrap_or(base);
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        Plain {
            authority: authority.to_owned(),
            prefix: prefix.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The request head for `method` on `target` (`/v1/...?...`, already encoded).
    pub(crate) fn head(
        &self,
        method: &str,
        target: &str,
        token: Option<&str>,
        body_len: Option<usize>,
    ) -> Vec<u8> {
        let mut h = format!(
            "{method} {}{target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: discovery-consul\r\nAccept: */*\r\n",
            self.prefix, self.authority
        );
        if let Some(t) = token {
            h.push_str("X-Consul-Token: ");
            h.push_str(t);
            h.push_str("\r\n");
        }
        if let Some(n) = body_len {
            h.push_str(&format!("Content-Length: {n}\r\n"));
        }
        h.push_str("\r\n");
        h.into_bytes()
    }

    /// Sends one request (`head` from [`Plain::head`], then `body`) and reads the answer.
    /// Connecting may take at most `connect_timeout`; the caller bounds the whole exchange.
    pub(crate) async fn request(
        &self,
        head: &[u8],
        body: &[u8],
        connect_timeout: Duration,
    ) -> io::Result<Answer> {
        if let Some(mut conn) = self.take_idle() {
            match exchange(&mut conn, head, body).await {
                Ok((answer, reusable)) => {
                    if reusable {
                        self.put_idle(conn);
                    }
                    return Ok(answer);
                }
                Err(Failed::Stale(e)) => {
                    tracing::debug!(error = %e, "kept-alive connection was closed; reconnecting");
                }
                Err(Failed::Io(e)) => return Err(e),
            }
        }
        let mut conn = tokio::time::timeout(connect_timeout, TcpStream::connect(&self.authority))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("tcp connect to {} timed out", self.authority),
                )
            })?
            .map_err(|e| io::Error::new(e.kind(), format!("tcp connect error: {e}")))?;
        conn.set_nodelay(true)?;
        let (answer, reusable) = exchange(&mut conn, head, body)
            .await
            .map_err(Failed::into_io)?;
        if reusable {
            self.put_idle(conn);
        }
        Ok(answer)
    }

    /// The most recently used idle connection that is still open.
    fn take_idle(&self) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        idle.retain(|(_, since)| now.duration_since(*since) < IDLE_TIMEOUT);
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
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.push((conn, Instant::now()));
    }
}

async fn write_all(conn: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        conn.writable().await?;
        match conn.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads more of the answer into `buf`; 0 at the end of the connection. The buffer grows only
/// once data is there, so a connection waiting on a blocking query holds none.
async fn read_more(conn: &TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        conn.readable().await?;
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        match conn.try_read_buf(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed before the whole answer arrived",
    )
}

/// The parts of a response head this client uses.
#[derive(Debug, Default, PartialEq)]
struct Head {
    status: u16,
    index: Option<u64>,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
}

fn parse_head(raw: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(raw).map_err(|_| bad("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| bad(format!("invalid status line {status_line:?}")))?;
    let mut head = Head {
        status,
        close: version != "HTTP/1.1",
        ..Head::default()
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("invalid status line {status_line:?}")));
    }
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("invalid header line {line:?}")))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            head.content_length = Some(
                value
                    .parse()
                    .map_err(|_| bad(format!("invalid Content-Length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && version == "HTTP/1.0" {
                    head.close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("x-consul-index") {
            head.index = value.parse().ok();
        }
    }
    Ok(head)
}

/// Writes the request and reads its answer; `true` when the connection can be reused.
async fn exchange(
    conn: &mut TcpStream,
    head: &[u8],
    body: &[u8],
) -> Result<(Answer, bool), Failed> {
    write_all(conn, head).await.map_err(Failed::Stale)?;
    if !body.is_empty() {
        write_all(conn, body).await.map_err(Failed::Io)?;
    }
    let mut buf: Vec<u8> = Vec::new();
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(Failed::Io(bad("response head too long")));
        }
        match read_more(conn, &mut buf).await {
            Ok(0) if buf.is_empty() => return Err(Failed::Stale(eof())),
            Ok(0) => return Err(Failed::Io(eof())),
            Ok(_) => {}
            Err(e) if buf.is_empty() && is_reset(&e) => return Err(Failed::Stale(e)),
            Err(e) => return Err(Failed::Io(e)),
        }
    };
    let parsed = parse_head(&buf[..head_end]).map_err(Failed::Io)?;
    if parsed.status < 200 {
        // Never asked for (no `Expect`, no upgrade).
        return Err(Failed::Io(bad(format!(
            "unexpected informational answer {}",
            parsed.status
        ))));
    }
    let no_body = parsed.status == 204 || parsed.status == 304;
    let (body, mut reusable) = if no_body {
        (Bytes::new(), buf.len() == head_end)
    } else if parsed.chunked {
        read_chunked(conn, buf, head_end)
            .await
            .map_err(Failed::Io)?
    } else if let Some(len) = parsed.content_length {
        let end = head_end
            .checked_add(len)
            .ok_or_else(|| Failed::Io(bad("Content-Length too large")))?;
        while buf.len() < end {
            if read_more(conn, &mut buf).await.map_err(Failed::Io)? == 0 {
                return Err(Failed::Io(eof()));
            }
        }
        let reusable = buf.len() == end;
        buf.truncate(end);
        (Bytes::from(buf).slice(head_end..), reusable)
    } else {
        // Delimited by the end of the connection.
        while read_more(conn, &mut buf).await.map_err(Failed::Io)? != 0 {}
        (Bytes::from(buf).slice(head_end..), false)
    };
    reusable &= !parsed.close;
    Ok((
        Answer {
            status: parsed.status,
            index: parsed.index,
            body,
        },
        reusable,
    ))
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Decodes a chunked body starting at `pos` in `buf`, reading more as needed; the body and
/// whether nothing followed it.
async fn read_chunked(
    conn: &TcpStream,
    mut buf: Vec<u8>,
    mut pos: usize,
) -> io::Result<(Bytes, bool)> {
    let mut body = Vec::new();
    loop {
        let size_end = line_end(conn, &mut buf, pos).await?;
        let line =
            std::str::from_utf8(&buf[pos..size_end]).map_err(|_| bad("invalid chunk size"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| bad(format!("invalid chunk size {size_text:?}")))?;
        pos = size_end + 2;
        if size == 0 {
            // Trailers, up to an empty line.
            loop {
                let end = line_end(conn, &mut buf, pos).await?;
                let empty = end == pos;
                pos = end + 2;
                if empty {
                    return Ok((Bytes::from(body), buf.len() == pos));
                }
            }
        }
        let end = pos
            .checked_add(size)
            .and_then(|e| e.checked_add(2))
            .ok_or_else(|| bad("chunk too large"))?;
        while buf.len() < end {
            if read_more(conn, &mut buf).await? == 0 {
                return Err(eof());
            }
        }
        if &buf[end - 2..end] != b"\r\n" {
            return Err(bad("chunk not followed by CRLF"));
        }
        body.extend_from_slice(&buf[pos..end - 2]);
        pos = end;
    }
}

/// The index of the next `\r\n` at or after `pos`, reading more as needed.
async fn line_end(conn: &TcpStream, buf: &mut Vec<u8>, pos: usize) -> io::Result<usize> {
    loop {
        if let Some(i) = find(&buf[pos..], b"\r\n") {
            return Ok(pos + i);
        }
        if buf.len() - pos > MAX_HEAD {
            return Err(bad("chunk header or trailer too long"));
        }
        if read_more(conn, buf).await? == 0 {
            return Err(eof());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn heads() {
        let h = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Consul-Index: 42\r\nContent-Length: 2\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            h,
            Head {
                status: 200,
                index: Some(42),
                content_length: Some(2),
                chunked: false,
                close: false
            }
        );
        let h = parse_head(
            b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        )
        .unwrap();
        assert!(h.chunked && h.close && h.status == 404);
        assert!(parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().close);
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
        let p = Plain::new("http://127.0.0.1:8500/consul/");
        assert_eq!(
            String::from_utf8(p.head("GET", "/v1/kv/a?index=3", Some("t"), None)).unwrap(),
            "GET /consul/v1/kv/a?index=3 HTTP/1.1\r\nHost: 127.0.0.1:8500\r\nUser-Agent: discovery-consul\r\nAccept: */*\r\nX-Consul-Token: t\r\n\r\n"
        );
    }

    /// A server answering each connection's requests with the canned `answers`, in order, then
    /// closing it.
    async fn server(answers: Vec<Vec<&'static [u8]>>) -> (String, tokio::task::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let mut accepted = 0;
            for conn_answers in answers {
                let (conn, _) = listener.accept().await.unwrap();
                accepted += 1;
                for answer in conn_answers {
                    let mut req = Vec::new();
                    while find(&req, b"\r\n\r\n").is_none() {
                        if read_more(&conn, &mut req).await.unwrap() == 0 {
                            break;
                        }
                    }
                    // Answer in two pieces, to exercise reading more.
                    let (a, b) = answer.split_at(answer.len() / 2);
                    write_all(&conn, a).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    write_all(&conn, b).await.unwrap();
                }
            }
            accepted
        });
        (addr, task)
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
        let plain = Plain::new(&format!("http://{addr}"));
        let head = plain.head("GET", "/v1/x", None, None);
        let t = Duration::from_secs(5);
        let a = plain.request(&head, b"", t).await.unwrap();
        assert_eq!(
            (a.status, a.index, &a.body[..]),
            (200, Some(7), &b"hello"[..])
        );
        let a = plain.request(&head, b"", t).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"abcde"[..]));
        // Give the server time to close the first connection.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let a = plain.request(&head, b"", t).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (500, &b"oops"[..]));
        let a = plain.request(&head, b"", t).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"to the end"[..]));
        assert_eq!(task.await.unwrap(), 3);
        assert!(plain.take_idle().is_none());
    }

    #[tokio::test]
    async fn truncated_answers_fail() {
        let (addr, _task) = server(vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",
        ]])
        .await;
        let plain = Plain::new(&format!("http://{addr}"));
        let head = plain.head("GET", "/v1/x", None, None);
        let e = plain
            .request(&head, b"", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}

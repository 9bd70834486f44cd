//! Just enough HTTP/1.1 for Kubernetes clients: one request at a time per connection,
//! keep-alive, Content-Length or chunked request bodies, Content-Length responses.

use std::io::{self, Read, Write};

/// kube-apiserver refuses request bodies above 3 MiB (`MaxRequestBodyBytes`).
pub const MAX_BODY: usize = 3 * 1024 * 1024;
const MAX_HEAD: usize = 64 * 1024;

pub struct Request {
    pub method: String,
    /// The raw path, without the query, as the client sent it.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The raw query string, for the request log.
    pub fn query_string(&self) -> String {
        self.query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The path split into percent-decoded segments, empty segments dropped.
    pub fn segments(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect()
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(value).expect("JSON values always serialize"),
        }
    }

    pub fn text(status: u16, text: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: text.as_bytes().to_vec(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Status line and headers, announcing `content_length` body bytes.
    pub fn head(&self, content_length: usize) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {content_length}\r\n\r\n"));
        head.into_bytes()
    }
}

pub enum ReadError {
    /// The client closed the connection between requests.
    Closed,
    /// The server is shutting down.
    Shutdown,
    /// Not HTTP we understand; answer 400 and close.
    Malformed(&'static str),
    /// Headers or body over the limits; answer with this status and close.
    TooLarge(u16),
}

/// Reads one request. `buf` carries bytes read past the previous request (pipelining).
/// The stream has a short read timeout; `stopping` is polled whenever it fires.
pub fn read_request(
    stream: &mut (impl Read + Write),
    buf: &mut Vec<u8>,
    stopping: &dyn Fn() -> bool,
) -> Result<Request, ReadError> {
    let head_end = loop {
        if let Some(pos) = find(buf, b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::TooLarge(431));
        }
        if fill(stream, buf, stopping)? == 0 {
            return Err(ReadError::Closed);
        }
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| ReadError::Malformed("request head is not UTF-8"))?
        .to_string();
    buf.drain(..head_end + 4);

    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Malformed("bad request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Malformed("not HTTP/1.x"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(ReadError::Malformed("bad header line"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_query(q)),
        None => (target.to_string(), Vec::new()),
    };
    let mut request = Request {
        method: method.to_string(),
        path,
        query,
        headers,
        body: Vec::new(),
    };
    let wants_continue = request
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    if wants_continue {
        // The client waits for this before sending the body.
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .and_then(|_| stream.flush())
            .map_err(|_| ReadError::Closed)?;
    }
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
    request.body = if chunked {
        read_chunked(stream, buf, stopping)?
    } else {
        let length = match request.header("content-length") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| ReadError::Malformed("bad Content-Length"))?,
            None => 0,
        };
        if length > MAX_BODY {
            return Err(ReadError::TooLarge(413));
        }
        read_exact(stream, buf, length, stopping)?
    };
    Ok(request)
}

fn read_chunked(
    stream: &mut impl Read,
    buf: &mut Vec<u8>,
    stopping: &dyn Fn() -> bool,
) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(stream, buf, stopping)?;
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| ReadError::Malformed("bad chunk size"))?;
        if body.len() + size > MAX_BODY {
            return Err(ReadError::TooLarge(413));
        }
        if size == 0 {
            // Trailers, then the empty line.
            while !read_line(stream, buf, stopping)?.is_empty() {}
            return Ok(body);
        }
        body.extend(read_exact(stream, buf, size, stopping)?);
        if !read_line(stream, buf, stopping)?.is_empty() {
            return Err(ReadError::Malformed("chunk not followed by CRLF"));
        }
    }
}

fn read_line(
    stream: &mut impl Read,
    buf: &mut Vec<u8>,
    stopping: &dyn Fn() -> bool,
) -> Result<String, ReadError> {
    loop {
        if let Some(pos) = find(buf, b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..pos]).into_owned();
            buf.drain(..pos + 2);
            return Ok(line);
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::TooLarge(431));
        }
        if fill(stream, buf, stopping)? == 0 {
            return Err(ReadError::Malformed(
                "connection closed inside a chunked body",
            ));
        }
    }
}

fn read_exact(
    stream: &mut impl Read,
    buf: &mut Vec<u8>,
    length: usize,
    stopping: &dyn Fn() -> bool,
) -> Result<Vec<u8>, ReadError> {
    while buf.len() < length {
        if fill(stream, buf, stopping)? == 0 {
            return Err(ReadError::Malformed("connection closed inside the body"));
        }
    }
    Ok(buf.drain(..length).collect())
}

/// Reads what is available, riding out read timeouts until `stopping` says so.
fn fill(
    stream: &mut impl Read,
    buf: &mut Vec<u8>,
    stopping: &dyn Fn() -> bool,
) -> Result<usize, ReadError> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if stopping() {
            return Err(ReadError::Shutdown);
        }
        match stream.read(&mut chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if is_timeout(&e) => continue,
            // Resets, TLS alerts, EOF without close_notify: the client is gone.
            Err(_) => return Err(ReadError::Closed),
        }
    }
}

pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode_form(k), decode_form(v)),
            None => (decode_form(kv), String::new()),
        })
        .collect()
}

fn decode_form(s: &str) -> String {
    percent_decode(&s.replace('+', "%20"))
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

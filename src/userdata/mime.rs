//! Just enough MIME (RFC 2045/2046) for cloud-init user-data: headers with folding,
//! `Content-Type` parameters, multipart bodies split on their boundary, and the
//! `base64` / `quoted-printable` transfer encodings. Errors are plain reasons; the caller adds
//! the source and part.

use std::borrow::Cow;

/// A message or body part: its headers and its (still transfer-encoded) body.
#[derive(Debug)]
pub(crate) struct Entity<'a> {
    headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

impl Entity<'_> {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> Option<ContentType> {
        self.header("content-type").map(ContentType::parse)
    }
}

/// True when the data starts with a MIME header, as cloud-init's generated user-data does
/// (`Content-Type: multipart/mixed; ...` or `MIME-Version: 1.0`).
pub(crate) fn looks_like_mime(bytes: &[u8]) -> bool {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let lower = first.to_ascii_lowercase();
    lower.starts_with(b"content-type:") || lower.starts_with(b"mime-version:")
}

/// The next line starting at `pos`: its content without the line break, and where the next
/// line starts.
fn line_at(bytes: &[u8], pos: usize) -> (&[u8], usize) {
    let rest = &bytes[pos..];
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let line = &rest[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, pos + i + 1)
        }
        None => (rest, bytes.len()),
    }
}

/// Splits headers from body. Headers end at the first empty line; a part without one is all
/// headers and has an empty body.
pub(crate) fn parse_entity(bytes: &[u8]) -> Result<Entity<'_>, String> {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut pos = 0;
    let mut number = 0;
    while pos < bytes.len() {
        let (line, next) = line_at(bytes, pos);
        number += 1;
        if line.is_empty() {
            return Ok(Entity {
                headers,
                body: &bytes[next..],
            });
        }
        let text = std::str::from_utf8(line)
            .map_err(|_| format!("MIME header line {number} is not text"))?;
        if text.starts_with([' ', '\t']) {
            let (_, value) = headers
                .last_mut()
                .ok_or_else(|| format!("MIME header line {number} continues no header"))?;
            value.push(' ');
            value.push_str(text.trim());
        } else {
            let (name, value) = text
                .split_once(':')
                .filter(|(name, _)| is_header_name(name))
                .ok_or_else(|| {
                    format!("MIME header line {number} is not `Name: value` (missing blank line before the body?)")
                })?;
            headers.push((name.to_string(), value.trim().to_string()));
        }
        pos = next;
    }
    Ok(Entity { headers, body: &[] })
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// A parsed `Content-Type`: the lowercased `type/subtype` and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentType {
    pub essence: String,
    params: Vec<(String, String)>,
}

impl ContentType {
    pub fn parse(value: &str) -> ContentType {
        let (essence, mut rest) = value.split_once(';').unwrap_or((value, ""));
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches([' ', '\t', ';']);
            let Some((name, after)) = rest.split_once('=') else {
                break;
            };
            let (param, remaining) = parse_param_value(after.trim_start());
            params.push((name.trim().to_ascii_lowercase(), param));
            rest = remaining;
        }
        ContentType {
            essence: essence.trim().to_ascii_lowercase(),
            params,
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_multipart(&self) -> bool {
        self.essence.starts_with("multipart/")
    }
}

/// A parameter value, quoted (with `\` escapes) or a token up to `;`, and what follows it.
fn parse_param_value(s: &str) -> (String, &str) {
    if let Some(quoted) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => return (value, &quoted[i + 1..]),
                _ => value.push(c),
            }
        }
        (value, "")
    } else {
        let end = s.find(';').unwrap_or(s.len());
        (s[..end].trim().to_string(), &s[end..])
    }
}

/// Splits a multipart body into its parts. Preamble and epilogue are ignored; the closing
/// delimiter is required, since data without it has most likely been cut short.
pub(crate) fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<&'a [u8]>, String> {
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(format!(
            "MIME boundary must be 1 to 70 characters, got {}",
            boundary.len()
        ));
    }
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    // Start of the current part's content, once the first delimiter has been seen.
    let mut part_start: Option<usize> = None;
    let mut pos = 0;
    while pos < body.len() {
        let (line, next) = line_at(body, pos);
        let line = line.trim_ascii_end();
        let is_close = line.len() == delimiter.len() + 2
            && line.starts_with(delimiter.as_bytes())
            && line.ends_with(b"--");
        if line == delimiter.as_bytes() || is_close {
            if let Some(start) = part_start {
                // The line break before a delimiter belongs to the delimiter.
                let end = pos.max(start);
                let content = &body[start..end];
                let content = content.strip_suffix(b"\n").unwrap_or(content);
                let content = content.strip_suffix(b"\r").unwrap_or(content);
                parts.push(content);
            }
            if is_close {
                return Ok(parts);
            }
            part_start = Some(next);
        }
        pos = next;
    }
    if part_start.is_none() {
        Err(format!(
            "MIME boundary {boundary:?} never appears in the body"
        ))
    } else {
        Err(format!(
            "MIME multipart has no closing boundary \"{delimiter}--\"; the user-data looks truncated"
        ))
    }
}

/// Undoes `Content-Transfer-Encoding`.
pub(crate) fn transfer_decode<'a>(
    body: &'a [u8],
    encoding: Option<&str>,
) -> Result<Cow<'a, [u8]>, String> {
    let encoding = encoding.map(|e| e.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("7bit" | "8bit" | "binary") => Ok(Cow::Borrowed(body)),
        Some("base64") => super::format::decode_base64(body).map(Cow::Owned),
        Some("quoted-printable") => decode_quoted_printable(body).map(Cow::Owned),
        Some(other) => Err(format!(
            "unsupported Content-Transfer-Encoding {other:?} (use base64, quoted-printable, 7bit, 8bit or binary)"
        )),
    }
}

fn decode_quoted_printable(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'=' {
            out.push(body[i]);
            i += 1;
            continue;
        }
        let rest = &body[i + 1..];
        if rest.starts_with(b"\r\n") {
            i += 3;
        } else if rest.starts_with(b"\n") {
            i += 2;
        } else if let Some(byte) = rest.get(..2).and_then(hex_byte) {
            out.push(byte);
            i += 3;
        } else {
            return Err(format!("bad quoted-printable escape at offset {i}"));
        }
    }
    Ok(out)
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(pair).ok()?;
    u8::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_fold_and_body_follows_the_blank_line() {
        let e = parse_entity(b"Content-Type: multipart/mixed;\r\n boundary=\"==XX==\"\r\nMIME-Version: 1.0\r\n\r\nbody\r\n").unwrap();
        let ct = e.content_type().unwrap();
        assert_eq!(ct.essence, "multipart/mixed");
        assert_eq!(ct.param("boundary"), Some("==XX=="));
        assert_eq!(e.header("mime-version"), Some("1.0"));
        assert_eq!(e.body, b"body\r\n");
    }

    #[test]
    fn content_type_parameters_quoted_or_not() {
        let ct = ContentType::parse("Text/Cloud-Config; charset=\"us-ascii\"; name=a\\\"b");
        assert_eq!(ct.essence, "text/cloud-config");
        assert_eq!(ct.param("charset"), Some("us-ascii"));
        assert_eq!(ct.param("name"), Some("a\\\"b"));
        let ct = ContentType::parse("multipart/mixed; boundary=abc ; x=\"q;\\\"r\"");
        assert_eq!(ct.param("boundary"), Some("abc"));
        assert_eq!(ct.param("x"), Some("q;\"r"));
    }

    #[test]
    fn multipart_splits_on_delimiter_lines_only() {
        let body = b"preamble\n--b\nA: 1\n\none\n--bx\n--b\n\ntwo\r\n--b--\nepilogue";
        let parts = split_multipart(body, "b").unwrap();
        assert_eq!(parts, vec![&b"A: 1\n\none\n--bx"[..], &b"\ntwo"[..]]);
    }

    #[test]
    fn multipart_without_closing_delimiter_is_truncated() {
        let e = split_multipart(b"--b\n\none\n", "b").unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        let e = split_multipart(b"nothing here", "b").unwrap_err();
        assert!(e.contains("never appears"), "{e}");
    }

    #[test]
    fn transfer_encodings() {
        assert_eq!(
            &*transfer_decode(b"aGVs\nbG8=\n", Some("BASE64")).unwrap(),
            b"hello"
        );
        assert_eq!(
            &*transfer_decode(b"a=3Db=\nc", Some("quoted-printable")).unwrap(),
            b"a=bc"
        );
        assert!(transfer_decode(b"a=zz", Some("quoted-printable")).is_err());
        assert!(transfer_decode(b"x", Some("x-uuencode")).is_err());
        assert_eq!(&*transfer_decode(b"x", None).unwrap(), b"x");
    }

    #[test]
    fn mime_is_recognised_by_its_first_header() {
        assert!(looks_like_mime(b"Content-Type: multipart/mixed\n"));
        assert!(looks_like_mime(b"MIME-Version: 1.0\r\n"));
        assert!(!looks_like_mime(b"#cloud-config\ncontent-type: x\n"));
    }
}

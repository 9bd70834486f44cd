//! PEM as Go's `encoding/pem` writes and reads it: 64-column base64 lines, text outside the
//! blocks ignored, several blocks per file.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub const CERTIFICATE: &str = "CERTIFICATE";
pub const RSA_PRIVATE_KEY: &str = "RSA PRIVATE KEY";
pub const EC_PRIVATE_KEY: &str = "EC PRIVATE KEY";
pub const PRIVATE_KEY: &str = "PRIVATE KEY";
pub const PUBLIC_KEY: &str = "PUBLIC KEY";

/// One decoded PEM block.
#[derive(Clone, PartialEq, Eq)]
pub struct Block {
    pub label: String,
    /// `Proc-Type: 4,ENCRYPTED` and the like (legacy encrypted keys).
    pub has_headers: bool,
    pub der: Vec<u8>,
}

impl std::fmt::Debug for Block {
    // Blocks may hold private keys: show only what they are.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PEM block {:?} ({} bytes)", self.label, self.der.len())
    }
}

/// Encodes `der` as one PEM block, exactly as Go's `pem.EncodeToMemory`.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Decodes every PEM block in `data`. A block that is not valid base64 or has no END line is
/// an error (a truncated file must not look like an empty one); text between blocks is ignored.
pub fn decode_all(data: &[u8]) -> Result<Vec<Block>, String> {
    let text = String::from_utf8_lossy(data);
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut b64 = String::new();
        let mut has_headers = false;
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if line.contains(':') {
                has_headers = true;
            } else {
                b64.push_str(line);
            }
        }
        if !closed {
            return Err(format!("the PEM block {label:?} has no END line"));
        }
        let der = STANDARD
            .decode(b64.as_bytes())
            .map_err(|_| format!("the PEM block {label:?} is not valid base64"))?;
        blocks.push(Block {
            label: label.to_string(),
            has_headers,
            der,
        });
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_go_with_64_column_lines() {
        let der: Vec<u8> = (0..100u8).collect();
        let pem = encode("CERTIFICATE", &der);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        assert!(pem.ends_with("-----\n"));
        assert_eq!(decode_all(pem.as_bytes()).unwrap()[0].der, der);
    }

    #[test]
    fn skips_text_and_reads_several_blocks_with_crlf() {
        let text = format!(
            "Certificate:\r\n  Data: ...\r\n{}{}",
            encode("EC PARAMETERS", &[6, 8]).replace('\n', "\r\n"),
            encode("EC PRIVATE KEY", &[1, 2, 3])
        );
        let blocks = decode_all(text.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "EC PARAMETERS");
        assert_eq!(blocks[1].der, vec![1, 2, 3]);
        assert!(!blocks[1].has_headers);
    }

    #[test]
    fn truncated_or_corrupt_blocks_are_errors() {
        let pem = encode("CERTIFICATE", &[1, 2, 3]);
        let truncated = &pem[..pem.len() - 10];
        assert!(decode_all(truncated.as_bytes()).is_err());
        let corrupt = pem.replace("AQID", "A!ID");
        assert!(decode_all(corrupt.as_bytes()).is_err());
        assert!(decode_all(b"no pem here").unwrap().is_empty());
    }

    #[test]
    fn encrypted_key_headers_are_detected() {
        let text = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAQID\n-----END RSA PRIVATE KEY-----\n";
        let blocks = decode_all(text.as_bytes()).unwrap();
        assert!(blocks[0].has_headers);
        assert!(!format!("{:?}", blocks[0]).contains("AQID"));
    }
}

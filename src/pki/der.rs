//! The few DER operations rcgen and x509-parser do not offer: unwrapping the PKCS#1 key inside
//! a PKCS#8 document, and re-assembling a certificate whose issuer name must be copied byte for
//! byte from a CA certificate.

/// One DER element: its tag, its content, and the whole element (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Element<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub whole: &'a [u8],
}

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const BIT_STRING: u8 = 0x03;

/// Reads the first element of `input` and returns it with the bytes that follow it.
/// Only definite lengths of up to four bytes are accepted, which covers every key and
/// certificate kubeboot handles.
pub(crate) fn read(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    // Multi-byte tags never occur in the structures read here.
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    let element = Element {
        tag,
        content: &rest[..len],
        whole: &input[..header + len],
    };
    Some((element, &rest[len..]))
}

/// Splits the content of a constructed element into its child elements.
pub(crate) fn children(content: &[u8]) -> Option<Vec<Element<'_>>> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let (element, next) = read(rest)?;
        out.push(element);
        rest = next;
    }
    Some(out)
}

/// Encodes one element with a definite, minimal length.
pub(crate) fn write(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo`: for RSA, the PKCS#1
/// `RSAPrivateKey` kubeadm writes as `RSA PRIVATE KEY`.
pub(crate) fn pkcs8_private_key(pkcs8: &[u8]) -> Option<&[u8]> {
    let (info, _) = read(pkcs8)?;
    let fields = children(info.content)?;
    match fields.as_slice() {
        [version, _algorithm, key, ..]
            if info.tag == SEQUENCE && version.tag == INTEGER && key.tag == OCTET_STRING =>
        {
            Some(key.content)
        }
        _ => None,
    }
}

/// The parts of a certificate: `tbsCertificate`, `signatureAlgorithm`, `signatureValue`.
pub(crate) fn certificate_parts(cert: &[u8]) -> Option<[Element<'_>; 3]> {
    let (outer, _) = read(cert)?;
    if outer.tag != SEQUENCE {
        return None;
    }
    match children(outer.content)?.as_slice() {
        [tbs, alg, sig] if tbs.tag == SEQUENCE && sig.tag == BIT_STRING => Some([*tbs, *alg, *sig]),
        _ => None,
    }
}

/// Rebuilds `tbsCertificate` with its issuer Name replaced by `issuer` (a complete DER Name).
pub(crate) fn replace_tbs_issuer(tbs: &[u8], issuer: &[u8]) -> Option<Vec<u8>> {
    let (outer, _) = read(tbs)?;
    let fields = children(outer.content)?;
    // [0] version is optional; the issuer follows serialNumber and signature.
    let issuer_index = if fields.first()?.tag == 0xa0 { 3 } else { 2 };
    fields.get(issuer_index)?;
    let mut content = Vec::with_capacity(outer.content.len() + issuer.len());
    for (i, field) in fields.iter().enumerate() {
        if i == issuer_index {
            content.extend_from_slice(issuer);
        } else {
            content.extend_from_slice(field.whole);
        }
    }
    Some(write(SEQUENCE, &content))
}

/// Assembles `Certificate ::= SEQUENCE { tbs, algorithm, BIT STRING signature }`.
pub(crate) fn assemble_certificate(tbs: &[u8], algorithm: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(signature);
    let mut content = Vec::with_capacity(tbs.len() + algorithm.len() + bits.len() + 8);
    content.extend_from_slice(tbs);
    content.extend_from_slice(algorithm);
    content.extend_from_slice(&write(BIT_STRING, &bits));
    write(SEQUENCE, &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_in_short_and_long_form() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let encoded = write(OCTET_STRING, &content);
            let (element, rest) = read(&encoded).unwrap();
            assert!(rest.is_empty());
            assert_eq!(element.tag, OCTET_STRING);
            assert_eq!(element.content.len(), len);
            assert_eq!(element.whole, encoded.as_slice());
        }
    }

    #[test]
    fn truncated_or_indefinite_input_is_rejected() {
        assert!(read(&[0x30]).is_none());
        assert!(read(&[0x30, 0x05, 1, 2]).is_none());
        assert!(read(&[0x30, 0x80, 0, 0]).is_none());
        assert!(read(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
    }

    #[test]
    fn issuer_is_replaced_with_or_without_version() {
        let name_a = write(SEQUENCE, b"A");
        let name_b = write(SEQUENCE, b"issuer-b");
        let serial = write(INTEGER, &[1]);
        let alg = write(SEQUENCE, b"alg");
        let version = write(0xa0, &write(INTEGER, &[2]));
        for with_version in [true, false] {
            let mut fields = Vec::new();
            if with_version {
                fields.extend_from_slice(&version);
            }
            for f in [&serial, &alg, &name_a, &name_a] {
                fields.extend_from_slice(f);
            }
            let tbs = write(SEQUENCE, &fields);
            let replaced = replace_tbs_issuer(&tbs, &name_b).unwrap();
            let (outer, _) = read(&replaced).unwrap();
            let parts = children(outer.content).unwrap();
            let offset = usize::from(with_version);
            assert_eq!(parts[offset + 2].whole, name_b.as_slice());
            // The subject, right after, is untouched.
            assert_eq!(parts[offset + 3].whole, name_a.as_slice());
        }
    }
}

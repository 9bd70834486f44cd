//! The detached JWS the bootstrapsigner controller writes into cluster-info
//! (`jws-kubeconfig-<token id>`), as `k8s.io/cluster-bootstrap/token/jws` computes it:
//! header `{"alg":"HS256","kid":"<token id>"}`, HMAC-SHA256 keyed with the token secret over
//! `b64url(header) "." b64url(content)`, serialized as `b64url(header) ".." b64url(signature)`
//! (RFC 7515 appendix F), base64url without padding.
//!
//! Verification never parses the received header: it computes the expected value from the token
//! and compares the whole string in constant time, so `alg: none`, another `kid`, extra header
//! fields or a truncated signature can only fail.

use aws_lc_rs::{constant_time, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The ConfigMap key holding the signature for a token id.
pub fn signature_key(token_id: &str) -> String {
    format!("jws-kubeconfig-{token_id}")
}

fn protected_header(token_id: &str) -> String {
    // A JSON string, so that the header stays well-formed whatever the id holds.
    let kid = serde_json::Value::from(token_id).to_string();
    format!(r#"{{"alg":"HS256","kid":{kid}}}"#)
}

/// The detached JWS of `content` for a bootstrap token.
///
/// The Go signer zero-pads secrets shorter than 32 bytes to satisfy go-jose; HMAC zero-pads its
/// key to the block size anyway, so keying with the bare secret gives the same signature.
pub fn compute_detached_signature(content: &str, token_id: &str, token_secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(protected_header(token_id));
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(content));
    let key = hmac::Key::new(hmac::HMAC_SHA256, token_secret.as_bytes());
    let tag = hmac::sign(&key, signing_input.as_bytes());
    format!("{header}..{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Whether `detached` is exactly the signature the token would make for `content`.
pub fn detached_signature_is_valid(
    detached: &str,
    content: &str,
    token_id: &str,
    token_secret: &str,
) -> bool {
    let expected = compute_detached_signature(content, token_id, token_secret);
    constant_time::verify_slices_are_equal(expected.as_bytes(), detached.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_the_one_go_jose_writes() {
        assert_eq!(
            protected_header("abcdef"),
            r#"{"alg":"HS256","kid":"abcdef"}"#
        );
        assert!(
            compute_detached_signature("x", "abcdef", "s")
                .starts_with("eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9..")
        );
    }

    #[test]
    fn a_signature_verifies_only_for_its_content_and_token() {
        let sig = compute_detached_signature("content", "abcdef", "0123456789abcdef");
        assert!(detached_signature_is_valid(
            &sig,
            "content",
            "abcdef",
            "0123456789abcdef"
        ));
        assert!(!detached_signature_is_valid(
            &sig,
            "content.",
            "abcdef",
            "0123456789abcdef"
        ));
        assert!(!detached_signature_is_valid(
            &sig,
            "content",
            "abcdeg",
            "0123456789abcdef"
        ));
        assert!(!detached_signature_is_valid(
            &sig,
            "content",
            "abcdef",
            "0123456789abcdeg"
        ));
        assert!(!detached_signature_is_valid(
            "",
            "content",
            "abcdef",
            "0123456789abcdef"
        ));
    }
}

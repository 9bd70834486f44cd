//! Discovery against the vectors captured from a real Kubernetes v1.19 cluster
//! (`../shared/golden/k8s-v1.19`, see its README): the bootstrapsigner's JWS, kubeadm's CA hash,
//! and tampered variants that must each fail.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kubeboot::ExitCode;
use kubeboot::api::RetryPolicy;
use kubeboot::config::defaults;
use kubeboot::config::model::{
    BootstrapTokenDiscovery, BootstrapTokenString, Discovery, JoinConfiguration,
};
use kubeboot::discovery::{self, BootstrapCredentials, DiscoveryOptions, jws, pin};
use kubeboot::fs::Root;
use kubeboot::retry::Backoff;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/golden/k8s-v1.19");
const TOKEN_ID: &str = "abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(format!("{GOLDEN}/{name}")).unwrap()
}

/// The kubeconfig and the signature the real cluster served in cluster-info.
fn cluster_info() -> (String, String) {
    let cm: serde_json::Value = serde_json::from_slice(&golden("cluster-info.json")).unwrap();
    let data = &cm["data"];
    (
        data["kubeconfig"].as_str().unwrap().to_string(),
        data["jws-kubeconfig-abcdef"].as_str().unwrap().to_string(),
    )
}

fn verifies(signature: &str, kubeconfig: &str) -> bool {
    jws::detached_signature_is_valid(signature, kubeconfig, TOKEN_ID, TOKEN_SECRET)
}

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// The signature part of the real detached JWS.
fn real_signature_part() -> String {
    let (_, signature) = cluster_info();
    signature.rsplit('.').next().unwrap().to_string()
}

#[test]
fn the_real_signature_verifies() {
    let (kubeconfig, signature) = cluster_info();
    assert!(verifies(&signature, &kubeconfig));
    assert_eq!(
        jws::compute_detached_signature(&kubeconfig, TOKEN_ID, TOKEN_SECRET),
        signature
    );
    let token = String::from_utf8(golden("token")).unwrap();
    assert_eq!(token.trim(), format!("{TOKEN_ID}.{TOKEN_SECRET}"));
}

#[test]
fn the_real_ca_hash_is_reproduced() {
    let expected = String::from_utf8(golden("ca-hash")).unwrap();
    let expected = expected.trim();
    let ca_pem = golden("ca.crt");
    assert_eq!(
        pin::hashes_pem(&ca_pem).unwrap(),
        vec![expected.to_string()]
    );
    let der = kubeboot::api::parse_certificates(&ca_pem, "ca.crt").unwrap();
    assert_eq!(pin::hash(&der[0]).unwrap(), expected);
    let join_command = String::from_utf8(golden("join-command")).unwrap();
    assert!(join_command.contains(&format!("--discovery-token-ca-cert-hash {expected}")));
}

#[test]
fn the_ca_in_cluster_info_is_the_pinned_ca() {
    let (kubeconfig, _) = cluster_info();
    let data = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .unwrap();
    let ca_pem = STANDARD.decode(data).unwrap();
    assert_eq!(ca_pem, golden("ca.crt"));
}

#[test]
fn a_tampered_kubeconfig_byte_fails() {
    let (kubeconfig, signature) = cluster_info();
    let tampered = kubeconfig.replace("https://127.0.0.1:6443", "https://127.0.0.2:6443");
    assert_ne!(tampered, kubeconfig);
    assert!(!verifies(&signature, &tampered));
    let without_final_newline = kubeconfig.trim_end();
    assert!(!verifies(&signature, without_final_newline));
}

#[test]
fn a_wrong_secret_fails() {
    let (kubeconfig, signature) = cluster_info();
    assert!(!jws::detached_signature_is_valid(
        &signature,
        &kubeconfig,
        TOKEN_ID,
        "0123456789abcdee"
    ));
}

#[test]
fn another_kid_fails() {
    let (kubeconfig, _) = cluster_info();
    let other_header = b64(r#"{"alg":"HS256","kid":"ghijkl"}"#);
    let forged = format!("{other_header}..{}", real_signature_part());
    assert!(!verifies(&forged, &kubeconfig));
    // A signature made for another token id does not verify for ours.
    let for_other_id = jws::compute_detached_signature(&kubeconfig, "ghijkl", TOKEN_SECRET);
    assert!(!verifies(&for_other_id, &kubeconfig));
}

#[test]
fn an_alg_none_header_fails() {
    let (kubeconfig, _) = cluster_info();
    let none = b64(r#"{"alg":"none","kid":"abcdef"}"#);
    assert!(!verifies(&format!("{none}.."), &kubeconfig));
    assert!(!verifies(
        &format!("{none}..{}", real_signature_part()),
        &kubeconfig
    ));
}

#[test]
fn extra_header_fields_fail() {
    let (kubeconfig, _) = cluster_info();
    let header = b64(r#"{"alg":"HS256","kid":"abcdef","crit":["exp"],"exp":1}"#);
    // Even correctly signed over its own header, an unexpected header is refused.
    let signing_input = format!("{header}.{}", b64(&kubeconfig));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, TOKEN_SECRET.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    let forged = format!("{header}..{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    assert!(!verifies(&forged, &kubeconfig));
    let reordered = b64(r#"{"kid":"abcdef","alg":"HS256"}"#);
    assert!(!verifies(
        &format!("{reordered}..{}", real_signature_part()),
        &kubeconfig
    ));
}

#[test]
fn a_truncated_signature_fails() {
    let (kubeconfig, signature) = cluster_info();
    assert!(!verifies(&signature[..signature.len() - 1], &kubeconfig));
    let (header, _) = signature.split_once("..").unwrap();
    assert!(!verifies(&format!("{header}.."), &kubeconfig));
    assert!(!verifies(header, &kubeconfig));
    assert!(!verifies("", &kubeconfig));
}

#[test]
fn a_non_detached_or_padded_form_fails() {
    let (kubeconfig, signature) = cluster_info();
    let (header, sig) = signature.split_once("..").unwrap();
    let attached = format!("{header}.{}.{sig}", b64(&kubeconfig));
    assert!(!verifies(&attached, &kubeconfig));
    assert!(!verifies(&format!("{signature}="), &kubeconfig));
}

// ---- the whole flow, with the real cluster-info served on loopback

/// Serves the captured cluster-info response for every request, over TLS with a certificate
/// of a throwaway CA (the real cluster's key is not in the vectors).
struct GoldenServer {
    endpoint: String,
}

impl GoldenServer {
    fn start() -> GoldenServer {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![cert.der().clone()],
                    rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
                )
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = listener.local_addr().unwrap().to_string();
        let body = golden("cluster-info.json");
        // Detached: the thread ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                    continue;
                };
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut reader = BufReader::new(&mut tls);
                let mut line = String::new();
                // Read the request head; a failed handshake just ends this connection.
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes());
                let _ = tls.write_all(&body);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        GoldenServer { endpoint }
    }
}

fn join_config(
    endpoint: &str,
    secret: &str,
    pins: Vec<String>,
    unsafe_skip: bool,
) -> JoinConfiguration {
    let mut cfg =
        defaults::join_configuration(Discovery::BootstrapToken(BootstrapTokenDiscovery {
            api_server_endpoint: endpoint.into(),
            token: BootstrapTokenString::new(TOKEN_ID.into(), secret.into()),
            ca_cert_hashes: pins,
            unsafe_skip_ca_verification: unsafe_skip,
        }));
    cfg.node_registration.name = "testnode".into();
    cfg
}

fn options() -> DiscoveryOptions {
    DiscoveryOptions {
        retry: RetryPolicy::immediate(1),
        poll: Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(10),
        },
        timeout: Some(Duration::from_secs(5)),
        ..DiscoveryOptions::default()
    }
}

fn golden_pin() -> String {
    String::from_utf8(golden("ca-hash"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn the_real_cluster_info_is_accepted_with_unsafe_skip() {
    let server = GoldenServer::start();
    let cfg = join_config(&server.endpoint, TOKEN_SECRET, vec![], true);
    let info = discovery::discover(&Root::new("/nonexistent"), &cfg, &options()).unwrap();
    assert_eq!(info.server, "https://127.0.0.1:6443");
    assert_eq!(info.ca_pem, golden("ca.crt"));
    assert_eq!(
        info.credentials,
        BootstrapCredentials::Token(format!("{TOKEN_ID}.{TOKEN_SECRET}"))
    );
}

#[test]
fn the_real_pin_matches_but_a_server_without_the_real_ca_is_refused() {
    // The signed content and its CA pin check out, but this server's certificate was not
    // issued by that CA: exactly what a man in the middle relaying cluster-info looks like.
    let server = GoldenServer::start();
    let cfg = join_config(&server.endpoint, TOKEN_SECRET, vec![golden_pin()], false);
    let err = discovery::discover(&Root::new("/nonexistent"), &cfg, &options()).unwrap_err();
    assert!(matches!(err, discovery::Error::Untrusted { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Trust);
}

#[test]
fn the_real_cluster_info_with_a_wrong_secret_is_refused() {
    let server = GoldenServer::start();
    let cfg = join_config(
        &server.endpoint,
        "0123456789abcdee",
        vec![golden_pin()],
        false,
    );
    let err = discovery::discover(&Root::new("/nonexistent"), &cfg, &options()).unwrap_err();
    assert!(
        matches!(err, discovery::Error::BadSignature { .. }),
        "{err}"
    );
    assert_eq!(err.exit_code(), ExitCode::Trust);
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("0123456789abcde"), "{text}");
    }
}

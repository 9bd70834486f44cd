//! Self-test of the strict test API server (tests/support/apiserver): a minimal client
//! (ureq + rustls, written here) checks that the server behaves like the real v1.19 cluster
//! the golden vectors came from, and that every injectable fault is observable.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::{digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use support::{
    CLUSTER_INFO_PATH, CSR_PATH, ClientIdentity, CsrIssue, CsrPolicy, Fault, Forgery, Signing,
    TestApiServer, TokenOpts,
};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};
use x509_parser::prelude::{FromDer, X509Certificate};

const TOKEN: &str = "abcdef.0123456789abcdef";
const TOKEN_ID: &str = "abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";

/// From the golden vectors (k8s-v1.19): the CSR and key of node "testnode".
const GOLDEN_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIHxMIGYAgEAMDYxFTATBgNVBAoMDHN5c3RlbTpub2RlczEdMBsGA1UEAwwUc3lz
dGVtOm5vZGU6dGVzdG5vZGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAS8uhQV
02pjkvWvEfYKZJX8xMOafm5I2XMMIt3BQ9u7OceXlGENrKE+IrDREMzQVtqWXVJT
WBwBT2it1Ry8imBNoAAwCgYIKoZIzj0EAwIDSAAwRQIgC3XZP/5Mr5l/MAdGb9nM
nC18OA3wVfwCNgOZetRbTFwCIQCPKdHBN4iFd0JRMNZ1rgpyE27tn8QwTNJb41Ff
0pzP7w==
-----END CERTIFICATE REQUEST-----
";
const GOLDEN_KEY: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIPskJDpvVM4MU0Ml0Lgi5ROLGg13uGy6lhe5MgAu6o7boAoGCCqGSM49
AwEHoUQDQgAEvLoUFdNqY5L1rxH2CmSV/MTDmn5uSNlzDCLdwUPbuznHl5RhDayh
PiKw0RDM0Fball1SU1gcAU9ordUcvIpgTQ==
-----END EC PRIVATE KEY-----
";
const GOLDEN_CSR_NAME: &str = "node-csr-I3Wz1fYlyos0yOvH_kQudTjP_l5fJNbHaIkZPqbLBKc";
const KUBELET_USAGES: [&str; 3] = ["digital signature", "key encipherment", "client auth"];

// ---- a minimal client ---------------------------------------------------------------------

struct Reply {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or("").to_string()
    }
}

struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Client {
    /// Verifies the server against `ca_pem`, or not at all (discovery's first fetch).
    fn new(srv: &TestApiServer, ca_pem: Option<&str>, identity: Option<&ClientIdentity>) -> Client {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(provider);
        tls = match ca_pem {
            Some(pem) => {
                let ca = Certificate::from_pem(pem.as_bytes()).expect("CA PEM");
                tls.root_certs(RootCerts::Specific(Arc::new(vec![ca])))
            }
            None => tls.disable_verification(true),
        };
        if let Some(id) = identity {
            let cert = Certificate::from_pem(id.cert_pem.as_bytes()).expect("cert PEM");
            let key = PrivateKey::from_pem(id.key_pem.as_bytes()).expect("key PEM");
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&[cert], key)));
        }
        let agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .new_agent();
        Client {
            agent,
            base: srv.url().to_string(),
            token: None,
        }
    }

    fn anonymous(srv: &TestApiServer) -> Client {
        Client::new(srv, Some(srv.ca_pem()), None)
    }

    fn with_token(srv: &TestApiServer, token: &str) -> Client {
        Client {
            token: Some(token.to_string()),
            ..Client::anonymous(srv)
        }
    }

    fn with_cert(srv: &TestApiServer, identity: &ClientIdentity) -> Client {
        Client::new(srv, Some(srv.ca_pem()), Some(identity))
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Reply, ureq::Error> {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("Accept", "application/json");
        if let Some(token) = &self.token {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        let response = if body.is_empty() {
            self.agent.run(req.body(()).expect("request"))?
        } else {
            let req = req.header("Content-Type", content_type);
            self.agent.run(req.body(body).expect("request"))?
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .with_config()
            .limit(1024 * 1024)
            .read_to_vec()?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    fn get(&self, path: &str) -> Reply {
        self.call("GET", path, "", &[]).expect("GET")
    }

    fn post(&self, path: &str, obj: &Value) -> Reply {
        let body = serde_json::to_vec(obj).expect("JSON");
        self.call("POST", path, "application/json", &body)
            .expect("POST")
    }

    fn put(&self, path: &str, obj: &Value) -> Reply {
        let body = serde_json::to_vec(obj).expect("JSON");
        self.call("PUT", path, "application/json", &body)
            .expect("PUT")
    }

    fn merge_patch(&self, path: &str, patch: &Value) -> Reply {
        let body = serde_json::to_vec(patch).expect("JSON");
        self.call("PATCH", path, "application/merge-patch+json", &body)
            .expect("PATCH")
    }
}

fn token_server() -> TestApiServer {
    TestApiServer::builder()
        .token(TOKEN, TokenOpts::default())
        .start()
}

fn csr_body(name: &str, csr_pem: &str, usages: &[&str]) -> Value {
    json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": STANDARD.encode(csr_pem),
            "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            "usages": usages,
        },
    })
}

/// A fresh node key and its CSR (`O=system:nodes, CN=system:node:<node>`).
fn node_csr(node: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "system:nodes");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("system:node:{node}"));
    let csr = params.serialize_request(&key).expect("CSR");
    (csr.pem().expect("CSR PEM"), key.serialize_pem())
}

fn pem_der(pem: &str) -> Vec<u8> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
    block.contents
}

/// `sha256:<hex>` over the DER SubjectPublicKeyInfo, as kubeadm pins CAs.
fn spki_hash(cert_pem: &str) -> String {
    let der = pem_der(cert_pem);
    let (_, cert) = X509Certificate::from_der(&der).expect("certificate");
    let sum = digest::digest(&digest::SHA256, cert.tbs_certificate.subject_pki.raw);
    let hex: String = sum.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The golden README's rule, written independently of the server: header exactly
/// `{"alg":"HS256","kid":"<id>"}`, detached payload, HMAC-SHA256 keyed with the secret over
/// `b64url(header) + "." + b64url(kubeconfig)`, no padding.
fn jws_verifies(jws: &str, kubeconfig: &str, token_id: &str, token_secret: &str) -> bool {
    let Some((header_b64, rest)) = jws.split_once("..") else {
        return false;
    };
    let Ok(header) = URL_SAFE_NO_PAD.decode(header_b64) else {
        return false;
    };
    if header != format!(r#"{{"alg":"HS256","kid":"{token_id}"}}"#).as_bytes() {
        return false;
    }
    let Ok(signature) = URL_SAFE_NO_PAD.decode(rest) else {
        return false;
    };
    let input = format!("{header_b64}.{}", URL_SAFE_NO_PAD.encode(kubeconfig));
    let key = hmac::Key::new(hmac::HMAC_SHA256, token_secret.as_bytes());
    hmac::verify(&key, input.as_bytes(), &signature).is_ok()
}

fn poll_csr(client: &Client, name: &str, reads: usize) -> Value {
    let path = format!("{CSR_PATH}/{name}");
    let mut csr = Value::Null;
    for _ in 0..reads {
        let reply = client.get(&path);
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        csr = reply.json();
        if csr["status"]["certificate"].is_string() {
            break;
        }
    }
    csr
}

fn condition_types(csr: &Value) -> Vec<String> {
    csr["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["type"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn issued_certificate(csr: &Value) -> String {
    let b64 = csr["status"]["certificate"]
        .as_str()
        .unwrap_or_else(|| panic!("no certificate issued: {csr}"));
    String::from_utf8(STANDARD.decode(b64).expect("base64")).expect("PEM text")
}

// ---- discovery ----------------------------------------------------------------------------

#[test]
fn detached_jws_matches_the_golden_vector() {
    let golden_kubeconfig = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM1ekNDQWMrZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKY201bGRHVnpNQjRYRFRJMk1URXlNekE1TXpRME5Gb1hEVE0yTVRFeU1EQTVNelEwTkZvd0ZURVRNQkVHQTFVRQpBeE1LYTNWaVpYSnVaWFJsY3pDQ0FTSXdEUVlKS29aSWh2Y05BUUVCQlFBRGdnRVBBRENDQVFvQ2dnRUJBTjQzCmEyWG1nd3UvMFNFUDJOb3pTeXJaNE9FcGMrV1k1QnVHdC9yU2VpWFU2ZXNxKzNCa0hNZG5TT2pja3BaRVk0NXkKenEvRTd4b1I5eEFtNVpDT0djS2tvQ010Sm42Q1FXeWlqanIvWjBvLzA5anVVeXl4clZraVR6OEN3THJjZ3BnWAp3a2NrRzVUUHFjb0krSXZDRFdabFlLaDNMVjJrWmlLd0wrUlBtbDhuQXJSQkp2cTBycFQ2dkdZOXBCTStmNGQ5Ck9pWnNuclplTS9Xcmd0a2FDOStUL09CQk53SlZhT1d4ZWhrSVl5M09odjRQVTI4UDNYTlh4V0RVa0E2b3BkRisKTUppOTJKcnVJMUdXUnZlKzcyTzF2YVE0elZDalU1QWJDbzRtRkZhbDZNQndjaHlSWUNzcGFNTmJMNUo4LzkwMApHdll0Z2FNYkhWQzFIZ0lNbktNQ0F3RUFBYU5DTUVBd0RnWURWUjBQQVFIL0JBUURBZ0trTUE4R0ExVWRFd0VCCi93UUZNQU1CQWY4d0hRWURWUjBPQkJZRUZJV01PWExRV1pqZW00eHRkek12WDJZVDVOU3RNQTBHQ1NxR1NJYjMKRFFFQkN3VUFBNElCQVFDRHNpcDkvT3JNVTBjWW1BdlgzVVovRUFUWStjM1lIWW5QMEJ3RUFVYzR1ZlBnZm1CbgovOEpyZzhKUjd6eGlBOEpkRTlWVFJtSUdMalZidFpDWGh1NnpYT094S1h2bUwwNmo0dmJvVno0eUVCdWo2NERjCkM3NnR2eTl4bUh4NnBCSFYzZjNHNXYvc2YvbDFkd3h6QmRQYXNkTDBMSjl6ZEVMQy8yUDBGNWd4NXN4RXpwdVoKL2FwL3R1djJCK2w0RFJYY01mZEtsaVVuQnE4QnZGNnJIQ1crMHBUN1VPVUFxM1RwS3lSaVhqWXRrV201d3lHNgptSGdsYmVuNklkTWl2eVdWcW93WjZlZXZsb1l0V1JhTmRRZUJncjhhUk9FN2FCZVl1eEhweFo0Nms0dU96UEk0CjdFck1pc1V5anVvbE1VMk1JRHZ4SjUrWWpXdWVWWnlrZXY2MgotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==\n    server: https://127.0.0.1:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {}\nusers: null\n";
    let golden_jws =
        "eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9..negGmA6OoNUO9Rrcar6xXD_PIm5xwWHUUPufl52CGQQ";
    assert_eq!(
        support::apiserver::detached_jws(golden_kubeconfig, TOKEN_ID, TOKEN_SECRET),
        golden_jws
    );
    assert!(jws_verifies(
        golden_jws,
        golden_kubeconfig,
        TOKEN_ID,
        TOKEN_SECRET
    ));
    assert!(!jws_verifies(
        golden_jws,
        golden_kubeconfig,
        TOKEN_ID,
        "0123456789abcdee"
    ));
}

#[test]
fn anonymous_cluster_info_is_signed_by_every_signing_token() {
    let srv = TestApiServer::builder()
        .token(TOKEN, TokenOpts::default())
        .token(
            "ghijkl.0123456789abcdef",
            TokenOpts {
                signing: false,
                ..TokenOpts::default()
            },
        )
        .token("mnopqr.0123456789abcdef", TokenOpts::expired())
        .start();
    // Discovery's first fetch trusts nobody yet.
    let reply = Client::new(&srv, None, None).get(CLUSTER_INFO_PATH);
    assert_eq!(reply.status, 200);
    let cm = reply.json();
    let kubeconfig = cm["data"]["kubeconfig"].as_str().expect("kubeconfig");
    assert!(jws_verifies(
        cm["data"]["jws-kubeconfig-abcdef"]
            .as_str()
            .expect("abcdef signed"),
        kubeconfig,
        TOKEN_ID,
        TOKEN_SECRET
    ));
    assert!(
        cm["data"]["jws-kubeconfig-ghijkl"].is_null(),
        "no signing usage"
    );
    assert!(cm["data"]["jws-kubeconfig-mnopqr"].is_null(), "expired");

    let parsed: Value = serde_yaml::from_str(kubeconfig).expect("kubeconfig YAML");
    let cluster = &parsed["clusters"][0];
    assert_eq!(cluster["name"], "");
    assert_eq!(cluster["cluster"]["server"], srv.url());
    let ca_pem = String::from_utf8(
        STANDARD
            .decode(
                cluster["cluster"]["certificate-authority-data"]
                    .as_str()
                    .expect("CA"),
            )
            .expect("base64"),
    )
    .expect("PEM");
    assert_eq!(ca_pem, srv.ca_pem());
    assert_eq!(spki_hash(&ca_pem), srv.ca_hash());
    assert!(kubeconfig.ends_with("users: null\n"));
}

#[test]
fn ca_hash_is_what_openssl_computes() {
    let srv = TestApiServer::builder().start();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, srv.ca_pem()).expect("write CA");
    let script = format!(
        "openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex",
        ca.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("run openssl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let hex = stdout.trim().rsplit(' ').next().expect("digest");
    assert_eq!(srv.ca_hash(), format!("sha256:{hex}"));
}

#[test]
fn signature_appears_only_when_the_signing_policy_allows() {
    let srv = TestApiServer::builder()
        .token(TOKEN, TokenOpts::default())
        .signing(Signing::AfterReads(2))
        .start();
    let client = Client::anonymous(&srv);
    let signed = |reply: Reply| reply.json()["data"]["jws-kubeconfig-abcdef"].is_string();
    assert!(!signed(client.get(CLUSTER_INFO_PATH)));
    assert!(!signed(client.get(CLUSTER_INFO_PATH)));
    assert!(signed(client.get(CLUSTER_INFO_PATH)));

    srv.set_signing(Signing::Never);
    assert!(
        !signed(client.get(CLUSTER_INFO_PATH)),
        "signature withdrawn"
    );
    srv.set_signing(Signing::Immediate);
    srv.add_token("zyxwvu.0123456789abcdef", TokenOpts::default());
    let cm = client.get(CLUSTER_INFO_PATH).json();
    assert!(
        cm["data"]["jws-kubeconfig-zyxwvu"].is_string(),
        "token added at run time"
    );
}

#[test]
fn anonymous_may_read_only_cluster_info_and_public_info() {
    let srv = token_server();
    let client = Client::anonymous(&srv);
    let version = client.get("/version");
    assert_eq!(version.status, 200);
    assert_eq!(version.json()["gitVersion"], srv.version());
    assert_eq!(client.get("/healthz").body, b"ok");
    assert_eq!(client.get("/readyz").status, 200);

    let reply = client.get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config");
    assert_eq!(reply.status, 403);
    let status = reply.json();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(
        status["message"],
        "configmaps \"kubeadm-config\" is forbidden: User \"system:anonymous\" cannot get \
         resource \"configmaps\" in API group \"\" in the namespace \"kube-system\""
    );
    let reply = client.get("/api/v1/nodes");
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.message(),
        "nodes is forbidden: User \"system:anonymous\" cannot list resource \"nodes\" in API \
         group \"\" at the cluster scope"
    );
    let reply = client.get("/api/v1/namespaces/kube-public/configmaps/other");
    assert_eq!(reply.status, 403, "cluster-info only, by name");
    let reply = client.get("/metrics");
    assert_eq!(
        reply.message(),
        "forbidden: User \"system:anonymous\" cannot get path \"/metrics\""
    );
}

// ---- authentication -----------------------------------------------------------------------

#[test]
fn a_bad_bearer_token_is_401_never_anonymous() {
    let srv = token_server();
    for token in [
        "abcdef.0123456789abcdee", // wrong secret
        "zzzzzz.0123456789abcdef", // unknown id
        "not-a-bootstrap-token",
    ] {
        let reply = Client::with_token(&srv, token).get(CLUSTER_INFO_PATH);
        assert_eq!(reply.status, 401, "{token}");
        let status = reply.json();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "Unauthorized");
        assert_eq!(status["code"], 401);
    }
    let log = srv.requests();
    assert_eq!(log.len(), 3);
    assert!(
        log.iter()
            .all(|r| r.user.is_none() && r.status == Some(401))
    );
}

#[test]
fn expired_or_non_authenticating_tokens_are_401() {
    let srv = TestApiServer::builder()
        .token(TOKEN, TokenOpts::expired())
        .token(
            "ghijkl.0123456789abcdef",
            TokenOpts {
                authentication: false,
                ..TokenOpts::default()
            },
        )
        .start();
    for token in [TOKEN, "ghijkl.0123456789abcdef"] {
        let reply = Client::with_token(&srv, token).get("/version");
        assert_eq!(reply.status, 401, "{token}");
        assert_eq!(reply.json()["reason"], "Unauthorized");
    }
}

#[test]
fn bootstrap_token_reads_what_kubeadm_join_reads_and_nothing_else() {
    let srv = token_server();
    let client = Client::with_token(&srv, TOKEN);
    for path in [
        "/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
        "/api/v1/namespaces/kube-system/configmaps/kubelet-config",
    ] {
        assert_eq!(client.get(path).status, 200, "{path}");
    }
    assert_eq!(
        client.get("/api/v1/nodes/anything").status,
        404,
        "kubeadm:get-nodes"
    );
    let reply = client.get("/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef");
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.message(),
        "secrets \"bootstrap-token-abcdef\" is forbidden: User \"system:bootstrap:abcdef\" \
         cannot get resource \"secrets\" in API group \"\" in the namespace \"kube-system\""
    );
    let log = srv.requests();
    assert!(
        log.iter()
            .all(|r| r.user.as_deref() == Some("system:bootstrap:abcdef"))
    );
}

#[test]
fn v1_19_cluster_names_kubelet_config_by_minor() {
    let srv = TestApiServer::builder()
        .token(TOKEN, TokenOpts::default())
        .kubernetes_version("v1.19.0")
        .start();
    let client = Client::with_token(&srv, TOKEN);
    let path = "/api/v1/namespaces/kube-system/configmaps/kubelet-config-1.19";
    assert_eq!(client.get(path).status, 200);
    assert_eq!(client.get("/version").json()["gitVersion"], "v1.19.0");
}

#[test]
fn a_client_certificate_from_another_ca_fails_the_handshake() {
    let srv = TestApiServer::builder().start();
    let rogue = srv.rogue_client_cert("kubernetes-super-admin", &["system:masters"]);
    let result = Client::with_cert(&srv, &rogue).call("GET", "/version", "", &[]);
    assert!(result.is_err(), "the handshake must fail");
    assert!(srv.requests().is_empty());
}

// ---- TLS bootstrap ------------------------------------------------------------------------

#[test]
fn golden_csr_is_approved_signed_and_its_node_may_only_create_itself() {
    let srv = token_server();
    let client = Client::with_token(&srv, TOKEN);
    let created = client.post(
        CSR_PATH,
        &csr_body(GOLDEN_CSR_NAME, GOLDEN_CSR, &KUBELET_USAGES),
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let created = created.json();
    assert_eq!(created["spec"]["username"], "system:bootstrap:abcdef");
    assert_eq!(
        created["spec"]["groups"],
        json!([
            "system:bootstrappers",
            "system:bootstrappers:kubeadm:default-node-token",
            "system:authenticated"
        ])
    );
    let again = client.post(
        CSR_PATH,
        &csr_body(GOLDEN_CSR_NAME, GOLDEN_CSR, &KUBELET_USAGES),
    );
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["reason"], "AlreadyExists");

    let csr = poll_csr(&client, GOLDEN_CSR_NAME, 1);
    assert_eq!(condition_types(&csr), ["Approved"]);
    assert_eq!(csr["status"]["conditions"][0]["reason"], "AutoApproved");
    let cert_pem = issued_certificate(&csr);

    // The certificate chains to the cluster CA and carries what the v1.19 signer put there.
    let ca_der = pem_der(srv.ca_pem());
    let (_, ca) = X509Certificate::from_der(&ca_der).expect("CA");
    let cert_der = pem_der(&cert_pem);
    let (_, cert) = X509Certificate::from_der(&cert_der).expect("certificate");
    cert.verify_signature(Some(ca.public_key()))
        .expect("signed by the cluster CA");
    assert_eq!(cert.issuer(), ca.subject());
    let cn = cert.subject().iter_common_name().next().expect("CN");
    assert_eq!(cn.as_str().expect("CN text"), "system:node:testnode");
    let eku = cert
        .extended_key_usage()
        .expect("EKU")
        .expect("EKU present");
    assert!(eku.value.client_auth && !eku.value.server_auth);
    let ku = cert.key_usage().expect("KU").expect("KU present");
    assert!(ku.value.digital_signature() && ku.value.key_encipherment());
    assert!(!cert.is_ca());
    let days =
        (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / 86_400;
    assert_eq!(days, 365);
    let golden_csr_der = pem_der(GOLDEN_CSR);
    let (_, golden_csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&golden_csr_der)
            .expect("CSR");
    assert_eq!(
        cert.public_key().raw,
        golden_csr.certification_request_info.subject_pki.raw
    );

    // The node identity may create its own Node, and no other.
    let node = Client::with_cert(
        &srv,
        &ClientIdentity {
            cert_pem,
            key_pem: GOLDEN_KEY.into(),
        },
    );
    let own = node.post(
        "/api/v1/nodes",
        &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "testnode"}}),
    );
    assert_eq!(own.status, 201, "{}", String::from_utf8_lossy(&own.body));
    let other = node.post(
        "/api/v1/nodes",
        &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "other"}}),
    );
    assert_eq!(other.status, 403);
    assert_eq!(
        other.message(),
        "nodes \"other\" is forbidden: node \"testnode\" is not allowed to modify node \"other\""
    );
    let labelled = node.merge_patch(
        "/api/v1/nodes/testnode",
        &json!({"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}}}),
    );
    assert_eq!(
        labelled.status, 403,
        "NodeRestriction guards node-role labels"
    );
    let users: Vec<_> = srv.requests().into_iter().filter_map(|r| r.user).collect();
    assert!(users.contains(&"system:node:testnode".to_string()));
}

#[test]
fn csr_policies_leave_pending_deny_or_approve_after_reads() {
    let srv = token_server();
    let client = Client::with_token(&srv, TOKEN);
    let (csr_pem, _) = node_csr("n1");

    srv.set_csr_policy(CsrPolicy::Never);
    client.post(CSR_PATH, &csr_body("never", &csr_pem, &KUBELET_USAGES));
    let csr = poll_csr(&client, "never", 3);
    assert!(condition_types(&csr).is_empty() && csr["status"]["certificate"].is_null());

    srv.set_csr_policy(CsrPolicy::Deny);
    client.post(CSR_PATH, &csr_body("denied", &csr_pem, &KUBELET_USAGES));
    let csr = poll_csr(&client, "denied", 1);
    assert_eq!(condition_types(&csr), ["Denied"]);
    assert!(csr["status"]["certificate"].is_null());

    srv.set_csr_policy(CsrPolicy::AfterReads(2));
    client.post(CSR_PATH, &csr_body("later", &csr_pem, &KUBELET_USAGES));
    let path = format!("{CSR_PATH}/later");
    assert!(client.get(&path).json()["status"]["certificate"].is_null());
    assert!(client.get(&path).json()["status"]["certificate"].is_null());
    assert!(client.get(&path).json()["status"]["certificate"].is_string());
}

#[test]
fn csr_usages_are_checked_as_the_cluster_version_does() {
    let (csr_pem, _) = node_csr("n1");
    let ec_usages = ["digital signature", "client auth"];
    let old = TestApiServer::builder()
        .token(TOKEN, TokenOpts::default())
        .kubernetes_version("v1.19.0")
        .start();
    let client = Client::with_token(&old, TOKEN);
    client.post(CSR_PATH, &csr_body("ec", &csr_pem, &ec_usages));
    assert!(
        condition_types(&poll_csr(&client, "ec", 2)).is_empty(),
        "v1.19 leaves it pending"
    );

    let new = token_server();
    let client = Client::with_token(&new, TOKEN);
    client.post(CSR_PATH, &csr_body("ec", &csr_pem, &ec_usages));
    let csr = poll_csr(&client, "ec", 1);
    let cert_der = pem_der(&issued_certificate(&csr));
    let (_, cert) = X509Certificate::from_der(&cert_der).expect("certificate");
    let ku = cert.key_usage().expect("KU").expect("KU present");
    assert!(ku.value.digital_signature() && !ku.value.key_encipherment());

    let bad = client.post(
        CSR_PATH,
        &csr_body("dup", &csr_pem, &["client auth", "client auth"]),
    );
    assert_eq!(bad.status, 422);
    assert_eq!(
        bad.message(),
        "CertificateSigningRequest.certificates.k8s.io \"dup\" is invalid: spec.usages[1]: \
         Duplicate value: \"client auth\""
    );
}

#[test]
fn csr_is_not_approved_without_the_autoapprove_binding() {
    // A token outside kubeadm's default-node-token group may post CSRs only if RBAC says so,
    // and its CSRs are not auto-approved.
    let srv = TestApiServer::builder()
        .token(
            TOKEN,
            TokenOpts {
                extra_groups: vec![],
                ..TokenOpts::default()
            },
        )
        .start();
    let client = Client::with_token(&srv, TOKEN);
    let (csr_pem, _) = node_csr("n1");
    let reply = client.post(CSR_PATH, &csr_body("x", &csr_pem, &KUBELET_USAGES));
    assert_eq!(reply.status, 403);

    let admin = Client::with_cert(&srv, &srv.admin_client_cert());
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "bootstrappers-may-post-csrs"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "system:node-bootstrapper"},
        "subjects": [{"kind": "Group", "name": "system:bootstrappers",
                      "apiGroup": "rbac.authorization.k8s.io"}],
    });
    let created = admin.post(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        &binding,
    );
    assert_eq!(created.status, 201);
    assert_eq!(
        client
            .post(CSR_PATH, &csr_body("x", &csr_pem, &KUBELET_USAGES))
            .status,
        201
    );
    assert!(condition_types(&poll_csr(&client, "x", 2)).is_empty());
}

#[test]
fn attack_issuers_hand_out_certificates_that_do_not_fit() {
    let srv = token_server();
    let client = Client::with_token(&srv, TOKEN);
    let (csr_pem, _) = node_csr("n1");
    let csr_der = pem_der(&csr_pem);
    let (_, req) = x509_parser::certification_request::X509CertificationRequest::from_der(&csr_der)
        .expect("CSR");
    let requested_key = req.certification_request_info.subject_pki.raw.to_vec();
    let issue = |name: &str, how: CsrIssue| -> Vec<u8> {
        srv.set_csr_issue(how);
        client.post(CSR_PATH, &csr_body(name, &csr_pem, &KUBELET_USAGES));
        pem_der(&issued_certificate(&poll_csr(&client, name, 1)))
    };

    let der = issue("other-key", CsrIssue::OtherKey);
    let (_, cert) = X509Certificate::from_der(&der).expect("certificate");
    assert_ne!(cert.public_key().raw, requested_key.as_slice());

    let der = issue(
        "other-cn",
        CsrIssue::OtherCommonName("system:node:victim".into()),
    );
    let (_, cert) = X509Certificate::from_der(&der).expect("certificate");
    let cn = cert.subject().iter_common_name().next().expect("CN");
    assert_eq!(cn.as_str().expect("CN text"), "system:node:victim");

    let der = issue("other-ca", CsrIssue::OtherCa);
    let (_, cert) = X509Certificate::from_der(&der).expect("certificate");
    let ca_der = pem_der(srv.ca_pem());
    let (_, ca) = X509Certificate::from_der(&ca_der).expect("CA");
    assert!(cert.verify_signature(Some(ca.public_key())).is_err());
}

// ---- objects ------------------------------------------------------------------------------

#[test]
fn admin_gets_real_object_semantics() {
    let srv = TestApiServer::builder().start();
    let admin = Client::with_cert(&srv, &srv.admin_client_cert());
    let path = "/api/v1/namespaces/kube-system/configmaps";
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "demo"}, "data": {"a": "1"}});
    let created = admin.post(path, &cm);
    assert_eq!(created.status, 201);
    let created = created.json();
    assert!(created["metadata"]["resourceVersion"].is_string());
    assert!(created["metadata"]["uid"].is_string());
    assert!(created["metadata"]["creationTimestamp"].is_string());
    assert_eq!(admin.post(path, &cm).json()["reason"], "AlreadyExists");

    let mut update = created.clone();
    update["data"]["a"] = json!("2");
    assert_eq!(admin.put(&format!("{path}/demo"), &update).status, 200);
    let stale = admin.put(&format!("{path}/demo"), &update);
    assert_eq!(stale.status, 409);
    assert_eq!(stale.json()["reason"], "Conflict");
    assert_eq!(
        stale.message(),
        "Operation cannot be fulfilled on configmaps \"demo\": the object has been modified; \
         please apply your changes to the latest version and try again"
    );

    let patched = admin.merge_patch(&format!("{path}/demo"), &json!({"data": {"b": "3"}}));
    assert_eq!(patched.json()["data"], json!({"a": "2", "b": "3"}));
    assert_eq!(
        admin.get(&format!("{path}/missing")).message(),
        "configmaps \"missing\" not found"
    );
    let delete = admin
        .call("DELETE", &format!("{path}/demo"), "", &[])
        .expect("DELETE");
    assert_eq!(delete.json()["status"], "Success");
    assert!(
        srv.get_object("v1", "configmaps", Some("kube-system"), "demo")
            .is_none()
    );

    let nowhere = admin.post("/api/v1/namespaces/nope/configmaps", &cm);
    assert_eq!(nowhere.message(), "namespaces \"nope\" not found");
    let invalid =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}});
    assert_eq!(admin.post(path, &invalid).status, 422);
}

#[test]
fn cluster_admins_group_needs_kubeadms_binding() {
    let srv = TestApiServer::builder().bare().start();
    let admin_conf = Client::with_cert(
        &srv,
        &srv.client_cert("kubernetes-admin", &["kubeadm:cluster-admins"]),
    );
    let super_admin = Client::with_cert(&srv, &srv.admin_client_cert());
    let path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
    assert_eq!(admin_conf.get(path).status, 403);
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "kubeadm:cluster-admins"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "Group", "name": "kubeadm:cluster-admins", "apiGroup": "rbac.authorization.k8s.io"}],
    });
    assert_eq!(super_admin.post(path, &binding).status, 201);
    assert_eq!(admin_conf.get(path).status, 200);
    // A bare cluster has no cluster-info yet, and anonymous may not look for it.
    assert_eq!(Client::anonymous(&srv).get(CLUSTER_INFO_PATH).status, 403);
}

// ---- faults -------------------------------------------------------------------------------

#[test]
fn status_and_throttling_faults_hit_the_chosen_requests() {
    let srv = token_server();
    srv.inject(Fault::Status(503).on(CLUSTER_INFO_PATH).times(1));
    srv.inject(
        Fault::TooManyRequests {
            retry_after_secs: 7,
        }
        .on("/version")
        .after(1)
        .times(1),
    );
    let client = Client::anonymous(&srv);
    let reply = client.get(CLUSTER_INFO_PATH);
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["reason"], "ServiceUnavailable");
    assert_eq!(client.get(CLUSTER_INFO_PATH).status, 200);
    assert_eq!(client.get("/version").status, 200);
    let throttled = client.get("/version");
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.headers["retry-after"], "7");
    assert_eq!(client.get("/version").status, 200);
    let faults: Vec<_> = srv.requests().iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        [Some("status"), None, None, Some("too-many-requests"), None]
    );
}

#[test]
fn reset_closes_without_an_answer_and_without_effect() {
    let srv = token_server();
    srv.inject(Fault::Reset.on(CSR_PATH).times(1));
    let client = Client::with_token(&srv, TOKEN);
    let (csr_pem, _) = node_csr("n1");
    let body = serde_json::to_vec(&csr_body("r", &csr_pem, &KUBELET_USAGES)).expect("JSON");
    assert!(
        client
            .call("POST", CSR_PATH, "application/json", &body)
            .is_err()
    );
    assert!(
        srv.get_object(
            "certificates.k8s.io/v1",
            "certificatesigningrequests",
            None,
            "r"
        )
        .is_none()
    );
    let log = srv.requests();
    assert_eq!(log[0].status, None);
    assert_eq!(log[0].fault, Some("reset"));
}

#[test]
fn reset_after_handling_loses_the_answer_but_not_the_effect() {
    let srv = token_server();
    srv.inject(
        Fault::ResetAfterHandling
            .on(CSR_PATH)
            .method("POST")
            .times(1),
    );
    let client = Client::with_token(&srv, TOKEN);
    let (csr_pem, _) = node_csr("n1");
    let body = serde_json::to_vec(&csr_body("r", &csr_pem, &KUBELET_USAGES)).expect("JSON");
    assert!(
        client
            .call("POST", CSR_PATH, "application/json", &body)
            .is_err()
    );
    assert!(
        srv.get_object(
            "certificates.k8s.io/v1",
            "certificatesigningrequests",
            None,
            "r"
        )
        .is_some()
    );
    let retry = client
        .call("POST", CSR_PATH, "application/json", &body)
        .expect("retry");
    assert_eq!(retry.status, 409, "the retry finds its own CSR");
}

#[test]
fn slow_body_arrives_whole() {
    let srv = token_server();
    srv.inject(Fault::SlowBody {
        chunk: 32,
        pause: Duration::from_millis(5),
    });
    let reply = Client::anonymous(&srv).get("/version");
    assert_eq!(reply.json()["gitVersion"], srv.version());
    assert_eq!(srv.requests()[0].fault, Some("slow-body"));
}

#[test]
fn stalled_body_never_completes_and_drop_still_ends_the_server() {
    let srv = token_server();
    srv.inject(Fault::StallBody { sent: 10 }.on(CLUSTER_INFO_PATH));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let ca = Certificate::from_pem(srv.ca_pem().as_bytes()).expect("CA");
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(provider)
        .root_certs(RootCerts::Specific(Arc::new(vec![ca])))
        .build();
    let agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_recv_body(Some(Duration::from_millis(300)))
        .build()
        .new_agent();
    let response = agent
        .get(format!("{}{CLUSTER_INFO_PATH}", srv.url()))
        .call()
        .expect("headers arrive");
    let declared: usize = response.headers()["content-length"]
        .to_str()
        .expect("header")
        .parse()
        .expect("length");
    assert!(declared > 10);
    assert!(
        response.into_body().read_to_vec().is_err(),
        "the body never completes"
    );
    drop(srv); // must return although a connection thread is stalled
}

#[test]
fn oversized_body_exceeds_a_clients_limit() {
    let srv = token_server();
    srv.inject(
        Fault::OversizedBody {
            len: 4 * 1024 * 1024,
        }
        .on(CLUSTER_INFO_PATH),
    );
    let result = Client::anonymous(&srv).call("GET", CLUSTER_INFO_PATH, "", &[]);
    assert!(result.is_err(), "a 1 MiB limit refuses a 4 MiB body");
    assert_eq!(srv.requests()[0].fault, Some("oversized-body"));
}

#[test]
fn redirect_points_elsewhere() {
    let srv = token_server();
    srv.inject(Fault::Redirect("https://127.0.0.2:6443/elsewhere".into()));
    let reply = Client::anonymous(&srv).get(CLUSTER_INFO_PATH);
    assert_eq!(reply.status, 302);
    assert_eq!(
        reply.headers["location"],
        "https://127.0.0.2:6443/elsewhere"
    );
}

#[test]
fn delay_then_normal_answer() {
    let srv = token_server();
    srv.inject(Fault::Delay(Duration::from_millis(50)).times(1));
    assert_eq!(Client::anonymous(&srv).get("/version").status, 200);
    assert_eq!(srv.requests()[0].fault, Some("delay"));
    assert_eq!(srv.requests()[0].status, Some(200));
}

#[test]
fn man_in_the_middle_appears_after_the_first_connection() {
    let srv = token_server();
    srv.mitm_after_connections(1);
    // Discovery's unverified fetch sees the genuine cluster-info ...
    let first = Client::new(&srv, None, None).get(CLUSTER_INFO_PATH);
    assert_eq!(first.status, 200);
    // ... but the next connection, pinned to the genuine CA, meets the rogue certificate.
    let pinned = Client::anonymous(&srv).call("GET", CLUSTER_INFO_PATH, "", &[]);
    assert!(
        pinned.is_err(),
        "a rogue certificate must fail verification"
    );
    let trusting_rogue = Client::new(&srv, Some(srv.rogue_ca_pem()), None);
    assert_eq!(trusting_rogue.get("/version").status, 200);
    assert_ne!(srv.ca_hash(), srv.rogue_ca_hash());
    assert_eq!(srv.connections(), 3);
}

#[test]
fn second_cluster_info_fetch_can_be_forged() {
    let srv = token_server();
    let forged = srv.forged_cluster_info(Forgery::RogueCaSignedWith(TOKEN.into()));
    srv.inject(
        Fault::Body {
            status: 200,
            body: forged,
        }
        .on(CLUSTER_INFO_PATH)
        .after(1)
        .times(1),
    );
    let client = Client::anonymous(&srv);
    let genuine = client.get(CLUSTER_INFO_PATH).json();
    let forged = client.get(CLUSTER_INFO_PATH).json();
    let kubeconfig = |cm: &Value| {
        cm["data"]["kubeconfig"]
            .as_str()
            .expect("kubeconfig")
            .to_string()
    };
    let jws = |cm: &Value| {
        cm["data"]["jws-kubeconfig-abcdef"]
            .as_str()
            .expect("jws")
            .to_string()
    };
    assert_ne!(kubeconfig(&genuine), kubeconfig(&forged));
    // Signed with the (leaked) token, so only the CA pin tells them apart.
    assert!(jws_verifies(
        &jws(&forged),
        &kubeconfig(&forged),
        TOKEN_ID,
        TOKEN_SECRET
    ));
    assert!(kubeconfig(&forged).contains(&STANDARD.encode(srv.rogue_ca_pem())));

    let stale = srv.forged_cluster_info(Forgery::RogueCaStaleSignatures);
    let stale: Value = serde_json::from_slice(&stale).expect("JSON");
    assert!(!jws_verifies(
        &jws(&stale),
        &kubeconfig(&stale),
        TOKEN_ID,
        TOKEN_SECRET
    ));
    assert_eq!(
        client.get(CLUSTER_INFO_PATH).json(),
        genuine,
        "only the second fetch"
    );
}

#[test]
fn rbac_objects_extend_what_a_token_may_read() {
    use support::apiserver::objects::{group, named_rule, role, role_binding};
    let srv = token_server();
    srv.put_object(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "kubeadm-certs", "namespace": "kube-system"},
        "data": {"ca.crt": STANDARD.encode("sealed")},
    }));
    let client = Client::with_token(&srv, TOKEN);
    let path = "/api/v1/namespaces/kube-system/secrets/kubeadm-certs";
    assert_eq!(client.get(path).status, 403);

    // What `kubeadm init phase upload-certs` adds.
    let rules = vec![named_rule(
        &["get"],
        &[""],
        &["secrets"],
        &["kubeadm-certs"],
    )];
    srv.put_object(role("kube-system", "kubeadm:kubeadm-certs", rules));
    srv.put_object(role_binding(
        "kube-system",
        "kubeadm:kubeadm-certs",
        "Role",
        "kubeadm:kubeadm-certs",
        &[group("system:bootstrappers:kubeadm:default-node-token")],
    ));
    assert_eq!(client.get(path).status, 200);
    let other = "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef";
    assert_eq!(client.get(other).status, 403, "by name only");
}

//! The client against loopback TLS servers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Node};

use super::testserver::{ConnectProxy, TestCa, TestResponse, TestServer};
use super::*;
use crate::retry::FakeClock;

const CLUSTER_INFO: &str = r#"{"kind":"ConfigMap","apiVersion":"v1",
  "metadata":{"name":"cluster-info","namespace":"kube-public"},"data":{"kubeconfig":"x"}}"#;

fn options(ca: &TestCa, auth: Auth) -> ClientOptions {
    let trust = Trust::from_pem(ca.cert_pem.as_bytes(), "test CA").unwrap();
    ClientOptions {
        retry: RetryPolicy::immediate(5),
        ..ClientOptions::new(trust, auth)
    }
}

fn client(server: &TestServer, ca: &TestCa) -> Client {
    Client::new(&server.url(), options(ca, Auth::Anonymous)).unwrap()
}

#[test]
fn typed_get_reads_the_object_from_its_api_path() {
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(&ca.issue("apiserver"), None, |_| {
        TestResponse::json(200, CLUSTER_INFO)
    });
    let cm: ConfigMap = client(&server, &ca)
        .get(Some("kube-public"), "cluster-info")
        .unwrap();
    assert_eq!(cm.data.unwrap()["kubeconfig"], "x");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(
        requests[0].path,
        "/api/v1/namespaces/kube-public/configmaps/cluster-info"
    );
    assert_eq!(requests[0].header("authorization"), None);
}

#[test]
fn a_view_reads_only_its_fields_from_the_resources_path() {
    #[derive(serde::Deserialize)]
    struct Labels {
        metadata: Meta,
    }
    #[derive(serde::Deserialize)]
    struct Meta {
        labels: std::collections::BTreeMap<String, String>,
    }
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(&ca.issue("apiserver"), None, |r| {
        if r.path.ends_with("/n1") {
            TestResponse::json(
                200,
                r#"{"kind":"Node","apiVersion":"v1","metadata":{"name":"n1","labels":{"a":"b"}},
                    "status":{"images":[{"names":["x"],"sizeBytes":1}]}}"#,
            )
        } else {
            TestResponse::status(404, "NotFound", "nodes \"n2\" not found")
        }
    });
    let client = client(&server, &ca);
    let view = client.get_as::<Node, Labels>(None, "n1").unwrap();
    assert_eq!(view.metadata.labels["a"], "b");
    let tree = client
        .get_optional_as::<Node, serde_json::Value>(None, "n1")
        .unwrap()
        .unwrap();
    assert_eq!(tree["status"]["images"][0]["sizeBytes"], 1);
    assert!(
        client
            .get_optional_as::<Node, serde_json::Value>(None, "n2")
            .unwrap()
            .is_none()
    );
    let paths: Vec<_> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/api/v1/nodes/n1", "/api/v1/nodes/n1", "/api/v1/nodes/n2"]
    );
}

#[test]
fn resource_paths_follow_group_version_and_scope() {
    assert_eq!(
        resource_path::<CertificateSigningRequest>(None, Some("node-csr-abc")).unwrap(),
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/node-csr-abc"
    );
    assert_eq!(resource_path::<Node>(None, None).unwrap(), "/api/v1/nodes");
    assert!(resource_path::<ConfigMap>(None, Some("x")).is_err());
    assert!(resource_path::<Node>(Some("default"), Some("x")).is_err());
    for bad in ["", "..", "a/b", "a?b", "a#b", "a%2f", "a b"] {
        assert!(
            resource_path::<Node>(None, Some(bad)).is_err(),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn status_body_becomes_a_typed_error() {
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(&ca.issue("apiserver"), None, |_| {
        TestResponse::status(404, "NotFound", "configmaps \"cluster-info\" not found")
    });
    let err = client(&server, &ca)
        .get::<ConfigMap>(Some("kube-public"), "cluster-info")
        .unwrap_err();
    let Error::Status {
        method,
        url,
        code,
        reason,
        message,
    } = &err
    else {
        panic!("not a Status error: {err}");
    };
    assert_eq!(*method, "GET");
    assert_eq!(
        *url,
        format!(
            "{}/api/v1/namespaces/kube-public/configmaps/cluster-info",
            server.url()
        )
    );
    assert_eq!(*code, 404);
    assert_eq!(reason, "NotFound");
    assert_eq!(message, "configmaps \"cluster-info\" not found");
    assert!(err.is_not_found());
    assert_eq!(server.requests().len(), 1, "a 404 must not be retried");

    let missing = client(&server, &ca)
        .get_optional::<ConfigMap>(Some("kube-public"), "cluster-info")
        .unwrap();
    assert!(missing.is_none());
}

#[test]
fn already_exists_is_recognised_on_create() {
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(&ca.issue("apiserver"), None, |_| {
        TestResponse::status(409, "AlreadyExists", "already exists")
    });
    let err = client(&server, &ca)
        .create::<ConfigMap>(Some("kube-system"), &ConfigMap::default())
        .unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    let request = &server.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/api/v1/namespaces/kube-system/configmaps");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let sent: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(sent["kind"], "ConfigMap");
    assert_eq!(sent["apiVersion"], "v1");
}

#[test]
fn patches_carry_their_content_type() {
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(&ca.issue("apiserver"), None, |_| {
        TestResponse::json(
            200,
            r#"{"kind":"Node","apiVersion":"v1","metadata":{"name":"n1"}}"#,
        )
    });
    let patch = serde_json::json!({"metadata": {"labels": {"a": "b"}}});
    let client = client(&server, &ca);
    let node = client
        .patch::<Node>(None, "n1", &Patch::Strategic(patch.clone()))
        .unwrap();
    assert_eq!(node["metadata"]["name"], "n1");
    client
        .patch::<Node>(None, "n1", &Patch::Merge(patch.clone()))
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests[0].method, "PATCH");
    assert_eq!(requests[0].path, "/api/v1/nodes/n1");
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/strategic-merge-patch+json")
    );
    assert_eq!(
        requests[1].header("content-type"),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&requests[0].body).unwrap(),
        patch
    );

    client.delete::<Node>(None, "n1").unwrap();
    let deleted = &server.requests()[2];
    assert_eq!(
        (deleted.method.as_str(), deleted.path.as_str()),
        ("DELETE", "/api/v1/nodes/n1")
    );
    assert!(client.request(Method::Get, "api", None).is_err());
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn an_error_page_without_status_is_an_http_error() {
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(&ca.issue("apiserver"), None, |_| TestResponse {
        headers: vec![("Content-Type".into(), "text/html".into())],
        ..TestResponse::json(403, "<html>denied\n</html>")
    });
    let err = client(&server, &ca)
        .request(Method::Get, "/x", None)
        .unwrap_err();
    match &err {
        Error::Http {
            code: 403, body, ..
        } => assert_eq!(body, "<html>denied </html>"),
        other => panic!("unexpected {other}"),
    }
    assert!(err.is_forbidden());
}

#[test]
fn too_many_requests_is_retried_after_the_servers_delay() {
    let ca = TestCa::new("kubernetes");
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let server = TestServer::start(&ca.issue("apiserver"), None, move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            TestResponse::status(429, "TooManyRequests", "slow down").header("Retry-After", "2")
        } else {
            TestResponse::json(200, CLUSTER_INFO)
        }
    });
    let clock = FakeClock::new();
    let mut opts = options(&ca, Auth::Anonymous);
    opts.retry = RetryPolicy {
        max_retry_after: Duration::from_secs(30),
        ..RetryPolicy::immediate(5)
    }
    .with_clock(clock.clone());
    let client = Client::new(&server.url(), opts).unwrap();
    let cm: ConfigMap = client.get(Some("kube-public"), "cluster-info").unwrap();
    assert!(cm.data.is_some());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(2)]);
}

#[test]
fn server_errors_are_retried_until_success() {
    let ca = TestCa::new("kubernetes");
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let server = TestServer::start(&ca.issue("apiserver"), None, move |_| {
        match seen.fetch_add(1, Ordering::SeqCst) {
            0 => TestResponse::status(503, "ServiceUnavailable", "etcd not ready"),
            1 => TestResponse::json(500, "oops"),
            _ => TestResponse::json(200, CLUSTER_INFO),
        }
    });
    let cm: ConfigMap = client(&server, &ca)
        .get(Some("kube-public"), "cluster-info")
        .unwrap();
    assert!(cm.data.is_some());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn persistent_server_errors_give_up_with_the_last_error() {
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(&ca.issue("apiserver"), None, |_| {
        TestResponse::status(503, "ServiceUnavailable", "etcd not ready")
    });
    let err = client(&server, &ca)
        .get::<ConfigMap>(Some("kube-public"), "cluster-info")
        .unwrap_err();
    assert!(matches!(err, Error::GaveUp { attempts: 5, .. }), "{err}");
    assert_eq!(err.status_code(), Some(503));
    assert!(err.to_string().contains("etcd not ready"), "{err}");
    assert_eq!(server.requests().len(), 5);
}

#[test]
fn retries_stop_at_the_deadline() {
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(&ca.issue("apiserver"), None, |_| {
        TestResponse::status(503, "ServiceUnavailable", "busy").header("Retry-After", "10")
    });
    let clock = FakeClock::new();
    let mut opts = options(&ca, Auth::Anonymous);
    opts.retry = RetryPolicy {
        max_retry_after: Duration::from_secs(60),
        timeout: Duration::from_secs(25),
        max_attempts: 100,
        ..RetryPolicy::immediate(100)
    }
    .with_clock(clock.clone());
    let err = Client::new(&server.url(), opts)
        .unwrap()
        .request(Method::Get, "/readyz", None)
        .unwrap_err();
    // Waits of 10 s fit twice in 25 s; a third would pass the deadline.
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(10); 2]);
    assert!(matches!(err, Error::GaveUp { attempts: 3, .. }), "{err}");
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let ca = TestCa::new("kubernetes");
    // Bind and drop a listener: nothing listens on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::new(
        &format!("https://127.0.0.1:{port}"),
        options(&ca, Auth::Anonymous),
    )
    .unwrap();
    let err = client.request(Method::Get, "/version", None).unwrap_err();
    assert!(matches!(err, Error::GaveUp { attempts: 5, .. }), "{err}");
    assert!(matches!(err.last(), Error::Connect { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Cluster);
    assert!(err.to_string().contains("reachable"), "{err}");
}

#[test]
fn oversized_bodies_are_refused() {
    let ca = TestCa::new("kubernetes");
    for close_delimited in [false, true] {
        let server = TestServer::start(&ca.issue("apiserver"), None, move |_| TestResponse {
            close_delimited,
            ..TestResponse::json(200, vec![b' '; 2048])
        });
        let mut opts = options(&ca, Auth::Anonymous);
        opts.max_body_bytes = 1024;
        let err = Client::new(&server.url(), opts)
            .unwrap()
            .request(Method::Get, "/big", None)
            .unwrap_err();
        assert!(
            matches!(err, Error::BodyTooLarge { limit: 1024, .. }),
            "close_delimited={close_delimited}: {err}"
        );
    }
}

#[test]
fn redirects_are_not_followed() {
    let ca = TestCa::new("kubernetes");
    let elsewhere = TestServer::start(&ca.issue("elsewhere"), None, |_| {
        TestResponse::json(200, CLUSTER_INFO)
    });
    let target = format!(
        "{}/api/v1/namespaces/kube-public/configmaps/cluster-info",
        elsewhere.url()
    );
    let server = TestServer::start(&ca.issue("apiserver"), None, move |_| {
        TestResponse::json(302, "").header("Location", &target)
    });
    let err = client(&server, &ca)
        .get::<ConfigMap>(Some("kube-public"), "cluster-info")
        .unwrap_err();
    match &err {
        Error::Redirect { code, location, .. } => {
            assert_eq!(*code, 302);
            assert!(location.starts_with(&elsewhere.url()), "{location}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(server.requests().len(), 1);
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");
}

#[test]
fn a_server_signed_by_another_ca_is_a_trust_error() {
    let cluster_ca = TestCa::new("kubernetes");
    let impostor_ca = TestCa::new("kubernetes");
    let server = TestServer::start(&impostor_ca.issue("apiserver"), None, |_| {
        TestResponse::json(200, CLUSTER_INFO)
    });
    let err = client(&server, &cluster_ca)
        .get::<ConfigMap>(Some("kube-public"), "cluster-info")
        .unwrap_err();
    assert!(err.is_trust(), "{err}");
    assert!(matches!(err, Error::Trust { .. }), "retried: {err}");
    assert_eq!(err.exit_code(), ExitCode::Trust);
    assert!(server.requests().is_empty());
}

#[test]
fn any_certificate_trust_accepts_an_unknown_server() {
    let impostor_ca = TestCa::new("kubernetes");
    let server = TestServer::start(&impostor_ca.issue("apiserver"), None, |_| {
        TestResponse::json(200, CLUSTER_INFO)
    });
    let opts = ClientOptions {
        retry: RetryPolicy::immediate(1),
        ..ClientOptions::new(Trust::any_certificate(), Auth::Anonymous)
    };
    let cm: ConfigMap = Client::new(&server.url(), opts)
        .unwrap()
        .get(Some("kube-public"), "cluster-info")
        .unwrap();
    assert!(cm.data.is_some());
}

#[test]
fn credentials_are_refused_with_an_unverified_server() {
    let node = TestCa::new("kubernetes").issue("system:node:n");
    let identity =
        ClientIdentity::from_pem(node.cert_pem.as_bytes(), node.key_pem.as_bytes(), "test")
            .unwrap();
    let secret = "abcdef.0123456789abcdef";
    for auth in [
        Auth::BearerToken(secret.into()),
        Auth::ClientCertificate(identity),
    ] {
        let opts = ClientOptions::new(Trust::any_certificate(), auth);
        let err = Client::new("https://127.0.0.1:1", opts).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not verified"), "{text}");
        assert!(!text.contains(secret), "{text}");
    }
}

#[test]
fn bearer_token_is_sent_but_never_shown() {
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(&ca.issue("apiserver"), None, |_| {
        TestResponse::status(401, "Unauthorized", "Unauthorized")
    });
    let token = "abcdef.0123456789abcdef";
    let client = Client::new(
        &server.url(),
        options(&ca, Auth::BearerToken(token.to_string())),
    )
    .unwrap();
    let err = client
        .get::<ConfigMap>(Some("kube-system"), "kubeadm-config")
        .unwrap_err();
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer abcdef.0123456789abcdef")
    );
    for text in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }
}

#[test]
fn client_certificate_is_presented() {
    let ca = TestCa::new("kubernetes");
    let node = ca.issue("system:node:testnode");
    let server = TestServer::start(&ca.issue("apiserver"), Some(&ca.cert_pem), |_| {
        TestResponse::json(200, CLUSTER_INFO)
    });
    let identity =
        ClientIdentity::from_pem(node.cert_pem.as_bytes(), node.key_pem.as_bytes(), "test")
            .unwrap();
    let with_cert = Client::new(
        &server.url(),
        options(&ca, Auth::ClientCertificate(identity)),
    )
    .unwrap();
    assert!(with_cert.request(Method::Get, "/api", None).is_ok());

    let err = client(&server, &ca)
        .request(Method::Get, "/api", None)
        .unwrap_err();
    assert!(
        !err.is_trust(),
        "the server refused us, not the other way: {err}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_mismatched_client_certificate_and_key_is_an_error() {
    let ca = TestCa::new("kubernetes");
    let node = ca.issue("system:node:testnode");
    let other = ca.issue("system:node:other");
    let err = ClientIdentity::from_pem(
        node.cert_pem.as_bytes(),
        other.key_pem.as_bytes(),
        "kubelet.conf",
    )
    .unwrap_err();
    assert!(err.0.contains("kubelet.conf"), "{err}");
    assert!(err.0.contains("cannot be used together"), "{err}");
    assert!(
        ClientIdentity::from_pem(node.cert_pem.as_bytes(), b"not a key", "kubelet.conf").is_err()
    );
}

#[test]
fn server_urls_are_checked() {
    let ca = TestCa::new("kubernetes");
    let ok = Client::new("https://10.0.0.1:6443/", options(&ca, Auth::Anonymous)).unwrap();
    assert_eq!(ok.server(), "https://10.0.0.1:6443");
    let v6 = Client::new("https://[fd00::1]:6443", options(&ca, Auth::Anonymous)).unwrap();
    assert_eq!(v6.server(), "https://[fd00::1]:6443");
    for bad in [
        "http://10.0.0.1:6443",
        "10.0.0.1:6443",
        "https://10.0.0.1:6443/api",
        "https://user@10.0.0.1:6443",
        "https://10.0.0.1:6443?x=1",
    ] {
        assert!(
            matches!(
                Client::new(bad, options(&ca, Auth::Anonymous)),
                Err(Error::Setup { .. })
            ),
            "{bad} accepted"
        );
    }
}

#[test]
fn a_bundle_without_certificates_is_refused() {
    assert!(Trust::from_pem(b"", "ca.crt").is_err());
    assert!(
        Trust::from_pem(
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            "ca.crt"
        )
        .is_err()
    );
}

#[test]
fn errors_show_the_url_without_its_query() {
    // A presigned discovery-file URL carries its credential in the query.
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(&ca.issue("apiserver"), None, |_| {
        TestResponse::status(404, "NotFound", "no such file")
    });
    let err = client(&server, &ca)
        .request(Method::Get, "/discovery.conf?X-Signature=s3cr3t", None)
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/discovery.conf?<redacted>"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
}

fn https_proxy(url: &str) -> ProxyEnv {
    ProxyEnv::from_lookup(|name| (name == "HTTPS_PROXY").then(|| url.to_string()))
}

#[test]
fn https_proxy_from_the_environment_carries_the_requests_to_the_server() {
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(
        &ca.issue_for("apiserver", &["kubernetes.test"]),
        None,
        |_| TestResponse::json(200, CLUSTER_INFO),
    );
    // The proxy reaches the test server whatever name it is asked for; the client never
    // resolves `kubernetes.test` itself.
    let proxy = ConnectProxy::start(server.endpoint().parse().unwrap());
    let env = https_proxy(&proxy.url());
    assert!(
        env.https_proxy_for("kubernetes.test", server.port())
            .is_some()
    );
    let url = format!("https://kubernetes.test:{}", server.port());
    let options = ClientOptions {
        proxy: env,
        ..options(&ca, Auth::Anonymous)
    };
    let cm: ConfigMap = Client::new(&url, options)
        .unwrap()
        .get(Some("kube-public"), "cluster-info")
        .unwrap();
    assert_eq!(cm.data.unwrap()["kubeconfig"], "x");
    assert_eq!(
        proxy.connects(),
        [format!("kubernetes.test:{}", server.port())]
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_loopback_server_is_reached_directly_even_with_https_proxy_set() {
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(&ca.issue("apiserver"), None, |_| {
        TestResponse::json(200, CLUSTER_INFO)
    });
    let proxy = ConnectProxy::start(server.endpoint().parse().unwrap());
    let options = ClientOptions {
        proxy: https_proxy(&proxy.url()),
        ..options(&ca, Auth::Anonymous)
    };
    let _: ConfigMap = Client::new(&server.url(), options)
        .unwrap()
        .get(Some("kube-public"), "cluster-info")
        .unwrap();
    assert_eq!(proxy.connects(), Vec::<String>::new());
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_malformed_proxy_is_a_setup_error_that_hides_its_password() {
    let options = ClientOptions {
        proxy: https_proxy("http://user:s3cret@[bad"),
        ..ClientOptions::new(Trust::any_certificate(), Auth::Anonymous)
    };
    let err = Client::new("https://kubernetes.test:6443", options).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("invalid proxy"), "{text}");
    assert!(text.contains("HTTPS_PROXY"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn clients_reach_their_server_directly_unless_given_the_environment() {
    // kubeadm's bare health checks ignore HTTPS_PROXY; only client-go clients opt in.
    let options = ClientOptions::new(Trust::any_certificate(), Auth::Anonymous);
    assert_eq!(options.proxy, ProxyEnv::none());
}

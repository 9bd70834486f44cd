//! etcd membership against a real etcd with mutual TLS: list, add (idempotent), remove, promote,
//! the `--initial-cluster` a new member really starts with, and TLS failures.

#[path = "support_etcd/mod.rs"]
mod support_etcd;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kubeboot::ExitCode;
use kubeboot::etcd::{self, EtcdClient, Member, RetryPolicy};
use kubeboot::retry::Backoff;
use support_etcd::{CertPair, Etcd, Ports, TestCa};

const START_TIMEOUT: Duration = Duration::from_secs(10);

fn start_first_member(ca: &TestCa, name: &str) -> Etcd {
    let mut etcd = support_etcd::start(name, &ca.member_certs(name), Ports::free(), &[]);
    etcd.wait_healthy(START_TIMEOUT);
    etcd
}

fn client(ca_pem: &str, pair: &CertPair, endpoints: Vec<String>) -> EtcdClient {
    EtcdClient::new(
        endpoints,
        ca_pem.as_bytes(),
        pair.cert_pem.as_bytes(),
        pair.key_pem.as_bytes(),
        Duration::from_secs(2),
    )
    .expect("etcd client")
}

/// A retry budget short enough to see a transient failure end in `GaveUp`.
fn impatient() -> RetryPolicy {
    RetryPolicy {
        deadline: Duration::from_millis(400),
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(100),
        },
    }
}

fn by_peer_url<'a>(members: &'a [Member], url: &str) -> &'a Member {
    members
        .iter()
        .find(|m| m.peer_url() == Some(url))
        .unwrap_or_else(|| panic!("no member with peer URL {url} in {members:?}"))
}

fn entries(initial_cluster: &str) -> BTreeSet<String> {
    initial_cluster.split(',').map(str::to_string).collect()
}

#[test]
fn members_are_listed_added_idempotently_and_removed() {
    let ca = TestCa::new("etcd-ca");
    let cp1 = start_first_member(&ca, "cp-1");
    let etcd = client(
        &ca.cert_pem(),
        &ca.client("kube-apiserver-etcd-client"),
        vec![cp1.client_url()],
    );

    let members = etcd.list_members().unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0].name, "cp-1");
    assert_eq!(members[0].peer_urls, vec![cp1.peer_url()]);
    assert_eq!(members[0].client_urls, vec![cp1.client_url()]);
    assert!(members[0].is_started() && !members[0].is_learner);
    assert_ne!(members[0].id, 0);

    let new_peer = format!("https://127.0.0.1:{}", support_etcd::free_port());
    let after_add = etcd.add_member("cp-2", &new_peer, true).unwrap();
    assert_eq!(after_add.len(), 2, "{after_add:?}");
    let added = by_peer_url(&after_add, &new_peer).clone();
    assert!(
        !added.is_started(),
        "an unstarted member has no name: {added:?}"
    );
    assert!(added.is_learner && added.client_urls.is_empty());
    assert_eq!(etcd.list_members().unwrap().len(), 2);
    assert_eq!(etcd.member_id(&new_peer).unwrap(), Some(added.id));

    // A re-run after a crash: the member is there already, nothing new is added.
    let again = etcd.add_member("cp-2", &new_peer, true).unwrap();
    let ids = |ms: &[Member]| ms.iter().map(|m| m.id).collect::<BTreeSet<_>>();
    assert_eq!(ids(&again), ids(&after_add));

    assert_eq!(
        entries(&etcd::initial_cluster(&after_add, "cp-2", &new_peer)),
        entries(&format!("cp-1={},cp-2={new_peer}", cp1.peer_url()))
    );

    // etcd allows one learner at a time: a second one is "not now", retried until the deadline.
    let hurried = client(
        &ca.cert_pem(),
        &ca.client("healthcheck"),
        vec![cp1.client_url()],
    )
    .with_retry(impatient());
    let third_peer = format!("https://127.0.0.1:{}", support_etcd::free_port());
    let err = hurried.add_member("cp-3", &third_peer, true).unwrap_err();
    assert!(
        matches!(
            err,
            etcd::Error::GaveUp {
                op: "member add",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_transient());
    let text = err.to_string();
    assert!(
        text.contains("too many learner members") && text.contains(&cp1.client_url()),
        "{text}"
    );

    // A learner that never started cannot catch up, so it is never promoted.
    let err = hurried.promote(added.id).unwrap_err();
    assert!(err.to_string().contains("in sync with leader"), "{err}");

    let left = etcd.remove(added.id).unwrap();
    assert_eq!(
        left.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        vec!["cp-1"]
    );
    assert_eq!(etcd.member_id(&new_peer).unwrap(), None);
    // Removing it again is not an error: a re-run must not fail.
    assert_eq!(etcd.remove(added.id).unwrap().len(), 1);

    let err = etcd.promote(added.id).unwrap_err();
    assert!(
        matches!(err, etcd::Error::MemberNotFound { id } if id == added.id),
        "{err}"
    );

    let health = etcd.check_cluster_health().unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].0, cp1.client_url());
    assert!(health[0].1.version.starts_with("3."), "{:?}", health[0].1);
    assert_eq!(health[0].1.leader, members[0].id);
}

#[test]
fn a_learner_joins_with_the_initial_cluster_built_here_and_is_promoted() {
    let ca = TestCa::new("etcd-ca");
    let cp1 = start_first_member(&ca, "cp-1");
    let mut etcd = client(
        &ca.cert_pem(),
        &ca.client("healthcheck"),
        vec![cp1.client_url()],
    );

    let ports = Ports::free();
    let members = etcd.add_member("cp-2", &ports.peer_url(), true).unwrap();
    let initial_cluster = etcd::initial_cluster(&members, "cp-2", &ports.peer_url());
    let mut cp2 = support_etcd::start(
        "cp-2",
        &ca.member_certs("cp-2"),
        ports,
        &[
            ("initial-cluster", &initial_cluster),
            ("initial-cluster-state", "existing"),
        ],
    );

    // etcd accepts the member only if --initial-cluster matches the cluster it finds.
    let deadline = Instant::now() + START_TIMEOUT;
    let members = loop {
        let members = etcd.list_members().unwrap();
        if members.len() == 2 && members.iter().all(Member::is_started) {
            break members;
        }
        cp2.assert_running();
        assert!(
            Instant::now() < deadline,
            "cp-2 did not start within {START_TIMEOUT:?}: {members:?}
{}",
            cp2.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let joined = by_peer_url(&members, &ports.peer_url());
    assert_eq!(joined.name, "cp-2");
    assert!(joined.is_learner);
    assert_eq!(joined.client_urls, vec![ports.client_url()]);

    etcd.promote(joined.id).unwrap();
    let members = etcd.list_members().unwrap();
    assert!(
        members.iter().all(|m| m.is_started() && !m.is_learner),
        "{members:?}"
    );
    // Promoting a voter again changes nothing and succeeds.
    etcd.promote(joined.id).unwrap();

    etcd.add_endpoint(&ports.client_url()).unwrap();
    let health = etcd.check_cluster_health().unwrap();
    assert_eq!(health.len(), 2);
    assert_eq!(health[0].1.leader, health[1].1.leader);

    // Both started voting members now serve as endpoints.
    etcd.sync_endpoints().unwrap();
    let synced: BTreeSet<_> = etcd.endpoints().iter().cloned().collect();
    assert_eq!(
        synced,
        BTreeSet::from([cp1.client_url(), ports.client_url()])
    );
}

#[test]
fn tls_failures_name_the_endpoint_and_are_not_retried() {
    let ca = TestCa::new("etcd-ca");
    let cp1 = start_first_member(&ca, "cp-1");
    let endpoint = cp1.client_url();

    // The fixture really requires client certificates: a client without one is refused.
    let roots = ureq::tls::RootCerts::new_with_certs(&[ureq::tls::Certificate::from_pem(
        ca.cert_pem().as_bytes(),
    )
    .unwrap()]);
    let anonymous = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                    rustls::crypto::aws_lc_rs::default_provider(),
                ))
                .root_certs(roots)
                .build(),
        )
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .new_agent();
    assert!(
        anonymous
            .post(format!("{endpoint}/v3/cluster/member/list"))
            .send("{}")
            .is_err()
    );

    // A client certificate from another CA: etcd refuses the handshake.
    let stranger = TestCa::new("other-ca");
    let refused = client(
        &ca.cert_pem(),
        &stranger.client("intruder"),
        vec![endpoint.clone()],
    );
    let err = refused.list_members().unwrap_err();
    // `Tls` itself, not `GaveUp`: a TLS failure is final, never retried.
    assert!(
        matches!(
            err,
            etcd::Error::Tls {
                op: "member list",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&endpoint), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Cluster);

    // Trusting another CA: the server is not who it should be.
    let wrong_trust = client(
        &stranger.cert_pem(),
        &ca.client("healthcheck"),
        vec![endpoint.clone()],
    );
    let err = wrong_trust
        .add_member("cp-2", "https://127.0.0.1:1", true)
        .unwrap_err();
    assert!(matches!(err, etcd::Error::UntrustedServer { .. }), "{err}");
    assert!(err.to_string().contains(&endpoint), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Trust);
    assert!(!err.is_transient());

    // The member list is unchanged: nothing was added through an untrusted connection.
    let good = client(&ca.cert_pem(), &ca.client("healthcheck"), vec![endpoint]);
    assert_eq!(good.list_members().unwrap().len(), 1);
}

#[test]
fn a_dead_endpoint_is_skipped_for_a_live_one() {
    let ca = TestCa::new("etcd-ca");
    let cp1 = start_first_member(&ca, "cp-1");
    let dead = format!("https://127.0.0.1:{}", support_etcd::free_port());
    let etcd = client(
        &ca.cert_pem(),
        &ca.client("healthcheck"),
        vec![dead, cp1.client_url()],
    );
    assert_eq!(etcd.list_members().unwrap().len(), 1);
}

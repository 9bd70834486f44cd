//! A defaulted configuration for unit tests, as kubeadm's defaults would leave it.

use crate::cluster::Object;
use crate::config::model::*;

/// The object decoded into its k8s-openapi type, to assert on typed fields.
pub(crate) fn typed<K>(object: &Object) -> K
where
    K: k8s_openapi::Resource + serde::de::DeserializeOwned,
{
    assert!(object.is::<K>(), "{object:?} is not a {}", K::KIND);
    serde_json::from_value(object.body().clone()).unwrap()
}

pub(crate) fn cluster_config() -> ClusterConfiguration {
    let mut cluster = crate::config::defaults::cluster_configuration();
    cluster.networking.pod_subnet = Some("10.244.0.0/16".parse().unwrap());
    cluster
}

pub(crate) fn local_endpoint() -> ApiEndpoint {
    ApiEndpoint {
        advertise_address: Some("192.168.0.10".parse().unwrap()),
        bind_port: 6443,
    }
}

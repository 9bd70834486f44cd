//! Multi-document YAML → typed documents: which kinds kubeboot reads, strict decoding of
//! each, and the component configs kept as mappings (as kubeadm keeps them).

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use super::convert::{self, ClusterPart, InitPart};
use super::de::{self, DecodeError};
use super::duration::GoDuration;
use super::model::{
    BootConfiguration, BootDeadlines, BootMode, InitConfiguration, JoinConfiguration,
    KubeProxyConfigDoc, KubeletConfigDoc,
};
use super::{ConfigError, RawDocument, v1beta3};

pub const KUBEADM_V1BETA4: &str = "kubeadm.k8s.io/v1beta4";
pub const KUBEADM_V1BETA3: &str = "kubeadm.k8s.io/v1beta3";
pub const KUBEADM_V1BETA2: &str = "kubeadm.k8s.io/v1beta2";
pub const KUBELET_V1BETA1: &str = "kubelet.config.k8s.io/v1beta1";
pub const KUBEPROXY_V1ALPHA1: &str = "kubeproxy.config.k8s.io/v1alpha1";
pub const KUBEBOOT_V1ALPHA1: &str = "kubeboot.io/v1alpha1";

pub const INIT_CONFIGURATION: &str = "InitConfiguration";
pub const CLUSTER_CONFIGURATION: &str = "ClusterConfiguration";
pub const JOIN_CONFIGURATION: &str = "JoinConfiguration";
pub const KUBELET_CONFIGURATION: &str = "KubeletConfiguration";
pub const KUBE_PROXY_CONFIGURATION: &str = "KubeProxyConfiguration";
pub const BOOT_CONFIGURATION: &str = "BootConfiguration";

/// Where one decoded document came from, for error messages about its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentSource {
    pub origin: String,
    /// 1-based index in its source.
    pub index: usize,
    pub kind: String,
    pub api_version: String,
}

impl DocumentSource {
    pub fn error(&self, field: Option<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            origin: self.origin.clone(),
            document: Some(self.index),
            kind: Some(self.kind.clone()),
            field,
            reason: reason.into(),
        }
    }

    fn decode_error(&self, e: DecodeError) -> ConfigError {
        let field = e.path.to_string();
        self.error((!field.is_empty()).then_some(field), e.reason)
    }
}

/// The documents of one configuration source, decoded and statically defaulted. Flags and
/// host facts are applied later (`init_from_documents`, `join_from_documents`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Documents {
    /// InitConfiguration and/or ClusterConfiguration, joined (the missing one defaulted), with
    /// the component configs below attached; `None` when neither kind was given.
    pub init: Option<InitConfiguration>,
    /// A ClusterConfiguration document was given.
    pub cluster_present: bool,
    pub join: Option<JoinConfiguration>,
    pub boot: Option<BootConfiguration>,
    pub kubelet: Option<KubeletConfigDoc>,
    pub kube_proxy: Option<KubeProxyConfigDoc>,
    /// One entry per decoded document, in input order.
    pub sources: Vec<DocumentSource>,
}

impl Documents {
    pub fn source(&self, kind: &str) -> Option<&DocumentSource> {
        self.sources.iter().find(|s| s.kind == kind)
    }

    /// True when no document was given at all.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

/// Splits a multi-document YAML stream. Empty documents are skipped; indices count every
/// document, so they match what a person counts in the file.
pub fn split_documents(bytes: &[u8], origin: &str) -> Result<Vec<RawDocument>, ConfigError> {
    split_documents_at_most(bytes, origin, usize::MAX)
}

/// [`split_documents`] for untrusted input (user-data): a stream of more than `max` documents,
/// empty ones included, is refused before the rest is parsed.
pub fn split_documents_at_most(
    bytes: &[u8],
    origin: &str,
    max: usize,
) -> Result<Vec<RawDocument>, ConfigError> {
    let mut docs = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_slice(bytes).enumerate() {
        let index = i + 1;
        if index > max {
            return Err(ConfigError {
                origin: origin.to_string(),
                document: None,
                kind: None,
                field: None,
                reason: format!("more than {max} YAML documents"),
            });
        }
        // The stream cannot resume after a syntax error (it would repeat it forever): stop.
        let value = Value::deserialize(doc).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
                .unwrap_or_default();
            ConfigError {
                origin: origin.to_string(),
                document: Some(index),
                kind: None,
                field: None,
                reason: format!("not valid YAML{at}: {e}"),
            }
        })?;
        if !value.is_null() {
            docs.push(RawDocument {
                origin: origin.to_string(),
                index,
                value,
            });
        }
    }
    Ok(docs)
}

/// The kinds kubeboot reads, by apiVersion and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Init(Version),
    Cluster(Version),
    Join(Version),
    Kubelet,
    KubeProxy,
    Boot,
    /// A kubeadm kind for a command kubeboot does not have (reset, upgrade): ignored.
    OtherCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1Beta3,
    V1Beta4,
}

fn classify(doc: &RawDocument) -> Result<(Known, DocumentSource), ConfigError> {
    let plain = |reason: String| ConfigError {
        origin: doc.origin.clone(),
        document: Some(doc.index),
        kind: doc.kind().map(str::to_string),
        field: None,
        reason,
    };
    if !doc.value.is_mapping() {
        return Err(plain(
            "a configuration document must be a mapping with apiVersion and kind".into(),
        ));
    }
    let (Some(api_version), Some(kind)) = (doc.api_version(), doc.kind()) else {
        return Err(plain(
            "kind and apiVersion are mandatory information that must be specified".into(),
        ));
    };
    let source = DocumentSource {
        origin: doc.origin.clone(),
        index: doc.index,
        kind: kind.to_string(),
        api_version: api_version.to_string(),
    };
    let kubeadm_kind = |v| match kind {
        INIT_CONFIGURATION => Some(Known::Init(v)),
        CLUSTER_CONFIGURATION => Some(Known::Cluster(v)),
        JOIN_CONFIGURATION => Some(Known::Join(v)),
        "ResetConfiguration" | "UpgradeConfiguration" => Some(Known::OtherCommand),
        _ => None,
    };
    let known = match (api_version, kind) {
        (KUBEADM_V1BETA4, _) => kubeadm_kind(Version::V1Beta4),
        (KUBEADM_V1BETA3, "UpgradeConfiguration") => None,
        (KUBEADM_V1BETA3, _) => kubeadm_kind(Version::V1Beta3),
        (KUBELET_V1BETA1, KUBELET_CONFIGURATION) => Some(Known::Kubelet),
        (KUBEPROXY_V1ALPHA1, KUBE_PROXY_CONFIGURATION) => Some(Known::KubeProxy),
        (KUBEBOOT_V1ALPHA1, BOOT_CONFIGURATION) => Some(Known::Boot),
        _ => None,
    };
    let Some(known) = known else {
        return Err(plain(unknown_kind_reason(api_version, kind)));
    };
    Ok((known, source))
}

fn unknown_kind_reason(api_version: &str, kind: &str) -> String {
    if let Some(old) = old_kubeadm_api(api_version) {
        return format!(
            "your configuration file uses an old API spec: {api_version:?} (kind: {kind:?}). \
             Please use kubeadm {old} instead and run 'kubeadm config migrate --old-config \
             old.yaml --new-config new.yaml', which will write the new, similar spec using a \
             newer API version."
        );
    }
    format!(
        "unknown configuration kind {kind:?} in apiVersion {api_version:?}: kubeboot reads \
         InitConfiguration, ClusterConfiguration and JoinConfiguration ({KUBEADM_V1BETA4} or \
         {KUBEADM_V1BETA3}), KubeletConfiguration ({KUBELET_V1BETA1}), \
         KubeProxyConfiguration ({KUBEPROXY_V1ALPHA1}) and BootConfiguration \
         ({KUBEBOOT_V1ALPHA1})"
    )
}

/// kubeadm's `oldKnownAPIVersions`: the kubeadm release that still reads each.
fn old_kubeadm_api(api_version: &str) -> Option<&'static str> {
    match api_version {
        "kubeadm.k8s.io/v1alpha1" => Some("v1.11"),
        "kubeadm.k8s.io/v1alpha2" => Some("v1.12"),
        "kubeadm.k8s.io/v1alpha3" => Some("v1.14"),
        "kubeadm.k8s.io/v1beta1" => Some("v1.15"),
        KUBEADM_V1BETA2 => Some("v1.22"),
        _ => None,
    }
}

/// Decodes and defaults every document. Two documents of one kind, unknown kinds, unknown
/// fields and unparsable values are errors naming the document and field. v1beta3 and
/// v1beta4 documents may be mixed, as kubeadm allows (each converts on its own).
pub fn decode(docs: &[RawDocument]) -> Result<Documents, ConfigError> {
    let mut out = Documents::default();
    let mut init_part: Option<InitPart> = None;
    let mut cluster_part: Option<ClusterPart> = None;
    for doc in docs {
        let (known, source) = classify(doc)?;
        if let Some(first) = out.sources.iter().find(|s| s.kind == source.kind) {
            return Err(source.error(
                None,
                format!(
                    "kind {:?} is specified twice (first in {} document {}): give it once",
                    source.kind, first.origin, first.index
                ),
            ));
        }
        if matches!(
            known,
            Known::Init(Version::V1Beta3)
                | Known::Cluster(Version::V1Beta3)
                | Known::Join(Version::V1Beta3)
        ) {
            log::warn!(
                "[config] WARNING: {} document {} uses a deprecated API spec: {:?} (kind: {:?}). \
                 Please use 'kubeadm config migrate --old-config old.yaml --new-config new.yaml', \
                 which will write the new, similar spec using a newer API version.",
                source.origin,
                source.index,
                source.api_version,
                source.kind
            );
        }
        let decoded = decode_one(
            known,
            &doc.value,
            &source,
            &mut out,
            &mut init_part,
            &mut cluster_part,
        );
        decoded.map_err(|e| source.decode_error(e))?;
        out.sources.push(source);
    }
    if init_part.is_some() || cluster_part.is_some() {
        out.cluster_present = cluster_part.is_some();
        out.init = Some(join_init(init_part.unwrap_or_default(), cluster_part, &out));
    }
    Ok(out)
}

fn decode_one(
    known: Known,
    value: &Value,
    source: &DocumentSource,
    out: &mut Documents,
    init: &mut Option<InitPart>,
    cluster: &mut Option<ClusterPart>,
) -> Result<(), DecodeError> {
    match known {
        Known::Init(Version::V1Beta4) => {
            *init = Some(convert::init_v1beta4(de::from_value(value)?)?)
        }
        Known::Init(Version::V1Beta3) => {
            *init = Some(convert::init_v1beta3(de::from_value(value)?)?)
        }
        Known::Cluster(Version::V1Beta4) => {
            *cluster = Some(convert::cluster_v1beta4(de::from_value(value)?)?)
        }
        Known::Cluster(Version::V1Beta3) => {
            *cluster = Some(convert::cluster_v1beta3(de::from_value(value)?)?)
        }
        Known::Join(Version::V1Beta4) => {
            out.join = Some(convert::join_v1beta4(de::from_value(value)?)?)
        }
        Known::Join(Version::V1Beta3) => {
            out.join = Some(convert::join_v1beta3(de::from_value(value)?)?)
        }
        Known::Kubelet => out.kubelet = Some(kubelet_document(value, source)),
        Known::KubeProxy => out.kube_proxy = Some(value.as_mapping().cloned().unwrap_or_default()),
        Known::Boot => {
            let boot = boot_configuration(value)?;
            if let Some(v) = super::validation::validate_boot(&boot).into_iter().next() {
                return Err(DecodeError::new(&v.field, v.reason));
            }
            out.boot = Some(boot);
        }
        Known::OtherCommand => log::warn!(
            "[config] WARNING: ignored {} document {} (kind {:?}): kubeboot does not reset or upgrade",
            source.origin,
            source.index,
            source.kind
        ),
    }
    Ok(())
}

fn join_init(init: InitPart, cluster: Option<ClusterPart>, docs: &Documents) -> InitConfiguration {
    let (cluster, timeout_for_control_plane) = match cluster {
        Some(c) => (c.cluster, c.timeout_for_control_plane),
        None => (super::defaults::cluster_configuration(), None),
    };
    let mut cfg = init.with_cluster(cluster);
    if let Some(t) = timeout_for_control_plane {
        cfg.timeouts.control_plane_component_health_check = t;
    }
    if let Some(k) = &docs.kubelet {
        cfg.kubelet = k.clone();
    }
    if let Some(p) = &docs.kube_proxy {
        cfg.kube_proxy = p.clone();
    }
    cfg
}

// ---------------------------------------------------------------------------------------
// KubeletConfiguration

/// Top-level fields of upstream `kubelet.config.k8s.io/v1beta1` KubeletConfiguration
/// (`staging/src/k8s.io/kubelet/config/v1beta1/types.go`), for kubeadm-style warnings.
const KUBELET_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "enableServer",
    "staticPodPath",
    "podLogsDir",
    "syncFrequency",
    "fileCheckFrequency",
    "httpCheckFrequency",
    "staticPodURL",
    "staticPodURLHeader",
    "address",
    "port",
    "readOnlyPort",
    "tlsCertFile",
    "tlsPrivateKeyFile",
    "tlsCipherSuites",
    "tlsCurvePreferences",
    "tlsMinVersion",
    "rotateCertificates",
    "serverTLSBootstrap",
    "authentication",
    "authorization",
    "registryPullQPS",
    "registryBurst",
    "imagePullCredentialsVerificationPolicy",
    "preloadedImagesVerificationAllowlist",
    "eventRecordQPS",
    "eventBurst",
    "enableDebuggingHandlers",
    "enableContentionProfiling",
    "healthzPort",
    "healthzBindAddress",
    "oomScoreAdj",
    "clusterDomain",
    "clusterDNS",
    "streamingConnectionIdleTimeout",
    "nodeStatusUpdateFrequency",
    "nodeStatusReportFrequency",
    "nodeLeaseDurationSeconds",
    "imageMinimumGCAge",
    "imageMaximumGCAge",
    "imageGCHighThresholdPercent",
    "imageGCLowThresholdPercent",
    "volumeStatsAggPeriod",
    "kubeletCgroups",
    "systemCgroups",
    "cgroupRoot",
    "cgroupsPerQOS",
    "cgroupDriver",
    "cpuManagerPolicy",
    "singleProcessOOMKill",
    "cpuManagerPolicyOptions",
    "cpuManagerReconcilePeriod",
    "draManagerReconcilePeriod",
    "memoryManagerPolicy",
    "topologyManagerPolicy",
    "topologyManagerScope",
    "topologyManagerPolicyOptions",
    "qosReserved",
    "runtimeRequestTimeout",
    "hairpinMode",
    "maxPods",
    "podCIDR",
    "podPidsLimit",
    "resolvConf",
    "runOnce",
    "cpuCFSQuota",
    "cpuCFSQuotaPeriod",
    "nodeStatusMaxImages",
    "maxOpenFiles",
    "contentType",
    "kubeAPIQPS",
    "kubeAPIBurst",
    "serializeImagePulls",
    "maxParallelImagePulls",
    "evictionHard",
    "evictionSoft",
    "evictionSoftGracePeriod",
    "evictionPressureTransitionPeriod",
    "evictionMaxPodGracePeriod",
    "evictionMinimumReclaim",
    "mergeDefaultEvictionSettings",
    "podsPerCore",
    "enableControllerAttachDetach",
    "protectKernelDefaults",
    "makeIPTablesUtilChains",
    "iptablesMasqueradeBit",
    "iptablesDropBit",
    "featureGates",
    "failSwapOn",
    "memorySwap",
    "containerLogMaxSize",
    "containerLogMaxFiles",
    "containerLogMaxWorkers",
    "containerLogMonitorInterval",
    "configMapAndSecretChangeDetectionStrategy",
    "systemReserved",
    "kubeReserved",
    "reservedSystemCPUs",
    "showHiddenMetricsForVersion",
    "systemReservedCgroup",
    "kubeReservedCgroup",
    "enforceNodeAllocatable",
    "allowedUnsafeSysctls",
    "volumePluginDir",
    "providerID",
    "kernelMemcgNotification",
    "logging",
    "enableSystemLogHandler",
    "enableSystemLogQuery",
    "shutdownGracePeriod",
    "shutdownGracePeriodCriticalPods",
    "shutdownGracePeriodByPodPriority",
    "crashLoopBackOff",
    "reservedMemory",
    "enableProfilingHandler",
    "enableDebugFlagsHandler",
    "seccompDefault",
    "memoryThrottlingFactor",
    "memoryReservationPolicy",
    "registerWithTaints",
    "registerNode",
    "tracing",
    "localStorageCapacityIsolation",
    "containerRuntimeEndpoint",
    "imageServiceEndpoint",
    "failCgroupV1",
    "userNamespaces",
];

/// Keeps the document as given; warns about top-level fields upstream does not know, as
/// kubeadm's non-strict component config decoding does (the kubelet has the last word).
fn kubelet_document(value: &Value, source: &DocumentSource) -> KubeletConfigDoc {
    let mapping: Mapping = value.as_mapping().cloned().unwrap_or_default();
    for key in mapping.keys() {
        let name = key.as_str().unwrap_or_default();
        if !KUBELET_FIELDS.contains(&name) {
            log::warn!(
                "[config] WARNING: {} document {} (KubeletConfiguration): strict decoding error: \
                 unknown field {:?}; it is passed to the kubelet, which may refuse it",
                source.origin,
                source.index,
                name
            );
        }
    }
    mapping
}

/// The KubeletConfiguration fields kubeboot does not know (used by tests and diagnostics).
pub fn unknown_kubelet_fields(doc: &KubeletConfigDoc) -> Vec<String> {
    doc.keys()
        .filter_map(|k| k.as_str())
        .filter(|k| !KUBELET_FIELDS.contains(k))
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------
// BootConfiguration

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BootConfigurationV1Alpha1 {
    #[serde(default)]
    #[allow(dead_code)]
    api_version: String,
    #[serde(default)]
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    initializer: Option<String>,
    #[serde(default)]
    deadlines: Option<Deadlines>,
    #[serde(default)]
    start_kubelet: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Deadlines {
    #[serde(default)]
    discovery: Option<GoDuration>,
    #[serde(default)]
    tls_bootstrap: Option<GoDuration>,
    #[serde(default)]
    total: Option<GoDuration>,
}

fn boot_configuration(value: &Value) -> Result<BootConfiguration, DecodeError> {
    let b: BootConfigurationV1Alpha1 = de::from_value(value)?;
    let mode = match b.mode.as_deref() {
        None | Some("") | Some("auto") => BootMode::Auto,
        Some("init") => BootMode::Init,
        Some("join") => BootMode::Join,
        Some(other) => {
            return Err(DecodeError::new(
                "mode",
                format!("unknown mode {other:?}: use init, join or auto"),
            ));
        }
    };
    let initializer = match b.initializer.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => Some(name.to_ascii_lowercase()),
    };
    let deadlines = b
        .deadlines
        .map_or_else(BootDeadlines::default, |d| BootDeadlines {
            discovery: d.discovery.map(|d| d.0),
            tls_bootstrap: d.tls_bootstrap.map(|d| d.0),
            total: d.total.map(|d| d.0),
        });
    Ok(BootConfiguration {
        mode,
        initializer,
        deadlines,
        start_kubelet: b.start_kubelet.unwrap_or(true),
    })
}

/// A v1beta3/v1beta4 document's kind-specific decode, for the `kubeadm-config` reader.
pub(crate) fn cluster_part_from_value(
    api_version: &str,
    value: &Value,
) -> Option<Result<ClusterPart, DecodeError>> {
    let part = match api_version {
        KUBEADM_V1BETA4 => de::from_value(value).and_then(convert::cluster_v1beta4),
        KUBEADM_V1BETA3 => de::from_value(value).and_then(convert::cluster_v1beta3),
        KUBEADM_V1BETA2 => de::from_value::<v1beta3::ClusterConfigurationV1Beta2>(value)
            .and_then(|c| convert::cluster_v1beta3(c.into())),
        _ => return None,
    };
    Some(part)
}

//! `azure`: the instance metadata service's `userData`, falling back to the `CustomData` of
//! `ovf-env.xml` on the provisioning media (cloud-init's seed directory, or a udf/iso9660
//! device such as `/dev/sr0`). Both are base64.

use std::path::Path;

use super::cloud::meta_text;
use super::format::decode_base64;
use super::http::{HttpError, Method};
use super::media::{describe, read_limited, read_limited_from_media};
use super::source::{Context, Source, http_failure};
use super::{Blob, Error, MetaData, UserData};
use crate::fs::Root;

const API: &str = "api-version=2021-01-01&format=text";
const METADATA: (&str, &str) = ("Metadata", "true");
const OVF_ENV: &str = "ovf-env.xml";
const MEDIA_FSTYPES: [&str; 2] = ["udf", "iso9660"];

pub(crate) struct Azure;

impl Source for Azure {
    fn name(&self) -> &'static str {
        "azure"
    }

    fn fetch(&self, cx: &Context<'_>) -> Result<Option<UserData>, Error> {
        let base = format!(
            "{}/metadata/instance",
            cx.env.azure_url.trim_end_matches('/')
        );
        let url = format!("{base}/compute/userData?{API}");
        let imds = match cx.http.send(Method::Get, &url, &[METADATA], 0) {
            Ok(reply) if reply.status == 200 => Some(reply.body),
            Ok(reply) => {
                log::debug!(
                    "[user-data] Not Azure IMDS: {url} answered HTTP {}",
                    reply.status
                );
                None
            }
            Err(e @ HttpError::Unreachable { .. }) => {
                log::info!("[user-data] No azure metadata service: {url}: {e}");
                None
            }
            Err(e) => return Err(http_failure(self.name(), Method::Get, &url, e)),
        };
        let meta = match &imds {
            Some(_) => imds_meta(cx, &base),
            None => MetaData::default(),
        };
        if let Some(encoded) = imds.filter(|b| !b.iter().all(u8::is_ascii_whitespace)) {
            let origin = format!("azure {url}");
            let bytes = decode_base64(&encoded).map_err(|r| Error::invalid(&origin, r))?;
            return Ok(Some(UserData {
                source: self.name(),
                parts: vec![Blob { origin, bytes }],
                meta,
            }));
        }
        let Some((bytes, origin, hostname)) = self.custom_data(cx)? else {
            return Ok(None);
        };
        Ok(Some(UserData {
            source: self.name(),
            parts: vec![Blob { origin, bytes }],
            meta: MetaData {
                hostname: meta.hostname.or(hostname),
                local_ipv4: meta.local_ipv4,
            },
        }))
    }
}

type CustomData = (Vec<u8>, String, Option<String>);

impl Azure {
    /// `CustomData` (decoded), its origin, and the `HostName`, from the first `ovf-env.xml`.
    fn custom_data(&self, cx: &Context<'_>) -> Result<Option<CustomData>, Error> {
        let seed = cx.env.azure_seed_dir.join(OVF_ENV);
        if let Some(xml) = read_limited(self.name(), cx.root, &seed)? {
            return ovf_custom_data(&xml, &describe(cx.root, &seed));
        }
        for device in &cx.env.azure_devices {
            if !cx.root.exists(device) {
                continue;
            }
            // Any CD-ROM drive may be here: media that does not mount is simply not Azure's.
            let mounted = match cx.env.mounter.mount(&cx.root.path(device), &MEDIA_FSTYPES) {
                Ok(m) => m,
                Err(reason) => {
                    log::info!(
                        "[user-data] Not Azure provisioning media: {}: {reason}",
                        device.display()
                    );
                    continue;
                }
            };
            let media = Root::new(mounted.dir());
            if let Some(xml) =
                read_limited_from_media(self.name(), &media, Path::new("/").join(OVF_ENV))?
            {
                return ovf_custom_data(&xml, &format!("{}:/{OVF_ENV}", device.display()));
            }
        }
        Ok(None)
    }
}

fn imds_meta(cx: &Context<'_>, base: &str) -> MetaData {
    let computer_name = format!("{base}/compute/osProfile/computerName?{API}");
    let ip = format!("{base}/network/interface/0/ipv4/ipAddress/0/privateIpAddress?{API}");
    MetaData {
        hostname: meta_text(cx, &computer_name, &[METADATA])
            .and_then(|h| MetaData::checked_hostname(&h, "Azure computerName")),
        local_ipv4: meta_text(cx, &ip, &[METADATA])
            .and_then(|ip| MetaData::checked_ipv4(&ip, "Azure privateIpAddress")),
    }
}

/// Decoded `CustomData`, its origin, and the `HostName` of the `ovf-env.xml` at `place`;
/// `None` when it has no custom data.
fn ovf_custom_data(xml: &[u8], place: &str) -> Result<Option<CustomData>, Error> {
    let file = format!("azure {place}");
    let xml = std::str::from_utf8(xml)
        .map_err(|_| Error::invalid(&file, "ovf-env.xml is not UTF-8 text"))?;
    let hostname = element_text(xml, "HostName").and_then(|h| MetaData::checked_hostname(h, &file));
    let Some(encoded) = element_text(xml, "CustomData").filter(|t| !t.trim().is_empty()) else {
        log::info!("[user-data] {file} has no CustomData");
        return Ok(None);
    };
    let origin = format!("azure CustomData of {place}");
    let bytes = decode_base64(encoded.as_bytes()).map_err(|r| Error::invalid(&origin, r))?;
    Ok(Some((bytes, origin, hostname)))
}

/// The text of the first element with this local name, whatever its namespace prefix
/// (`<ns1:CustomData>...</ns1:CustomData>`); CDATA unwrapped. Enough for ovf-env.xml, whose
/// values are base64 or host names.
fn element_text<'a>(xml: &'a str, local_name: &str) -> Option<&'a str> {
    let mut rest = xml;
    let mut offset = 0;
    while let Some(lt) = rest.find('<') {
        let tag_start = offset + lt + 1;
        let tag = &xml[tag_start..];
        let name_len = tag
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(tag.len());
        let name = &tag[..name_len];
        let matches = name == local_name
            || name
                .rsplit_once(':')
                .is_some_and(|(_, local)| local == local_name);
        if matches {
            let gt = tag.find('>')?;
            if tag[..gt].ends_with('/') {
                return Some("");
            }
            let content = &tag[gt + 1..];
            let end = content.find(&format!("</{name}>"))?;
            let text = content[..end].trim();
            return Some(
                text.strip_prefix("<![CDATA[")
                    .and_then(|t| t.strip_suffix("]]>"))
                    .unwrap_or(text),
            );
        }
        offset = tag_start;
        rest = &xml[offset..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const OVF: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<ns0:Environment xmlns:ns0="http://schemas.dmtf.org/ovf/environment/1" xmlns:ns1="http://schemas.microsoft.com/windowsazure">
 <ns1:ProvisioningSection><ns1:Version>1.0</ns1:Version>
  <ns1:LinuxProvisioningConfigurationSet>
   <ns1:ConfigurationSetType>LinuxProvisioningConfiguration</ns1:ConfigurationSetType>
   <ns1:HostName>azvm-1</ns1:HostName>
   <ns1:CustomDataX>bm8=</ns1:CustomDataX>
   <ns1:CustomData>
     a2luZDogeA==
   </ns1:CustomData>
  </ns1:LinuxProvisioningConfigurationSet>
 </ns1:ProvisioningSection>
</ns0:Environment>"#;

    #[test]
    fn element_text_ignores_prefixes_and_similar_names() {
        assert_eq!(element_text(OVF, "CustomData"), Some("a2luZDogeA=="));
        assert_eq!(element_text(OVF, "HostName"), Some("azvm-1"));
        assert_eq!(element_text("<a:X/>", "X"), Some(""));
        assert_eq!(element_text("<X><![CDATA[abc]]></X>", "X"), Some("abc"));
        assert_eq!(element_text("<X>unclosed", "X"), None);
        assert_eq!(element_text("<Y>1</Y>", "X"), None);
    }

    #[test]
    fn ovf_custom_data_is_decoded() {
        let (bytes, origin, hostname) = ovf_custom_data(OVF.as_bytes(), "t").unwrap().unwrap();
        assert_eq!(bytes, b"kind: x");
        assert_eq!(origin, "azure CustomData of t");
        assert_eq!(hostname.as_deref(), Some("azvm-1"));
        let e = ovf_custom_data(b"<CustomData>!!!</CustomData>", "t").unwrap_err();
        assert!(e.to_string().contains("azure CustomData of t"), "{e}");
        assert!(ovf_custom_data(b"<CustomData/>", "t").unwrap().is_none());
    }
}

//! `local`: user-data the image or an operator put on the node itself.

use std::path::Path;

use super::media::{describe, read_limited};
use super::source::{Context, Source};
use super::{Blob, Error, UserData};

pub(crate) const USER_DATA: &str = "/etc/kubeboot/user-data";
/// Drop-ins, each one part, merged after `USER_DATA` in lexical order.
pub(crate) const DROP_IN_DIR: &str = "/etc/kubeboot/user-data.d";

pub(crate) struct Local;

impl Source for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn fetch(&self, cx: &Context<'_>) -> Result<Option<UserData>, Error> {
        let mut parts = Vec::new();
        let mut add = |path: &Path| -> Result<(), Error> {
            if let Some(bytes) = read_limited(self.name(), cx.root, path)? {
                parts.push(Blob {
                    origin: format!("local {}", describe(cx.root, path)),
                    bytes,
                });
            }
            Ok(())
        };
        add(Path::new(USER_DATA))?;
        let names = cx.root.list_dir(DROP_IN_DIR).map_err(|e| Error::Local {
            datasource: self.name(),
            what: DROP_IN_DIR.into(),
            reason: e.source.to_string(),
        })?;
        for name in names.iter().filter(|n| !n.starts_with('.')) {
            let path = Path::new(DROP_IN_DIR).join(name);
            if cx.root.path(&path).is_dir() {
                continue;
            }
            add(&path)?;
        }
        Ok((!parts.is_empty()).then(|| UserData {
            source: self.name(),
            parts,
            meta: Default::default(),
        }))
    }
}

//! Name-or-id resolution with a per-client cache.
//!
//! Every call accepts a resource by name or by UUID, as the Python SDK does. A UUID is used
//! as it is; a name is looked up in the cache, and on a miss the resource list is fetched
//! again and the cache refreshed.

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::error::{Error, ResourceKind, Result};

/// Whether a reference is a UUID (and so an id rather than a name).
pub fn is_uuid(reference: &str) -> bool {
    uuid::Uuid::try_parse(reference).is_ok()
}

/// A cache of `(kind, scope, name) -> id`; the scope is the id of the enclosing resource
/// (a project's for datasets), empty for projects.
#[derive(Debug, Default)]
pub(crate) struct NameCache {
    entries: RwLock<HashMap<(ResourceKind, String, String), String>>,
}

impl NameCache {
    pub(crate) fn get(&self, kind: ResourceKind, scope: &str, name: &str) -> Option<String> {
        self.entries
            .read()
            .get(&(kind, scope.to_string(), name.to_string()))
            .cloned()
    }

    /// Replaces every entry of `kind` in `scope` with a fresh listing.
    pub(crate) fn refresh<'a>(
        &self,
        kind: ResourceKind,
        scope: &str,
        listing: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        let mut entries = self.entries.write();
        entries.retain(|(k, s, _), _| !(*k == kind && s == scope));
        for (name, id) in listing {
            entries.insert((kind, scope.to_string(), name.to_string()), id.to_string());
        }
    }

    /// Records one name (after a create).
    pub(crate) fn insert(&self, kind: ResourceKind, scope: &str, name: &str, id: &str) {
        self.entries
            .write()
            .insert((kind, scope.to_string(), name.to_string()), id.to_string());
    }

    /// Forgets one name (after a delete).
    pub(crate) fn forget_id(&self, kind: ResourceKind, id: &str) {
        self.entries
            .write()
            .retain(|(k, _, _), v| !(*k == kind && v == id));
    }

    /// Resolves `reference` from a listing fetched by `list` on a cache miss.
    pub(crate) async fn resolve<F, Fut, I>(
        &self,
        kind: ResourceKind,
        scope: &str,
        scope_label: Option<String>,
        reference: &str,
        list: F,
    ) -> Result<String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<I>>,
        I: IntoIterator<Item = (String, String)>,
    {
        if reference.trim().is_empty() {
            return Err(Error::InvalidArgument(format!("an empty {kind} name")));
        }
        if is_uuid(reference) {
            return Ok(reference.to_string());
        }
        if let Some(id) = self.get(kind, scope, reference) {
            return Ok(id);
        }
        let listing: Vec<(String, String)> = list().await?.into_iter().collect();
        self.refresh(
            kind,
            scope,
            listing.iter().map(|(n, i)| (n.as_str(), i.as_str())),
        );
        self.get(kind, scope, reference)
            .ok_or_else(|| Error::NotFound {
                kind,
                name: reference.to_string(),
                scope: scope_label,
            })
    }
}

//! The catalog's service list (`/v1/catalog/services`), as consul-template's `services` uses it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use discovery_core::{Result, Revision};
use futures::stream::BoxStream;
use futures::FutureExt;
use reqwest::Method;

use crate::consumer::Diff;
use crate::hub::Fetch;
use crate::watch::blocking_query;
use crate::ConsulBackend;

/// Every service in the catalog with its tags, at one index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatalogServices {
    /// The `X-Consul-Index` of the answer.
    pub revision: Revision,
    /// Service name → tags (both sorted). With a namespace configured, only that namespace's
    /// services, under their plain names.
    pub services: BTreeMap<String, BTreeSet<String>>,
}

/// The loop's state: the service list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Services(BTreeMap<String, BTreeSet<String>>);

impl Services {
    fn list(&self, index: u64) -> CatalogServices {
        CatalogServices {
            revision: Revision(index),
            services: self.0.clone(),
        }
    }
}

impl Diff for Services {
    type Event = CatalogServices;

    fn reset(&self, index: u64) -> CatalogServices {
        self.list(index)
    }

    fn diff(&self, prev: &Self, index: u64) -> Option<CatalogServices> {
        (prev != self).then(|| self.list(index))
    }
}

impl ConsulBackend {
    async fn fetch_services(&self, index: u64) -> Result<(u64, Services)> {
        let (query, wait) = blocking_query(index, self.config().wait);
        let resp = self
            .http()
            .send(Method::GET, "catalog/services", &query, None, wait)
            .await?
            .ok("catalog services")?;
        let raw: BTreeMap<String, Option<Vec<String>>> = resp.json("catalog services")?;
        let prefix = self.config().namespace.as_ref().map(|ns| format!("{ns}."));
        let services = raw
            .into_iter()
            .filter_map(|(name, tags)| {
                let name = match &prefix {
                    Some(p) => name.strip_prefix(p.as_str())?.to_owned(),
                    None => name,
                };
                Some((name, tags.unwrap_or_default().into_iter().collect()))
            })
            .collect();
        Ok((resp.index.unwrap_or(0), Services(services)))
    }

    /// The catalog's services and their tags, now.
    pub async fn services(&self) -> Result<CatalogServices> {
        let (index, services) = self.fetch_services(0).await?;
        Ok(services.list(index.max(1)))
    }

    /// The catalog's service list, then every new list when it changes (one shared blocking
    /// query for all callers). Transient errors are retried inside; an `Err` item ends it.
    pub async fn watch_services(&self) -> Result<BoxStream<'static, Result<CatalogServices>>> {
        let this = self.clone();
        let fetch: Fetch<Services> = Arc::new(move |index| {
            let this = this.clone();
            async move { this.fetch_services(index).await }.boxed()
        });
        let stream = self
            .inner
            .catalog
            .stream("catalog/services", fetch, None)
            .await?;
        Ok(stream)
    }
}

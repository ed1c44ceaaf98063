//! `CREATE EXTERNAL TABLE t STORED AS REFUEL LOCATION 'refuel://<project>/<dataset>[?task=<task>]'`.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProviderFactory};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::CreateExternalTable;
use refuel_client::RefuelClient;

use crate::provider::RefuelTable;
use crate::url::RefuelUrl;

/// `CREATE EXTERNAL TABLE t STORED AS REFUEL LOCATION 'refuel://<project>/<dataset>[?task=<task>]'`.
#[derive(Debug)]
pub struct RefuelTableFactory {
    client: RefuelClient,
}

impl RefuelTableFactory {
    /// A factory reading through `client`.
    pub fn new(client: RefuelClient) -> Self {
        Self { client }
    }
}

#[async_trait]
impl TableProviderFactory for RefuelTableFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let [location] = cmd.locations.as_slice() else {
            return Err(DataFusionError::Plan(
                "STORED AS REFUEL takes one LOCATION".into(),
            ));
        };
        let url = RefuelUrl::parse(location, "LOCATION")?;
        let table = RefuelTable::try_new(
            self.client.with_project(url.project),
            &url.dataset,
            url.task.as_deref(),
        )
        .await?;
        if !cmd.schema.fields().is_empty()
            && cmd.schema.fields().len() != table.columns().schema.fields().len()
        {
            return Err(DataFusionError::Plan(format!(
                "the columns declared for {} do not match the dataset's; declare none to take the dataset's",
                cmd.name
            )));
        }
        Ok(Arc::new(table))
    }
}

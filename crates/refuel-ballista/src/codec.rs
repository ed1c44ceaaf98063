//! The logical and physical extension codecs that carry Refuel tables and scans between
//! the client, the scheduler and the executors, and hand every other node to Ballista's
//! own codecs.
//!
//! A Refuel node travels as an envelope: [`ENVELOPE`], a kind byte, and the node as JSON
//! ([`refuel_datafusion::portable`]), never with a key. Each codec holds its process's
//! own client, which decoding reads through, and which refuses a node planned against
//! another endpoint. Ballista's buffers are protobuf messages, which never start with the
//! envelope's bytes (a zero field number is invalid protobuf).
//!
//! What does not run on a cluster is refused when it is encoded, with an error that says
//! what to do: `refuel_label(...)` (its labeling runs in the client's process), and writes
//! into Refuel (`INSERT INTO` a dataset, `COPY ... TO 'refuel://...'`). `CREATE TABLE
//! refuel.<project>.<dataset> AS SELECT ...` works: the query runs on the cluster, and the
//! client makes the dataset from its rows.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use refuel_client::RefuelClient;
use refuel_datafusion::label::{REFUEL_LABEL, RefuelLabelExec};
use refuel_datafusion::metadata::MetadataTable;
use refuel_datafusion::portable::{PortableMetadataTable, PortableScan, PortableTable};
use refuel_datafusion::write::{RefuelCopySink, RefuelFormatFactory, RefuelInsertSink};
use refuel_datafusion::{RefuelScanExec, RefuelTable};

use crate::slice::RefuelScanSlice;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The first bytes of every Refuel node's buffer.
pub const ENVELOPE: &[u8; 4] = b"\0RFL";

/// What a Refuel envelope holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Table = 1,
    MetadataTable = 2,
    Scan = 3,
    Slice = 4,
}

impl Kind {
    fn of(byte: u8) -> Option<Self> {
        [Self::Table, Self::MetadataTable, Self::Scan, Self::Slice]
            .into_iter()
            .find(|k| *k as u8 == byte)
    }
}

/// The message of a write refused on a cluster.
const WRITES_RUN_LOCALLY: &str = "writes into Refuel (INSERT INTO a dataset, COPY ... TO \
     'refuel://...') do not run on a Ballista cluster: run them in process (refuel-sql \
     without --cluster), or use CREATE TABLE refuel.<project>.<dataset> AS SELECT ..., whose \
     query runs on the cluster and whose dataset the client writes";

/// The message of `refuel_label` refused on a cluster.
fn label_runs_locally() -> DataFusionError {
    DataFusionError::Plan(format!(
        "{REFUEL_LABEL}(...) does not run on a Ballista cluster (its labeling runs in the \
         client's process, with the client's key): run the statement in process \
         (refuel-sql without --cluster)"
    ))
}

fn encode<T: Serialize>(kind: Kind, node: &T, buf: &mut Vec<u8>) -> Result<()> {
    buf.extend_from_slice(ENVELOPE);
    buf.push(kind as u8);
    serde_json::to_writer(buf, node)
        .map_err(|e| DataFusionError::Internal(format!("encoding a Refuel plan node: {e}")))
}

/// The kind and the JSON of a Refuel envelope, `None` when `buf` is not one.
fn open(buf: &[u8]) -> Option<(Option<Kind>, &[u8])> {
    let rest = buf.strip_prefix(ENVELOPE.as_slice())?;
    let (kind, json) = rest.split_first()?;
    Some((Kind::of(*kind), json))
}

fn decode<T: DeserializeOwned>(json: &[u8]) -> Result<T> {
    serde_json::from_slice(json).map_err(|e| {
        DataFusionError::Plan(format!(
            "a Refuel node of the plan cannot be read ({e}): are the client and the cluster \
             the same version of refuel-ballista?"
        ))
    })
}

fn unknown_kind() -> DataFusionError {
    DataFusionError::Plan(
        "the plan holds a Refuel node of a kind this process does not know: are the client \
         and the cluster the same version of refuel-ballista?"
            .to_string(),
    )
}

/// The logical codec: Refuel tables (datasets, label tables, metadata tables) by what
/// they read; everything else by Ballista's codec.
#[derive(Debug)]
pub struct RefuelLogicalCodec {
    client: RefuelClient,
    inner: Arc<dyn LogicalExtensionCodec>,
}

impl RefuelLogicalCodec {
    /// Decodes Refuel tables to read through `client` (this process's own), and hands
    /// the rest to Ballista's codec.
    pub fn new(client: RefuelClient) -> Self {
        Self {
            client,
            inner: Arc::new(BallistaLogicalExtensionCodec::default()),
        }
    }
}

impl LogicalExtensionCodec for RefuelLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let Some((kind, json)) = open(buf) else {
            return self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        match kind {
            Some(Kind::Table) => {
                let table: PortableTable = decode(json)?;
                Ok(Arc::new(RefuelTable::from_portable(
                    self.client.clone(),
                    &table,
                )?))
            }
            Some(Kind::MetadataTable) => {
                let table: PortableMetadataTable = decode(json)?;
                Ok(Arc::new(MetadataTable::from_portable(
                    &self.client,
                    &table,
                )?))
            }
            _ => Err(unknown_kind()),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(table) = node.downcast_ref::<RefuelTable>() {
            return encode(Kind::Table, &table.to_portable(), buf);
        }
        if let Some(table) = node.downcast_ref::<MetadataTable>() {
            return encode(Kind::MetadataTable, &table.to_portable(), buf);
        }
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        if node.downcast_ref::<RefuelFormatFactory>().is_some() {
            return Err(DataFusionError::Plan(WRITES_RUN_LOCALLY.to_string()));
        }
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        if name == REFUEL_LABEL {
            return Err(label_runs_locally());
        }
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        if node.name() == REFUEL_LABEL {
            return Err(label_runs_locally());
        }
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        self.inner.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}

/// The physical codec: [`RefuelScanExec`] with its partitions' ranges; everything else by
/// Ballista's codec.
#[derive(Debug)]
pub struct RefuelPhysicalCodec {
    client: RefuelClient,
    inner: Arc<dyn PhysicalExtensionCodec>,
}

impl RefuelPhysicalCodec {
    /// Decodes Refuel scans to read through `client` (this process's own), and hands the
    /// rest to Ballista's codec.
    pub fn new(client: RefuelClient) -> Self {
        Self {
            client,
            inner: Arc::new(BallistaPhysicalExtensionCodec::default()),
        }
    }
}

impl RefuelPhysicalCodec {
    /// A scan read through this process's client, with the ranges fixed at planning.
    fn scan(&self, scan: &PortableScan) -> Result<RefuelScanExec> {
        if !scan.ranges_planned() {
            return Err(DataFusionError::Plan(
                "a Refuel scan reached an executor without its row ranges: the scheduler \
                 must plan with refuel-ballista's query planner"
                    .to_string(),
            ));
        }
        RefuelScanExec::from_portable(self.client.clone(), scan)
    }
}

/// A scan as it travels: only with its row ranges fixed (one count, taken at planning).
fn portable(scan: &RefuelScanExec) -> Result<PortableScan> {
    if !scan.ranges_planned() {
        return Err(DataFusionError::Plan(
            "a Refuel scan is sent to executors without its row ranges (one count, taken at \
             planning): plan with refuel-ballista's query planner"
                .to_string(),
        ));
    }
    Ok(scan.to_portable())
}

/// A [`RefuelScanSlice`] as it travels (its gate travels as its input).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct PortableSlice {
    scan: PortableScan,
    partition: usize,
}

impl PhysicalExtensionCodec for RefuelPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some((kind, json)) = open(buf) else {
            return self.inner.try_decode(buf, inputs, ctx, proto_converter);
        };
        match kind {
            Some(Kind::Scan) => {
                let scan: PortableScan = decode(json)?;
                Ok(Arc::new(self.scan(&scan)?))
            }
            Some(Kind::Slice) => {
                let slice: PortableSlice = decode(json)?;
                let [gate] = inputs else {
                    return Err(DataFusionError::Plan(format!(
                        "a Refuel scan slice comes with {} inputs, not one",
                        inputs.len()
                    )));
                };
                let scan = Arc::new(self.scan(&slice.scan)?);
                Ok(Arc::new(RefuelScanSlice::try_new(
                    scan,
                    slice.partition,
                    Arc::clone(gate),
                )?))
            }
            _ => Err(unknown_kind()),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(scan) = node.downcast_ref::<RefuelScanExec>() {
            return encode(Kind::Scan, &portable(scan)?, buf);
        }
        if let Some(slice) = node.downcast_ref::<RefuelScanSlice>() {
            let slice = PortableSlice {
                scan: portable(slice.scan())?,
                partition: slice.partition(),
            };
            return encode(Kind::Slice, &slice, buf);
        }
        if node.downcast_ref::<RefuelLabelExec>().is_some() {
            return Err(label_runs_locally());
        }
        if let Some(sink) = node.downcast_ref::<DataSinkExec>() {
            let sink = sink.sink();
            if sink.downcast_ref::<RefuelInsertSink>().is_some()
                || sink.downcast_ref::<RefuelCopySink>().is_some()
            {
                return Err(DataFusionError::Plan(WRITES_RUN_LOCALLY.to_string()));
            }
        }
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        if name == REFUEL_LABEL {
            return Err(label_runs_locally());
        }
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        if node.name() == REFUEL_LABEL {
            return Err(label_runs_locally());
        }
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        self.inner.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}

//! The one conversion of this workspace's errors into DataFusion's.

use datafusion::error::DataFusionError;

/// An error of the client or the sink (or any other) as DataFusion's `External`, keeping
/// it whole so callers can downcast it.
pub(crate) fn external<E>(e: E) -> DataFusionError
where
    E: std::error::Error + Send + Sync + 'static,
{
    DataFusionError::External(Box::new(e))
}

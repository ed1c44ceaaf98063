//! Refuel tables on an Apache Ballista cluster.
//!
//! Ballista runs DataFusion plans on a cluster; this crate ships Refuel's parts of a plan
//! to its scheduler and executors:
//! - [`codec`]: the logical and physical extension codecs that carry Refuel tables and
//!   [`refuel_datafusion::RefuelScanExec`] (filters, order, offset, limit, projection,
//!   partition ranges), delegating every other node to Ballista's codecs; they refuse
//!   `refuel_label(...)` and writes into Refuel, which run in process.
//! - [`planner`]: the scheduler's query planner, which fixes each scan's partition ranges
//!   (one count per scan, in the plan) so each page is fetched once across the cluster,
//!   and [`slice`]: each scan cut into per-partition slices Ballista hands out per task.
//! - [`session`]: the sessions of the processes and of clients ([`connect`]), on a remote
//!   scheduler (`df://host:port`) or a standalone cluster in process.
//! - [`process`] and [`credentials`]: the `refuel-ballista scheduler` and `executor`
//!   processes, each with its own Refuel endpoint and key.
//!
//! Trust: a cluster serves one Refuel team, whose key its processes read from their own
//! configuration. A plan names the endpoint it was planned against and is refused by a
//! process configured for another; a table of another team's dataset fails at planning
//! ("not visible with the cluster's API key"). Ballista itself has no authentication:
//! whoever reaches the scheduler can run queries with the cluster's key, so keep it on a
//! private network.

pub mod codec;
pub mod credentials;
pub mod error;
pub mod planner;
pub mod process;
pub mod session;
pub mod slice;

pub use codec::{RefuelLogicalCodec, RefuelPhysicalCodec};
pub use error::ClusterError;
pub use planner::RefuelQueryPlanner;
pub use session::{Cluster, connect};

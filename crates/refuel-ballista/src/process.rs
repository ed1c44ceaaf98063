//! A cluster's processes: Ballista's scheduler and executor with Refuel's codecs,
//! query planner, rules and lake stores installed, reading Refuel through the process's
//! own client (its endpoint and key from its own configuration).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::prelude::SessionConfig;
use refuel_client::RefuelClient;

use crate::codec::{RefuelLogicalCodec, RefuelPhysicalCodec};
use crate::error::ClusterError;
use crate::session::{cluster_config, lake_runtime, scheduler_state};

/// How a scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where it listens for clients and executors.
    pub bind: SocketAddr,
    /// How long an executor may stay silent before its tasks are run elsewhere.
    pub executor_timeout: Duration,
}

/// How an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// Where it serves its shuffle output (Arrow Flight) to other executors.
    pub bind: SocketAddr,
    /// Tasks run at once (default: the number of CPUs).
    pub concurrent_tasks: usize,
}

/// Runs a scheduler until the process ends.
pub async fn run_scheduler(
    options: SchedulerOptions,
    client: RefuelClient,
) -> Result<(), ClusterError> {
    let runtime = lake_runtime().map_err(ClusterError::Setup)?;
    let producer_client = client.clone();
    let builder_client = client.clone();
    let timeout = options.executor_timeout.as_secs().max(2);
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options.bind.ip().to_string(),
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: (timeout / 3).max(1),
        no_executors_grace_period_seconds: timeout,
        override_config_producer: Some(Arc::new(move || {
            cluster_config(SessionConfig::new(), &producer_client)
        })),
        override_session_builder: Some(Arc::new(move |config| {
            scheduler_state(config, &builder_client, Arc::clone(&runtime))
        })),
        override_logical_codec: Some(Arc::new(RefuelLogicalCodec::new(client.clone()))),
        override_physical_codec: Some(Arc::new(RefuelPhysicalCodec::new(client))),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))?;
    start_server(cluster, options.bind, Arc::new(config))
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))
}

/// Runs an executor until the process ends (or the scheduler cannot be reached).
pub async fn run_executor(
    options: ExecutorOptions,
    client: RefuelClient,
) -> Result<(), ClusterError> {
    let runtime = lake_runtime().map_err(ClusterError::Setup)?;
    let producer_client = client.clone();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: Some(options.bind.ip().to_string()),
        port: options.bind.port(),
        scheduler_host: options.scheduler_host,
        scheduler_port: options.scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores: options.concurrent_tasks.max(1),
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        print_thread_info: false,
        executor_heartbeat_interval_seconds: 2,
        override_config_producer: Some(Arc::new(move || {
            cluster_config(SessionConfig::new(), &producer_client)
        })),
        override_runtime_producer: Some(Arc::new(move |_| Ok(Arc::clone(&runtime)))),
        override_logical_codec: Some(Arc::new(RefuelLogicalCodec::new(client.clone()))),
        override_physical_codec: Some(Arc::new(RefuelPhysicalCodec::new(client))),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))
}

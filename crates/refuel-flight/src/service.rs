//! The Flight SQL service: each call authenticated and answered from the caller's session.

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any,
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes,
    CommandGetTables, CommandGetXdbcTypeInfo, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementQuery, CommandStatementUpdate,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightDescriptor,
    FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc,
    Ticket,
};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Schema, UInt64Type};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::prelude::DataFrame;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

use crate::auth::{self, Credential};
use crate::error::{internal, status};
use crate::metadata;
use crate::sessions::{Session, Sessions};
use crate::statements::{self, Cancelled, Prepared};

type DoGetStream = <RefuelFlightSql as FlightService>::DoGetStream;
type DoActionStream = <RefuelFlightSql as FlightService>::DoActionStream;

/// The Flight SQL service over the Refuel catalog; serve it with [`crate::serve`].
pub struct RefuelFlightSql {
    sessions: Arc<Sessions>,
}

impl RefuelFlightSql {
    pub(crate) fn new(sessions: Arc<Sessions>) -> Self {
        Self { sessions }
    }

    /// The caller's session, opened on its first call. The project header applies to
    /// every call: a token's holder naming another project than the token's session gets
    /// the session of that project (opened with the same key).
    async fn session<T>(&self, request: &Request<T>) -> Result<Arc<Session>, Status> {
        let project = auth::project(request.metadata())?;
        match auth::credential(request.metadata())? {
            Credential::Token(token) => {
                let session = self.sessions.for_token(&token)?;
                match project {
                    Some(p) if session.project.as_deref() != Some(p.as_str()) => {
                        self.sessions.for_key(session.key.clone(), Some(p)).await
                    }
                    _ => Ok(session),
                }
            }
            Credential::Key(key) => self.sessions.for_key(key, project).await,
        }
    }
}

fn handle_of(bytes: &[u8]) -> Result<Uuid, Status> {
    Uuid::from_slice(bytes).map_err(|_| Status::invalid_argument("not a handle of this server"))
}

fn schema_bytes(schema: &Schema) -> Result<prost::bytes::Bytes, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e| internal("encoding a schema", e))?;
    Ok(message.0)
}

/// A `FlightInfo` of one endpoint whose ticket is `ticket`.
fn flight_info(
    schema: &Schema,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| internal("encoding a schema", e))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor)
        .with_total_records(-1)
        .with_total_bytes(-1);
    Ok(Response::new(info))
}

/// A metadata command's `FlightInfo`: the command itself is the ticket.
fn command_info(
    schema: &Schema,
    command: &impl ProstMessageExt,
    request: Request<FlightDescriptor>,
) -> Result<Response<FlightInfo>, Status> {
    flight_info(
        schema,
        command.as_any().encode_to_vec(),
        request.into_inner(),
    )
}

fn one_batch(batch: RecordBatch) -> Response<DoGetStream> {
    let schema = batch.schema();
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::iter([Ok(batch)]))
        .map_err(Status::from);
    Response::new(Box::pin(stream))
}

/// Forgets a running query when its stream ends or is dropped (the client went away).
struct Finish {
    session: Arc<Session>,
    handle: Uuid,
}

impl Drop for Finish {
    fn drop(&mut self) {
        self.session.statements.finish(self.handle);
    }
}

/// Batches a query may compute ahead of what the client has read.
const READ_AHEAD_BATCHES: usize = 16;

/// `stream` driven by a task of its own up to [`READ_AHEAD_BATCHES`] ahead of the client:
/// gRPC polls a response only as the client frees room in its window, and a scan polled
/// that way would wait for each read before it fetches the next pages. The bound keeps
/// memory flat in the result's size; dropping the returned stream (the client went away,
/// the query was cancelled) stops the task and the query.
fn read_ahead(stream: SendableRecordBatchStream) -> SendableRecordBatchStream {
    let mut builder = RecordBatchReceiverStreamBuilder::new(stream.schema(), READ_AHEAD_BATCHES);
    let tx = builder.tx();
    builder.spawn(async move {
        let mut stream = stream;
        while let Some(item) = stream.next().await {
            if tx.send(item).await.is_err() {
                break;
            }
        }
        Ok(())
    });
    builder.build()
}

/// The rows a statement changed: the sum of its `count` column (DataFusion's answer to
/// INSERT), 0 for a statement without one (DDL).
fn affected_rows(batches: &[RecordBatch]) -> i64 {
    let mut total: u64 = 0;
    for batch in batches {
        let schema = batch.schema();
        let [field] = schema.fields().as_ref() else {
            continue;
        };
        if field.name() != "count" || field.data_type() != &DataType::UInt64 {
            continue;
        }
        let column = batch.column(0).as_primitive::<UInt64Type>();
        total += (0..column.len())
            .filter(|&i| column.is_valid(i))
            .map(|i| column.value(i))
            .sum::<u64>();
    }
    i64::try_from(total).unwrap_or(i64::MAX)
}

async fn run_update(frame: DataFrame) -> Result<i64, Status> {
    let batches = frame.collect().await.map_err(|e| status(&e))?;
    Ok(affected_rows(&batches))
}

/// The record batches a `DoPut` carries.
async fn put_batches(stream: PeekableFlightDataStream) -> Result<Vec<RecordBatch>, Status> {
    FlightRecordBatchStream::new_from_flight_data(stream.map_err(FlightError::from))
        .try_collect()
        .await
        .map_err(|e| Status::invalid_argument(format!("reading the bound parameters: {e}")))
}

impl RefuelFlightSql {
    /// Plans `frame` as a query of `session`; its `FlightInfo`.
    fn plan_query(
        session: &Session,
        frame: DataFrame,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = frame.schema().as_arrow().clone();
        let handle = session.statements.plan(frame);
        let ticket = TicketStatementQuery {
            statement_handle: handle.as_bytes().to_vec().into(),
        };
        flight_info(&schema, ticket.as_any().encode_to_vec(), descriptor)
    }

    fn prepared(session: &Session, handle: &[u8]) -> Result<(Uuid, Prepared), Status> {
        let handle = handle_of(handle)?;
        let prepared = session.statements.prepared(handle).ok_or_else(|| {
            Status::not_found("no such prepared statement (closed, or its session expired)")
        })?;
        Ok((handle, prepared))
    }

    /// Cancels the query a `FlightInfo` of this server names.
    async fn cancel(&self, request: &Request<Action>, info: &[u8]) -> Result<bool, Status> {
        let session = self.session(request).await?;
        let info = FlightInfo::decode(info)
            .map_err(|e| Status::invalid_argument(format!("not a FlightInfo: {e}")))?;
        let mut cancelled = false;
        for endpoint in &info.endpoint {
            let Some(ticket) = &endpoint.ticket else {
                continue;
            };
            let any = Any::decode(ticket.ticket.clone()).map_err(|e| {
                Status::invalid_argument(format!("not a ticket of this server: {e}"))
            })?;
            let Ok(Some(query)) = any.unpack::<TicketStatementQuery>() else {
                continue;
            };
            let handle = handle_of(&query.statement_handle)?;
            cancelled |= session.statements.cancel(handle) == Cancelled::Yes;
        }
        Ok(cancelled)
    }
}

#[tonic::async_trait]
impl FlightSqlService for RefuelFlightSql {
    type FlightService = Self;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let session = self.session(&request).await?;
        let token = self.sessions.issue_token(session);
        let header = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("cannot write the session token"))?;
        let response = HandshakeResponse {
            protocol_version: 0,
            payload: token.into_bytes().into(),
        };
        let stream: Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>> =
            Box::pin(futures::stream::iter([Ok(response)]));
        let mut response = Response::new(stream);
        response.metadata_mut().insert("authorization", header);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.session(&request).await?;
        let frame = session
            .ctx
            .sql(&query.query)
            .await
            .map_err(|e| status(&e))?;
        Self::plan_query(&session, frame, request.into_inner())
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.session(&request).await?;
        let (_, prepared) = Self::prepared(&session, &cmd.prepared_statement_handle)?;
        let values = match (
            prepared.parameters.fields().len(),
            prepared.bound.as_slice(),
        ) {
            (0, []) => Vec::new(),
            (n, []) => {
                return Err(Status::invalid_argument(format!(
                    "the statement takes {n} parameter(s): bind them before running it"
                )));
            }
            (_, [row]) => row.clone(),
            (_, rows) => {
                return Err(Status::invalid_argument(format!(
                    "a query runs with one row of parameters, not {}",
                    rows.len()
                )));
            }
        };
        let plan = statements::bind_plan(&prepared.plan, &values).map_err(|e| status(&e))?;
        let frame = DataFrame::new(session.ctx.state(), plan);
        Self::plan_query(&session, frame, request.into_inner())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.into_builder().schema();
        command_info(&schema, &query, request)
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.clone().into_builder().schema();
        command_info(&schema, &query, request)
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.clone().into_builder().schema();
        command_info(&schema, &query, request)
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.into_builder().schema();
        command_info(&schema, &query, request)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let info = metadata::SQL_INFO
            .as_ref()
            .map_err(|e| internal("SQL info", e))?;
        let schema = query.clone().into_builder(info).schema();
        command_info(&schema, &query, request)
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let info = metadata::XDBC_INFO
            .as_ref()
            .map_err(|e| internal("type info", e))?;
        let schema = query.into_builder(info).schema();
        command_info(&schema, &query, request)
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = self.session(&request).await?;
        let handle = handle_of(&ticket.statement_handle)?;
        let (frame, token) = session.statements.start(handle).ok_or_else(|| {
            Status::not_found(
                "no such query: it was fetched or cancelled already, or its session expired",
            )
        })?;
        let finish = Finish {
            session: Arc::clone(&session),
            handle,
        };
        let stream = read_ahead(frame.execute_stream().await.map_err(|e| status(&e))?);
        let schema = stream.schema();
        let batches = stream.map_err(|e| FlightError::Tonic(Box::new(status(&e))));
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from);
        let cancelled = token.clone();
        // Runs when the data ends, or is dropped with the stream: either way the query
        // is forgotten.
        let tail = futures::stream::once(async move {
            drop(finish);
            cancelled
                .is_cancelled()
                .then(|| Err(Status::cancelled("the query was cancelled")))
        })
        .filter_map(futures::future::ready);
        let stream = encoded.take_until(token.cancelled_owned()).chain(tail);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn do_get_catalogs(
        &self,
        _query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = self.session(&request).await?;
        Ok(one_batch(metadata::catalogs(&session.ctx)?))
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = self.session(&request).await?;
        Ok(one_batch(metadata::schemas(
            &session.ctx,
            query.into_builder(),
        )?))
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = self.session(&request).await?;
        let filter = metadata::TablesFilter {
            catalog: query.catalog.as_deref(),
            schema_pattern: query.db_schema_filter_pattern.as_deref(),
            table_pattern: query.table_name_filter_pattern.as_deref(),
            include_schema: query.include_schema,
        };
        let batch = metadata::tables(&session.ctx, filter, query.clone().into_builder()).await?;
        Ok(one_batch(batch))
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.session(&request).await?;
        let mut builder = query.into_builder();
        for t in metadata::TABLE_TYPES {
            builder.append(t);
        }
        let batch = builder.build().map_err(|e| internal("table types", e))?;
        Ok(one_batch(batch))
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.session(&request).await?;
        let info = metadata::SQL_INFO
            .as_ref()
            .map_err(|e| internal("SQL info", e))?;
        let batch = query
            .into_builder(info)
            .build()
            .map_err(|e| internal("SQL info", e))?;
        Ok(one_batch(batch))
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.session(&request).await?;
        let info = metadata::XDBC_INFO
            .as_ref()
            .map_err(|e| internal("type info", e))?;
        let batch = query
            .into_builder(info)
            .build()
            .map_err(|e| internal("type info", e))?;
        Ok(one_batch(batch))
    }

    async fn do_put_statement_update(
        &self,
        cmd: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = self.session(&request).await?;
        let frame = session.ctx.sql(&cmd.query).await.map_err(|e| status(&e))?;
        run_update(frame).await
    }

    async fn do_put_prepared_statement_query(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let session = self.session(&request).await?;
        let (handle, prepared) = Self::prepared(&session, &cmd.prepared_statement_handle)?;
        let batches = put_batches(request.into_inner()).await?;
        let rows =
            statements::parameter_rows(&batches, &prepared.parameters).map_err(|e| status(&e))?;
        session.statements.bind(handle, rows);
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(cmd.prepared_statement_handle),
        })
    }

    async fn do_put_prepared_statement_update(
        &self,
        cmd: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = self.session(&request).await?;
        let (_, prepared) = Self::prepared(&session, &cmd.prepared_statement_handle)?;
        let batches = put_batches(request.into_inner()).await?;
        let mut rows =
            statements::parameter_rows(&batches, &prepared.parameters).map_err(|e| status(&e))?;
        if rows.is_empty() {
            rows = prepared.bound.clone();
        }
        if rows.is_empty() {
            if !prepared.parameters.fields().is_empty() {
                return Err(Status::invalid_argument(format!(
                    "the statement takes {} parameter(s): bind them before running it",
                    prepared.parameters.fields().len()
                )));
            }
            rows.push(Vec::new());
        }
        let mut total = 0;
        for row in rows {
            let plan = statements::bind_plan(&prepared.plan, &row).map_err(|e| status(&e))?;
            total += run_update(DataFrame::new(session.ctx.state(), plan)).await?;
        }
        Ok(total)
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let session = self.session(&request).await?;
        let sql = statements::number_placeholders(&query.query).map_err(|e| status(&e))?;
        let frame = session.ctx.sql(&sql).await.map_err(|e| status(&e))?;
        let plan = frame.logical_plan().clone();
        let parameters = statements::parameter_schema(&plan).map_err(|e| status(&e))?;
        let dataset_schema = schema_bytes(frame.schema().as_arrow())?;
        let parameter_schema = schema_bytes(&parameters)?;
        let handle = session.statements.prepare(Prepared {
            plan,
            parameters,
            bound: Vec::new(),
        });
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.as_bytes().to_vec().into(),
            dataset_schema,
            parameter_schema,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let session = self.session(&request).await?;
        let handle = handle_of(&query.prepared_statement_handle)?;
        session.statements.close(handle);
        Ok(())
    }

    async fn do_action_cancel_query(
        &self,
        query: ActionCancelQueryRequest,
        request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        let cancelled = self.cancel(&request, &query.info).await?;
        // `CancelResult`: 1 cancelled, 3 not cancellable (the generated enum is not
        // exported by arrow-flight).
        Ok(ActionCancelQueryResult {
            result: if cancelled { 1 } else { 3 },
        })
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<DoActionStream>, Status> {
        if request.get_ref().r#type != "CancelFlightInfo" {
            return Err(Status::unimplemented(format!(
                "unknown action {:?}",
                request.get_ref().r#type
            )));
        }
        let cancel =
            CancelFlightInfoRequest::decode(request.get_ref().body.clone()).map_err(|e| {
                Status::invalid_argument(format!("not a CancelFlightInfo request: {e}"))
            })?;
        let info = cancel.info.map(|i| i.encode_to_vec()).unwrap_or_default();
        let cancelled = self.cancel(&request, &info).await?;
        let status = if cancelled {
            CancelStatus::Cancelled
        } else {
            CancelStatus::NotCancellable
        };
        let result = CancelFlightInfoResult {
            status: status as i32,
        };
        let body = arrow_flight::Result {
            body: result.encode_to_vec().into(),
        };
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(body)]))))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

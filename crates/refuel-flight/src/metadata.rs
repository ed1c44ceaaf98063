//! The catalog answers of Flight SQL (`GetCatalogs`, `GetDbSchemas`, `GetTables`,
//! `GetTableTypes`) read from a session, and the server's fixed `GetSqlInfo` and
//! `GetXdbcTypeInfo` tables.

use std::sync::LazyLock;

use arrow_flight::sql::metadata::{
    GetCatalogsBuilder, GetDbSchemasBuilder, GetTablesBuilder, SqlInfoData, SqlInfoDataBuilder,
    XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    Nullable, Searchable, SqlInfo, SqlNullOrdering, SqlSupportedCaseSensitivity, XdbcDataType,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::datasource::TableType;
use datafusion::prelude::SessionContext;
use tonic::Status;

use crate::error::internal;

/// The table types `GetTables` answers with.
pub(crate) const TABLE_TYPES: [&str; 3] = ["TABLE", "VIEW", "LOCAL TEMPORARY"];

fn table_type(t: TableType) -> &'static str {
    match t {
        TableType::Base => TABLE_TYPES[0],
        TableType::View => TABLE_TYPES[1],
        TableType::Temporary => TABLE_TYPES[2],
    }
}

/// The session's catalogs.
pub(crate) fn catalogs(ctx: &SessionContext) -> Result<RecordBatch, Status> {
    let mut builder = GetCatalogsBuilder::new();
    let mut names = ctx.catalog_names();
    names.sort();
    for name in names {
        builder.append(name);
    }
    builder.build().map_err(|e| internal("listing catalogs", e))
}

/// The session's schemas, as the builder (its filters set) selects them.
pub(crate) fn schemas(
    ctx: &SessionContext,
    mut builder: GetDbSchemasBuilder,
) -> Result<RecordBatch, Status> {
    for catalog_name in ctx.catalog_names() {
        let Some(catalog) = ctx.catalog(&catalog_name) else {
            continue;
        };
        for schema in catalog.schema_names() {
            builder.append(&catalog_name, schema);
        }
    }
    builder.build().map_err(|e| internal("listing schemas", e))
}

/// The session's tables, as the builder's filters select them, with their Arrow schema
/// when asked for.
pub(crate) async fn tables(
    ctx: &SessionContext,
    catalog_filter: Option<&str>,
    mut builder: GetTablesBuilder,
) -> Result<RecordBatch, Status> {
    for catalog_name in ctx.catalog_names() {
        if catalog_filter.is_some_and(|c| c != catalog_name) {
            continue;
        }
        let Some(catalog) = ctx.catalog(&catalog_name) else {
            continue;
        };
        for schema_name in catalog.schema_names() {
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            for table_name in schema.table_names() {
                let table = schema
                    .table(&table_name)
                    .await
                    .map_err(|e| crate::error::status(&e))?;
                let Some(table) = table else {
                    continue;
                };
                builder
                    .append(
                        &catalog_name,
                        &schema_name,
                        &table_name,
                        table_type(table.table_type()),
                        table.schema().as_ref(),
                    )
                    .map_err(|e| internal("listing tables", e))?;
            }
        }
    }
    builder.build().map_err(|e| internal("listing tables", e))
}

/// The server's `GetSqlInfo` answers.
pub(crate) static SQL_INFO: LazyLock<Result<SqlInfoData, String>> = LazyLock::new(|| {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "Refuel Flight SQL");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(SqlInfo::FlightSqlServerTransaction, 0_i32);
    b.append(SqlInfo::FlightSqlServerCancel, true);
    b.append(SqlInfo::FlightSqlServerStatementTimeout, 0_i32);
    b.append(SqlInfo::FlightSqlServerTransactionTimeout, 0_i32);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, true);
    b.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32,
    );
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    b.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    b.append(SqlInfo::SqlSearchStringEscape, "\\");
    b.append(SqlInfo::SqlSupportsColumnAliasing, true);
    b.append(SqlInfo::SqlNullPlusNullIsNull, true);
    b.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    b.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    b.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    b.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    b.append(SqlInfo::SqlCatalogTerm, "catalog");
    b.append(SqlInfo::SqlSchemaTerm, "project");
    b.append(SqlInfo::SqlCatalogAtStart, true);
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.build().map_err(|e| e.to_string())
});

fn xdbc(
    name: &str,
    data_type: XdbcDataType,
    column_size: Option<i32>,
    quoted: bool,
    radix: Option<i32>,
) -> XdbcTypeInfo {
    XdbcTypeInfo {
        type_name: name.into(),
        data_type,
        column_size,
        literal_prefix: quoted.then(|| "'".into()),
        literal_suffix: quoted.then(|| "'".into()),
        create_params: None,
        nullable: Nullable::NullabilityNullable,
        case_sensitive: quoted,
        searchable: Searchable::Full,
        unsigned_attribute: radix.map(|_| false),
        fixed_prec_scale: false,
        auto_increment: radix.map(|_| false),
        local_type_name: Some(name.into()),
        minimum_scale: None,
        maximum_scale: None,
        sql_data_type: data_type,
        datetime_subcode: None,
        num_prec_radix: radix,
        interval_precision: None,
    }
}

/// The SQL types of the server, for `GetXdbcTypeInfo`.
pub(crate) static XDBC_INFO: LazyLock<Result<XdbcTypeInfoData, String>> = LazyLock::new(|| {
    let mut b = XdbcTypeInfoDataBuilder::new();
    for info in [
        xdbc("BOOLEAN", XdbcDataType::XdbcBit, Some(1), false, None),
        xdbc(
            "TINYINT",
            XdbcDataType::XdbcTinyint,
            Some(3),
            false,
            Some(10),
        ),
        xdbc(
            "SMALLINT",
            XdbcDataType::XdbcSmallint,
            Some(5),
            false,
            Some(10),
        ),
        xdbc(
            "INTEGER",
            XdbcDataType::XdbcInteger,
            Some(10),
            false,
            Some(10),
        ),
        xdbc(
            "BIGINT",
            XdbcDataType::XdbcBigint,
            Some(19),
            false,
            Some(10),
        ),
        xdbc("REAL", XdbcDataType::XdbcReal, Some(24), false, Some(2)),
        xdbc("DOUBLE", XdbcDataType::XdbcDouble, Some(53), false, Some(2)),
        xdbc(
            "DECIMAL",
            XdbcDataType::XdbcDecimal,
            Some(38),
            false,
            Some(10),
        ),
        xdbc("VARCHAR", XdbcDataType::XdbcVarchar, None, true, None),
        xdbc("DATE", XdbcDataType::XdbcDate, Some(10), true, None),
        xdbc(
            "TIMESTAMP",
            XdbcDataType::XdbcTimestamp,
            Some(29),
            true,
            None,
        ),
        xdbc("BINARY", XdbcDataType::XdbcBinary, None, false, None),
    ] {
        b.append(info);
    }
    b.build().map_err(|e| e.to_string())
});

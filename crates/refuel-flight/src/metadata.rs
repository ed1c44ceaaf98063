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
use datafusion::arrow::datatypes::Schema;
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

/// What `GetTables` asks for, to skip tables before they are opened (opening a Refuel
/// table may call the API); the builder filters the rows again, exactly.
pub(crate) struct TablesFilter<'a> {
    /// The catalog, exactly.
    pub(crate) catalog: Option<&'a str>,
    /// A `LIKE` pattern of schema names.
    pub(crate) schema_pattern: Option<&'a str>,
    /// A `LIKE` pattern of table names.
    pub(crate) table_pattern: Option<&'a str>,
    /// Whether each table's Arrow schema is asked for.
    pub(crate) include_schema: bool,
}

/// Whether `text` may match the `LIKE` pattern (`%` any run, `_` one character). A pattern
/// with an escape character may match anything here: the builder decides.
fn may_match(pattern: Option<&str>, text: &str) -> bool {
    let Some(pattern) = pattern else {
        return true;
    };
    if pattern.contains('\\') {
        return true;
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Classic wildcard matching with one backtrack point for the last `%`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

/// The session's tables, as the builder's filters select them, with their Arrow schema
/// when asked for.
pub(crate) async fn tables(
    ctx: &SessionContext,
    filter: TablesFilter<'_>,
    mut builder: GetTablesBuilder,
) -> Result<RecordBatch, Status> {
    let empty = Schema::empty();
    for catalog_name in ctx.catalog_names() {
        if filter.catalog.is_some_and(|c| c != catalog_name) {
            continue;
        }
        let Some(catalog) = ctx.catalog(&catalog_name) else {
            continue;
        };
        for schema_name in catalog.schema_names() {
            if !may_match(filter.schema_pattern, &schema_name) {
                continue;
            }
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            for table_name in schema.table_names() {
                if !may_match(filter.table_pattern, &table_name) {
                    continue;
                }
                let status = |e: datafusion::error::DataFusionError| crate::error::status(&e);
                let (kind, arrow_schema) = if filter.include_schema {
                    match schema.table(&table_name).await.map_err(status)? {
                        Some(table) => (table.table_type(), table.schema()),
                        None => continue,
                    }
                } else {
                    match schema.table_type(&table_name).await.map_err(status)? {
                        Some(kind) => (kind, std::sync::Arc::new(empty.clone())),
                        None => continue,
                    }
                };
                builder
                    .append(
                        &catalog_name,
                        &schema_name,
                        &table_name,
                        table_type(kind),
                        arrow_schema.as_ref(),
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

#[cfg(test)]
mod tests {
    use super::may_match;

    #[test]
    fn like_patterns_prune_only_what_cannot_match() {
        for (pattern, text, want) in [
            ("m", "m", true),
            ("m", "mm", false),
            ("%", "", true),
            ("re%s", "reviews", true),
            ("re%s", "review", false),
            ("_e%", "reviews", true),
            ("%_labels", "reviews_sentiment_labels", true),
            ("%a%b%", "xaxxbx", true),
            ("%a%b%", "xbxxax", false),
            ("a\\_b", "anything", true),
            ("%x", "%ax", true),
            ("50%", "50% off", true),
        ] {
            assert_eq!(may_match(Some(pattern), text), want, "{pattern} ~ {text}");
        }
        assert!(may_match(None, "x"));
    }
}

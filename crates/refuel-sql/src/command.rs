//! Backslash commands: `\?`, `\q`, `\l`, `\d`, `\d TABLE`, `\use PROJECT`, `\format`,
//! `\timing`, `\maxrows`, `\refresh`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::TableReference;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

use crate::catalog::table_kind;
use crate::context::ShellContext;
use crate::error::ShellError;
use crate::print_format::PrintFormat;
use crate::print_options::PrintOptions;

/// A backslash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `\?`: the commands.
    Help,
    /// `\q`: leave.
    Quit,
    /// `\l`: the team's projects.
    ListProjects,
    /// `\d`: the tables of the current project.
    ListTables,
    /// `\d TABLE`: a table's columns and types.
    Describe(String),
    /// `\df`: the Refuel functions, and the applications `refuel_label` can name.
    ListFunctions,
    /// `\use PROJECT`: make a project current.
    Use(String),
    /// `\format [FORMAT]`: set (or show) the output format.
    Format(Option<PrintFormat>),
    /// `\timing [on|off]`: set (or toggle) the statement timer.
    Timing(Option<bool>),
    /// `\maxrows [N]`: set (or show) the row limit (0: all).
    MaxRows(Option<usize>),
    /// `\refresh`: read the projects, datasets and tasks again.
    Refresh,
}

/// A backslash command as `\?` lists it.
#[derive(Debug)]
pub struct CommandSpec {
    /// The names it answers to; the first is its own.
    pub names: &'static [&'static str],
    /// Its forms (`\d`, `\d TABLE`) with what each does, one help line each.
    pub forms: &'static [(&'static str, &'static str)],
}

/// Every backslash command: what `\?` prints and the names the parser knows.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        names: &["?", "h", "help"],
        forms: &[("\\?", "this help")],
    },
    CommandSpec {
        names: &["q", "quit", "exit"],
        forms: &[("\\q", "quit (Ctrl-D too)")],
    },
    CommandSpec {
        names: &["l", "list"],
        forms: &[("\\l", "list projects")],
    },
    CommandSpec {
        names: &["d", "dt"],
        forms: &[
            ("\\d", "list the tables of the current project"),
            (
                "\\d TABLE",
                "describe a table: columns, types and where the types came from",
            ),
        ],
    },
    CommandSpec {
        names: &["df"],
        forms: &[(
            "\\df",
            "list the Refuel functions and the applications refuel_label can use",
        )],
    },
    CommandSpec {
        names: &["use", "c", "connect"],
        forms: &[(
            "\\use PROJECT",
            "make PROJECT current (bare table names resolve in it)",
        )],
    },
    CommandSpec {
        names: &["format", "pset"],
        forms: &[(
            "\\format [FORMAT]",
            "output format: table, csv, tsv, json, ndjson",
        )],
    },
    CommandSpec {
        names: &["timing"],
        forms: &[("\\timing [on|off]", "print how long each statement takes")],
    },
    CommandSpec {
        names: &["maxrows"],
        forms: &[("\\maxrows [N]", "show at most N rows of a result (0: all)")],
    },
    CommandSpec {
        names: &["refresh"],
        forms: &[("\\refresh", "read projects, datasets and tasks again")],
    },
];

/// The text of `\?`, made from [`COMMANDS`].
pub fn help() -> String {
    let mut out = String::from("Statements end with ';' and may span lines. Backslash commands:\n");
    for (usage, about) in COMMANDS.iter().flat_map(|c| c.forms) {
        out.push_str(&format!("  {usage:<19}{about}\n"));
    }
    out.push_str(
        "Tables: refuel.<project>.<dataset>, <task>_labels (labels per task field: <f>_label,\n\
         <f>_llm_label, <f>_confidence, <f>_explanation, <f>_verified), and the metadata tables\n\
         datasets, tasks, task_runs, applications, finetuned_models. Ctrl-C cancels a running query.",
    );
    out
}

impl FromStr for Command {
    type Err = ShellError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let line = line.trim().trim_end_matches(';').trim();
        let Some(body) = line.strip_prefix('\\') else {
            return Err(ShellError::Command(format!(
                "'{line}' is not a backslash command"
            )));
        };
        let mut words = body.split_whitespace();
        let name = words.next().unwrap_or("");
        let arg = words.next();
        if let Some(extra) = words.next() {
            return Err(ShellError::Command(format!(
                "\\{name} takes at most one argument, got '{extra}' too"
            )));
        }
        let needs = |what: &str, placeholder: &str| {
            ShellError::Command(format!("\\{name} needs {what}: \\{name} {placeholder}"))
        };
        let none = |cmd: Command| match arg {
            None => Ok(cmd),
            Some(a) => Err(ShellError::Command(format!(
                "\\{name} takes no argument, got '{a}'"
            ))),
        };
        let own = COMMANDS
            .iter()
            .find(|c| c.names.contains(&name))
            .map_or(name, |c| c.names[0]);
        match own {
            "?" => none(Command::Help),
            "q" => none(Command::Quit),
            "l" => none(Command::ListProjects),
            "df" => none(Command::ListFunctions),
            "d" => Ok(match arg {
                None => Command::ListTables,
                Some(table) => Command::Describe(table.to_string()),
            }),
            "use" => arg
                .map(|p| Command::Use(p.to_string()))
                .ok_or_else(|| needs("a project", "PROJECT")),
            "format" => arg.map(str::parse).transpose().map(Command::Format),
            "timing" => match arg.map(str::to_ascii_lowercase).as_deref() {
                None => Ok(Command::Timing(None)),
                Some("on") => Ok(Command::Timing(Some(true))),
                Some("off") => Ok(Command::Timing(Some(false))),
                Some(other) => Err(ShellError::Command(format!(
                    "\\timing takes on or off, got '{other}'"
                ))),
            },
            "maxrows" => match arg {
                None => Ok(Command::MaxRows(None)),
                Some(n) => n.parse().map(|n| Command::MaxRows(Some(n))).map_err(|_| {
                    ShellError::Command(format!(
                        "\\maxrows takes a number of rows (0: all), got '{n}'"
                    ))
                }),
            },
            "refresh" => none(Command::Refresh),
            "" => Err(ShellError::Command(
                "empty command: \\? lists the commands".to_string(),
            )),
            other => Err(ShellError::Command(format!(
                "unknown command \\{other}: \\? lists the commands"
            ))),
        }
    }
}

/// What the shell does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Leave.
    Quit,
}

impl Command {
    /// Runs the command.
    pub async fn execute(
        &self,
        shell: &mut ShellContext,
        print: &mut PrintOptions,
    ) -> anyhow::Result<Flow> {
        match self {
            Command::Help => println!("{}", help()),
            Command::Quit => return Ok(Flow::Quit),
            Command::ListProjects => list_projects(shell, print).await?,
            Command::ListTables => list_tables(shell, print).await?,
            Command::Describe(table) => describe(shell, print, table).await?,
            Command::ListFunctions => list_functions(shell, print).await?,
            Command::Use(project) => {
                shell.use_project(project).await?;
                if !print.quiet {
                    eprintln!("current project: {project}");
                }
            }
            Command::Format(None) => println!("format: {}", print.format),
            Command::Format(Some(format)) => {
                print.format = *format;
                print.format_chosen = true;
                if !print.quiet {
                    eprintln!("format: {format}");
                }
            }
            Command::Timing(value) => {
                print.timing = value.unwrap_or(!print.timing);
                if !print.quiet {
                    eprintln!("timing: {}", if print.timing { "on" } else { "off" });
                }
            }
            Command::MaxRows(None) => match print.max_rows {
                Some(0) => println!("maxrows: all"),
                Some(n) => println!("maxrows: {n}"),
                None => println!(
                    "maxrows: {} for tables, all for other formats",
                    crate::print_options::DEFAULT_TABLE_ROWS
                ),
            },
            Command::MaxRows(Some(n)) => {
                print.max_rows = Some(*n);
                if !print.quiet {
                    match n {
                        0 => eprintln!("maxrows: all"),
                        n => eprintln!("maxrows: {n}"),
                    }
                }
            }
            Command::Refresh => {
                shell.refresh().await?;
                if !print.quiet {
                    eprintln!(
                        "{} tables in {}",
                        shell.table_names().len(),
                        shell.current_schema()
                    );
                }
            }
        }
        Ok(Flow::Continue)
    }
}

/// Prints one batch as a result.
async fn print_batch(print: &mut PrintOptions, batch: RecordBatch) -> anyhow::Result<()> {
    let schema = batch.schema();
    let stream =
        RecordBatchStreamAdapter::new(Arc::clone(&schema), futures::stream::iter(vec![Ok(batch)]));
    print.print(schema, Box::pin(stream), Instant::now()).await
}

fn text_column(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

async fn list_projects(shell: &ShellContext, print: &mut PrintOptions) -> anyhow::Result<()> {
    let mut projects = shell.client().projects().list().await?;
    projects.sort_by(|a, b| a.project_name.cmp(&b.project_name));
    let current = shell.project();
    let schema = Arc::new(Schema::new(vec![
        Field::new("project", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, true),
        Field::new("current", DataType::Boolean, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            text_column(projects.iter().map(|p| p.project_name.clone()).collect()),
            Arc::new(StringArray::from(
                projects
                    .iter()
                    .map(|p| p.description.clone())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(BooleanArray::from(
                projects
                    .iter()
                    .map(|p| Some(p.project_name.as_str()) == current)
                    .collect::<Vec<_>>(),
            )),
        ],
    )?;
    print_batch(print, batch).await
}

async fn list_tables(shell: &ShellContext, print: &mut PrintOptions) -> anyhow::Result<()> {
    let schema_name = shell.current_schema();
    let mut names = Vec::new();
    let mut kinds = Vec::new();
    if let Some(schema) = datafusion::catalog::CatalogProvider::schema(shell.catalog(), schema_name)
    {
        for name in schema.table_names() {
            if let Some(table) = schema.table(&name).await? {
                kinds.push(table_kind(schema.as_ref(), &name, table.as_ref()).to_string());
                names.push(name);
            }
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(schema, vec![text_column(names), text_column(kinds)])?;
    print_batch(print, batch).await
}

async fn list_functions(shell: &ShellContext, print: &mut PrintOptions) -> anyhow::Result<()> {
    let mut rows: Vec<[String; 4]> = vec![
        [
            "refuel_label".into(),
            "scalar (async)".into(),
            "('<application>', input1 [, input2 ...]) or ('<application>', named_struct(...))".into(),
            "labels each row through a deployed application: a struct of its fields, each {label, confidence, explanation, error}; SET refuel.label.explain / on_error / model / max_rows / batch_size".into(),
        ],
        [
            "refuel_items".into(),
            "table".into(),
            "('<project>/<dataset>' [, '<task>'])".into(),
            "the rows of a dataset, with a task's labels when one is named".into(),
        ],
    ];
    // What refuel_label can name in the current project, with its inputs and fields.
    if shell.project().is_some() {
        let mut apps = shell.client().applications().list().await?;
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        for app in apps {
            let inputs = app.inputs();
            let fields: Vec<String> = app
                .subtasks
                .iter()
                .map(|s| format!("{} ({})", s.name, s.field_type))
                .collect();
            rows.push([
                "refuel_label".into(),
                "application".into(),
                format!("('{}', {})", app.name, inputs.join(", ")),
                format!("fields: {}", fields.join(", ")),
            ]);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("function", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("arguments", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, false),
    ]));
    let column = |i: usize| text_column(rows.iter().map(|r| r[i].clone()).collect());
    let batch = RecordBatch::try_new(schema, vec![column(0), column(1), column(2), column(3)])?;
    print_batch(print, batch).await
}

async fn describe(
    shell: &ShellContext,
    print: &mut PrintOptions,
    table: &str,
) -> anyhow::Result<()> {
    let reference = TableReference::from(table);
    let provider = shell.ctx.table_provider(reference).await.map_err(|_| {
        ShellError::Command(format!(
            "table '{table}' not found in {} (\\d lists the tables)",
            shell.current_schema()
        ))
    })?;
    // Where a Refuel table's column types came from (schema, column metadata, first rows).
    let types_from = provider
        .as_ref()
        .downcast_ref::<refuel_datafusion::RefuelTable>()
        .map(|t| t.columns().types_from);
    let schema = provider.schema();
    let fields = schema.fields();
    let out = Arc::new(Schema::new(vec![
        Field::new("column", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("nullable", DataType::Boolean, false),
    ]));
    let batch = RecordBatch::try_new(
        out,
        vec![
            text_column(fields.iter().map(|f| f.name().clone()).collect()),
            text_column(fields.iter().map(|f| f.data_type().to_string()).collect()),
            Arc::new(BooleanArray::from(
                fields.iter().map(|f| f.is_nullable()).collect::<Vec<_>>(),
            )),
        ],
    )?;
    print_batch(print, batch).await?;
    if let Some(from) = types_from {
        print.notice(from.describe());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let p = |s: &str| s.parse::<Command>();
        assert_eq!(p("\\?").unwrap(), Command::Help);
        assert_eq!(p("  \\q  ").unwrap(), Command::Quit);
        assert_eq!(p("\\l").unwrap(), Command::ListProjects);
        assert_eq!(p("\\d").unwrap(), Command::ListTables);
        assert_eq!(
            p("\\d reviews").unwrap(),
            Command::Describe("reviews".into())
        );
        assert_eq!(
            p("\\d reviews;").unwrap(),
            Command::Describe("reviews".into())
        );
        assert_eq!(p("\\use shop").unwrap(), Command::Use("shop".into()));
        assert_eq!(
            p("\\format CSV").unwrap(),
            Command::Format(Some(PrintFormat::Csv))
        );
        assert_eq!(p("\\format").unwrap(), Command::Format(None));
        assert_eq!(p("\\timing").unwrap(), Command::Timing(None));
        assert_eq!(p("\\timing off").unwrap(), Command::Timing(Some(false)));
        assert_eq!(p("\\maxrows 0").unwrap(), Command::MaxRows(Some(0)));
    }

    #[test]
    fn refuses_with_a_reason() {
        let e = |s: &str| s.parse::<Command>().unwrap_err().to_string();
        assert_eq!(e("\\use"), "\\use needs a project: \\use PROJECT");
        assert!(e("\\nope").contains("unknown command \\nope"));
        assert!(e("\\format xml").contains("unknown format 'xml'"));
        assert!(e("\\q now").contains("takes no argument"));
        assert!(e("\\d a b").contains("at most one argument"));
        assert!(e("\\maxrows many").contains("number of rows"));
        assert!(e("\\timing maybe").contains("on or off"));
    }
}

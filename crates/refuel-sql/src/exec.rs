//! Running the shell: from `-c` commands, `-f` files, standard input, or the interactive
//! REPL; and running subcommands.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::Context;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::physical_plan::execute_stream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use futures::StreamExt;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor};

use crate::catalog::table_kind;
use crate::cli::Cli;
use crate::command::{Command, Flow};
use crate::connect::Connection;
use crate::context::ShellContext;
use crate::error::{ShellError, one_line};
use crate::helper::ShellHelper;
use crate::print_options::PrintOptions;
use crate::progress::Progress;
use crate::scan_progress::ScanProgress;
use crate::statement::{Chunk, split_script};
use crate::subcommands::{self, SubCommand};

/// Environment variable naming the REPL's history file.
pub const ENV_HISTORY: &str = "REFUEL_SQL_HISTORY";

/// Runs what the command line asks for and returns the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(SubCommand::Completions(args)) = &cli.subcommand {
        subcommands::completions::run(args, <Cli as clap::CommandFactory>::command())?;
        return Ok(ExitCode::SUCCESS);
    }
    let progress = Progress::new(cli.quiet);
    if let Some(SubCommand::Serve(args)) = &cli.subcommand {
        return subcommands::serve::run(args, &cli.connection, &progress).await;
    }
    let connection = Connection::open(&cli.connection, &progress).await?;
    let outcome = match &cli.subcommand {
        Some(sub) => subcommands::run(sub, &connection, &progress).await,
        None => shell(&cli, &connection).await,
    };
    connection.close().await;
    outcome
}

/// The shell: `-c` and `-f` in order, else the REPL on a terminal, else standard input.
async fn shell(cli: &Cli, connection: &Connection) -> anyhow::Result<ExitCode> {
    let mut ctx = ShellContext::new(connection.client.clone()).await?;
    if let Some(cluster) = &cli.cluster {
        ctx.run_on(cluster).await?;
    }
    let print = PrintOptions::new(
        cli.format,
        cli.max_rows,
        cli.timing,
        cli.quiet,
        cli.output.clone(),
    );
    let mut shell = Shell {
        ctx,
        print,
        verbose: cli.verbose,
        progress: Progress::new(cli.quiet),
    };
    if !cli.commands.is_empty() || !cli.files.is_empty() {
        for command in &cli.commands {
            if shell.run_text(command).await? == Flow::Quit {
                return Ok(ExitCode::SUCCESS);
            }
        }
        for file in &cli.files {
            let text = read_script(file)?;
            if shell.run_text(&text).await? == Flow::Quit {
                return Ok(ExitCode::SUCCESS);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if std::io::stdin().is_terminal() {
        shell.print.interactive = true;
        return repl(&mut shell, connection).await;
    }
    let text = read_script(Path::new("-"))?;
    shell.run_text(&text).await?;
    Ok(ExitCode::SUCCESS)
}

fn read_script(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("read statements from standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("read '{}'", path.display()))
    }
}

/// A session: its DataFusion context and display settings.
struct Shell {
    ctx: ShellContext,
    print: PrintOptions,
    verbose: bool,
    /// Where the progress of long scans goes.
    progress: Progress,
}

impl Shell {
    /// Runs SQL statements and backslash commands; stops at the first error.
    async fn run_text(&mut self, text: &str) -> anyhow::Result<Flow> {
        for chunk in split_script(text) {
            let flow = match chunk {
                Chunk::Command(line) => {
                    let command: Command = line.parse()?;
                    command.execute(&mut self.ctx, &mut self.print).await?
                }
                Chunk::Sql(sql) => {
                    self.run_sql(&sql).await?;
                    Flow::Continue
                }
            };
            if flow == Flow::Quit {
                return Ok(Flow::Quit);
            }
        }
        Ok(Flow::Continue)
    }

    /// Parses and runs every statement of `sql`; Ctrl-C cancels the one running.
    async fn run_sql(&mut self, sql: &str) -> anyhow::Result<()> {
        let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})?;
        for statement in statements {
            tokio::select! {
                result = self.run_statement(statement) => result?,
                _ = tokio::signal::ctrl_c() => return Err(ShellError::Cancelled.into()),
            }
        }
        Ok(())
    }

    async fn run_statement(&mut self, statement: Statement) -> anyhow::Result<()> {
        let started = Instant::now();
        let state = self.ctx.ctx.state();
        let plan = state.statement_to_plan(statement).await?;
        self.refuse_dropping_refuel_tables(&plan).await?;
        let frame = self.ctx.ctx.execute_logical_plan(plan).await?;
        let task_ctx = Arc::new(frame.task_ctx());
        let physical = frame.create_physical_plan().await?;
        let stream = execute_stream(Arc::clone(&physical), task_ctx)?;
        let schema = stream.schema();
        // Rows read and their rate while nothing is printed yet; gone at the first batch.
        let watch = Arc::new(ScanProgress::start(&self.progress, physical));
        let first = Arc::clone(&watch);
        let stream = RecordBatchStreamAdapter::new(
            Arc::clone(&schema),
            stream.inspect(move |_| first.stop()),
        );
        let printed = self.print.print(schema, Box::pin(stream), started).await;
        watch.stop();
        printed
    }

    /// DataFusion answers `DROP TABLE` on a table it may not drop with "doesn't exist";
    /// say what it is instead.
    async fn refuse_dropping_refuel_tables(&self, plan: &LogicalPlan) -> anyhow::Result<()> {
        let LogicalPlan::Ddl(DdlStatement::DropTable(drop)) = plan else {
            return Ok(());
        };
        let state = self.ctx.ctx.state();
        let options = &state.config_options().catalog;
        let resolved = drop
            .name
            .clone()
            .resolve(&options.default_catalog, &options.default_schema);
        // The shell's own catalog, not the session's view of it (which wraps schemas).
        let schema = if resolved.catalog.as_ref() == crate::context::CATALOG {
            datafusion::catalog::CatalogProvider::schema(self.ctx.catalog(), &resolved.schema)
        } else {
            state
                .catalog_list()
                .catalog(&resolved.catalog)
                .and_then(|c| c.schema(&resolved.schema))
        };
        if let Some(schema) = schema
            && let Ok(Some(table)) = schema.table(&resolved.table).await
        {
            let kind = table_kind(schema.as_ref(), &resolved.table, table.as_ref());
            if !kind.starts_with("session") {
                return Err(ShellError::Input(format!(
                    "'{}' is a {kind} table of the Refuel project: it cannot be dropped from the shell",
                    drop.name
                ))
                .into());
            }
        }
        Ok(())
    }

    fn report(&self, err: &anyhow::Error) {
        if matches!(
            err.downcast_ref::<ShellError>(),
            Some(ShellError::Cancelled)
        ) {
            eprintln!("query cancelled");
            return;
        }
        eprintln!("error: {}", one_line(err));
        if self.verbose {
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
        }
    }
}

/// The history file: `REFUEL_SQL_HISTORY`, else `~/.refuel_sql_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(ENV_HISTORY).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".refuel_sql_history"))
}

/// The interactive shell.
async fn repl(shell: &mut Shell, connection: &Connection) -> anyhow::Result<ExitCode> {
    let tables = Arc::new(RwLock::new(shell.ctx.table_names()));
    let config = Config::builder().auto_add_history(false).build();
    let mut editor: Editor<ShellHelper, DefaultHistory> =
        Editor::with_config(config).context("start the line editor")?;
    editor.set_helper(Some(ShellHelper::new(Arc::clone(&tables))));
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is the normal first run.
        let _ = editor.load_history(path);
    }
    println!(
        "refuel-sql {} on {}{}",
        env!("CARGO_PKG_VERSION"),
        connection.describe(),
        match shell.ctx.project() {
            Some(p) => format!(", project '{p}'"),
            None => ", no project (\\l lists them, \\use PROJECT picks one)".to_string(),
        }
    );
    println!("Statements end with ';'. \\? for help, \\q to quit.");
    loop {
        let prompt = format!("{}> ", shell.ctx.current_schema());
        let line = tokio::task::block_in_place(|| editor.readline(&prompt));
        match line {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.trim_end());
                if let Some(path) = &history
                    && let Err(e) = editor.append_history(path)
                {
                    tracing::warn!(error = %e, "cannot write the history file");
                }
                match shell.run_text(&line).await {
                    Ok(Flow::Quit) => break,
                    Ok(Flow::Continue) => {}
                    Err(e) if crate::error::is_broken_pipe(&e) => {}
                    Err(e) => shell.report(&e),
                }
                if let Ok(mut names) = tables.write() {
                    *names = shell.ctx.table_names();
                }
            }
            // Ctrl-C at the prompt drops the line being typed, as in psql.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e).context("read a line"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

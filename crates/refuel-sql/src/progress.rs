//! Progress on standard error: indicatif bars and spinners on a terminal, plain lines
//! otherwise (one per change, so logs of a pipeline stay readable).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    tty: bool,
    quiet: bool,
}

impl Progress {
    /// Bars when standard error is a terminal, plain lines otherwise; nothing at all when
    /// `quiet`.
    pub fn new(quiet: bool) -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    /// Whether progress is drawn on a terminal (not quiet).
    pub fn is_terminal(&self) -> bool {
        self.tty && !self.quiet
    }

    /// A message on its own line.
    pub fn line(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// A bar (with a total) or a spinner (without) labelled `message`.
    pub fn bar(&self, message: &str, total: Option<u64>) -> Bar {
        let inner = (self.tty && !self.quiet).then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let template = if total.is_some() {
                "{msg} [{bar:30}] {pos}/{len} ({eta} left)"
            } else {
                "{spinner} {msg} {pos} {elapsed}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(message.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Bar {
            inner,
            message: message.to_string(),
            quiet: self.quiet,
            last: Mutex::new(None),
        }
    }
}

/// One bar or spinner.
#[derive(Debug)]
pub struct Bar {
    inner: Option<ProgressBar>,
    message: String,
    quiet: bool,
    last: Mutex<Option<(u64, Option<u64>)>>,
}

impl Bar {
    /// Moves to `position` of `total` (a spinner when `None`).
    pub fn set(&self, position: u64, total: Option<u64>) {
        if let Some(bar) = &self.inner {
            match total {
                Some(total) => bar.set_length(total),
                None => bar.unset_length(),
            }
            bar.set_position(position);
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if *last == Some((position, total)) || self.quiet {
            return;
        }
        *last = Some((position, total));
        match total {
            Some(total) => eprintln!("{}: {position}/{total}", self.message),
            None => eprintln!("{}: {position}", self.message),
        }
    }

    /// Changes the text next to the bar (on a terminal) or prints it (otherwise).
    pub fn status(&self, status: &str) {
        match &self.inner {
            Some(bar) => bar.set_message(format!("{} ({status})", self.message)),
            None if !self.quiet => eprintln!("{}: {status}", self.message),
            None => {}
        }
    }

    /// Ends the bar, leaving `message` in its place.
    pub fn finish(&self, message: &str) {
        match &self.inner {
            Some(bar) => {
                bar.finish_and_clear();
                eprintln!("{message}");
            }
            None if !self.quiet => eprintln!("{message}"),
            None => {}
        }
    }

    /// Removes the bar without a message (the operation failed or was interrupted).
    pub fn abandon(&self) {
        if let Some(bar) = &self.inner {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = &self.inner
            && !bar.is_finished()
        {
            bar.finish_and_clear();
        }
    }
}

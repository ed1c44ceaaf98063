//! `refuel://<project>/<dataset>[?task=<task>]`: how a Refuel dataset is named by URL, in
//! `CREATE EXTERNAL TABLE ... STORED AS REFUEL LOCATION` (reads, with a task's labels) and
//! `COPY ... TO ... STORED AS REFUEL` (new datasets), parsed here only.

use std::fmt;

use datafusion::error::{DataFusionError, Result};

/// A dataset named by a `refuel://` URL, with a task's labels when it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefuelUrl {
    /// The project, by name or id.
    pub project: String,
    /// The dataset, by name or id.
    pub dataset: String,
    /// The task whose labels are read with the rows (`?task=`).
    pub task: Option<String>,
}

impl RefuelUrl {
    /// The scheme's prefix.
    pub const PREFIX: &'static str = "refuel://";

    /// Parses `text`; errors name it as `what` (e.g. `LOCATION`) and say the expected form.
    /// Split by hand rather than as a URL: project and dataset names may hold spaces and
    /// other characters a URL host may not, and they are used as written.
    pub fn parse(text: &str, what: &str) -> Result<Self> {
        let bad = |why: &str| {
            DataFusionError::Plan(format!(
                "{what} '{text}' {why}: expected 'refuel://<project>/<dataset>[?task=<task>]'"
            ))
        };
        let rest = text
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| bad("is not a refuel:// URL"))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let (project, dataset) = path
            .trim_end_matches('/')
            .split_once('/')
            .ok_or_else(|| bad("names no dataset"))?;
        if project.is_empty() || dataset.is_empty() || dataset.contains('/') {
            return Err(bad("needs exactly a project and a dataset"));
        }
        let mut task = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("task", t)) if !t.is_empty() => task = Some(t.to_string()),
                _ => return Err(bad(&format!("has an unknown parameter '{pair}'"))),
            }
        }
        Ok(Self {
            project: project.to_string(),
            dataset: dataset.to_string(),
            task,
        })
    }
}

impl fmt::Display for RefuelUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}/{}", Self::PREFIX, self.project, self.dataset)?;
        match &self.task {
            Some(task) => write!(f, "?task={task}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RefuelUrl;

    fn url(project: &str, dataset: &str, task: Option<&str>) -> RefuelUrl {
        RefuelUrl {
            project: project.into(),
            dataset: dataset.into(),
            task: task.map(Into::into),
        }
    }

    #[test]
    fn urls() {
        for (text, expect) in [
            ("refuel://p/d", url("p", "d", None)),
            ("refuel://p/d/", url("p", "d", None)),
            ("refuel://my project/d", url("my project", "d", None)),
            ("refuel://p/d?task=t", url("p", "d", Some("t"))),
        ] {
            assert_eq!(RefuelUrl::parse(text, "LOCATION").unwrap(), expect);
        }
        assert_eq!(url("p", "d", Some("t")).to_string(), "refuel://p/d?task=t");
        for bad in [
            "s3://p/d",
            "refuel://p",
            "refuel:///d",
            "refuel://p/d/e",
            "refuel://p/d?x=1",
            "refuel://p/d?x",
        ] {
            let err = RefuelUrl::parse(bad, "LOCATION").unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("LOCATION"), "{err}");
        }
    }
}

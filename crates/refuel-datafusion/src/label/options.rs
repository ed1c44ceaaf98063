//! The session options of `refuel_label`: `SET refuel.label.<key> = <value>`.

use std::any::Any;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::{DataFusionError, Result};

/// Rows labeled together (concurrently, through the client's limiter) when the session
/// does not say: small, so that a `LIMIT` or a filter on the result stops labeling soon.
pub const DEFAULT_BATCH_ROWS: usize = 32;

/// What a failed input gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// The query fails with the input's error.
    #[default]
    Fail,
    /// The input's labels are NULL and every field's `error` holds the message.
    Null,
}

/// `refuel.label.*`: the options of `refuel_label` in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelConfig {
    /// `refuel.label.explain`: ask for explanations (default false).
    pub explain: bool,
    /// `refuel.label.on_error`: `'fail'` (default) or `'null'`.
    pub on_error: OnError,
    /// `refuel.label.model`: the model to label with (default: the application's).
    pub model: Option<String>,
    /// `refuel.label.max_rows`: the most distinct inputs one query may send; the query
    /// fails before sending more (default: no bound).
    pub max_rows: Option<u64>,
    /// `refuel.label.batch_size`: rows labeled together per partition (default 32).
    pub batch_size: usize,
}

impl Default for LabelConfig {
    fn default() -> Self {
        Self {
            explain: false,
            on_error: OnError::Fail,
            model: None,
            max_rows: None,
            batch_size: DEFAULT_BATCH_ROWS,
        }
    }
}

impl ConfigExtension for LabelConfig {
    const PREFIX: &'static str = "refuel";
}

fn bad(key: &str, value: &str, want: &str) -> DataFusionError {
    DataFusionError::Configuration(format!("refuel.{key}: '{value}' is not {want}"))
}

fn unset(value: &str) -> bool {
    let v = value.trim();
    v.is_empty() || v.eq_ignore_ascii_case("null") || v.eq_ignore_ascii_case("none")
}

impl ExtensionOptions for LabelConfig {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let v = value.trim();
        match key {
            "label.explain" => {
                self.explain = match v.to_ascii_lowercase().as_str() {
                    "true" | "1" | "on" | "yes" => true,
                    "false" | "0" | "off" | "no" => false,
                    _ => return Err(bad(key, value, "true or false")),
                }
            }
            "label.on_error" => {
                self.on_error = match v.to_ascii_lowercase().as_str() {
                    "fail" => OnError::Fail,
                    "null" => OnError::Null,
                    _ => return Err(bad(key, value, "'fail' or 'null'")),
                }
            }
            "label.model" => self.model = (!unset(v)).then(|| v.to_string()),
            "label.max_rows" => {
                self.max_rows = if unset(v) {
                    None
                } else {
                    Some(v.parse().map_err(|_| bad(key, value, "a number of rows"))?)
                }
            }
            "label.batch_size" => {
                self.batch_size = v
                    .parse()
                    .ok()
                    .filter(|n: &usize| *n > 0)
                    .ok_or_else(|| bad(key, value, "a positive number of rows"))?
            }
            _ => {
                return Err(DataFusionError::Configuration(format!(
                    "unknown option refuel.{key}: refuel.label.explain, refuel.label.on_error, \
                     refuel.label.model, refuel.label.max_rows and refuel.label.batch_size exist"
                )));
            }
        }
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![
            ConfigEntry {
                key: "refuel.label.explain".into(),
                value: Some(self.explain.to_string()),
                description: "refuel_label asks for explanations",
            },
            ConfigEntry {
                key: "refuel.label.on_error".into(),
                value: Some(
                    match self.on_error {
                        OnError::Fail => "fail",
                        OnError::Null => "null",
                    }
                    .into(),
                ),
                description: "a failed input fails the query ('fail') or gives NULL labels and its message in `error` ('null')",
            },
            ConfigEntry {
                key: "refuel.label.model".into(),
                value: self.model.clone(),
                description: "the model refuel_label labels with (default: the application's)",
            },
            ConfigEntry {
                key: "refuel.label.max_rows".into(),
                value: self.max_rows.map(|n| n.to_string()),
                description: "the most distinct inputs one query may send to be labeled",
            },
            ConfigEntry {
                key: "refuel.label.batch_size".into(),
                value: Some(self.batch_size.to_string()),
                description: "rows refuel_label labels together per partition",
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_name_mistakes() {
        let mut c = LabelConfig::default();
        c.set("label.explain", "true").unwrap();
        c.set("label.on_error", "NULL").unwrap();
        c.set("label.model", "gpt-4o-mini").unwrap();
        c.set("label.max_rows", "100").unwrap();
        c.set("label.batch_size", "8").unwrap();
        assert_eq!(
            c,
            LabelConfig {
                explain: true,
                on_error: OnError::Null,
                model: Some("gpt-4o-mini".into()),
                max_rows: Some(100),
                batch_size: 8,
            }
        );
        let err = c.set("label.on_error", "skip").unwrap_err().to_string();
        assert!(err.contains("'skip' is not 'fail' or 'null'"), "{err}");
        assert!(c.set("label.nope", "1").is_err());
        assert!(c.set("label.batch_size", "0").is_err());
    }
}

//! Query strings with repeated keys (`filters=...&filters=...`), parsed with errors that
//! name the parameter.

use refuel_client::models::{Filter, OrderBy};

use super::error::{ApiError, ApiResult};

/// The parameters of one request's query string.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a raw query string.
    pub(super) fn parse(raw: Option<&str>) -> Self {
        // Not axum's Query<T>: it rejects repeated keys (filters, order_bys) and duplicates (here the first wins), its errors do not name the parameter, and it cannot read None/"" as absent, True/1 as booleans, or an empty offset= as rows asked for.
        Self(
            raw.map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default(),
        )
    }

    /// The first value of `key`.
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub(super) fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A required, non-empty parameter.
    pub(super) fn required(&self, key: &str) -> ApiResult<&str> {
        self.get(key)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ApiError::bad_request(format!("query parameter '{key}' is required")))
    }

    /// A non-negative integer parameter.
    pub(super) fn u64(&self, key: &str) -> ApiResult<Option<u64>> {
        match self.get(key) {
            None | Some("") | Some("None") => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "query parameter '{key}' must be a non-negative integer, got '{v}'"
                ))
            }),
        }
    }

    /// A boolean parameter: `true`/`false` in any case (the Python SDK sends `True`), or
    /// `1`/`0`.
    pub(super) fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.get(key) {
            None | Some("") | Some("None") => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(Some(false)),
            Some(v) => Err(ApiError::bad_request(format!(
                "query parameter '{key}' must be true or false, got '{v}'"
            ))),
        }
    }

    /// Every `filters` parameter, each a JSON filter object.
    pub(super) fn filters(&self) -> ApiResult<Vec<Filter>> {
        self.all("filters")
            .enumerate()
            .map(|(i, text)| {
                serde_json::from_str::<Filter>(text).map_err(|e| {
                    ApiError::bad_request(format!(
                        "filter {} is not a valid filter object ({e}): {text}",
                        i + 1
                    ))
                })
            })
            .collect()
    }

    /// Every `order_bys` parameter, each a JSON order object.
    pub(super) fn order_bys(&self) -> ApiResult<Vec<OrderBy>> {
        self.all("order_bys")
            .enumerate()
            .map(|(i, text)| {
                serde_json::from_str::<OrderBy>(text).map_err(|e| {
                    ApiError::bad_request(format!(
                        "order_bys {} is not a valid order object ({e}): {text}",
                        i + 1
                    ))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_errors() {
        let p = Params::parse(Some(
            "filters=%7B%22field%22%3A%22a%22%2C%22operator%22%3A%22%3D%22%2C%22value%22%3A%221%22%7D&filters=%7B%22field%22%3A%22b%22%2C%22operator%22%3A%22IS+NULL%22%7D&offset=5&explain=True",
        ));
        let f = p.filters().unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].field, "b");
        assert_eq!(p.u64("offset").unwrap(), Some(5));
        assert_eq!(p.bool("explain").unwrap(), Some(true));
        let bad = Params::parse(Some("filters=%7Bnope&max_items=-1"));
        assert!(
            bad.filters()
                .unwrap_err()
                .detail
                .contains("filter 1 is not a valid filter object")
        );
        assert!(bad.u64("max_items").unwrap_err().detail.contains("'-1'"));
    }
}

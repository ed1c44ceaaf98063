//! Who a caller is: the `authorization` header of a call (`Bearer <API key>`, `Bearer
//! <session token>` or `Basic <user:API key>`) and the project it asks for.
//!
//! Nothing here keeps or prints a key: [`Credential`]'s `Debug` shows only its kind.

use base64::Engine as _;
use refuel_client::ApiKey;
use tonic::Status;
use tonic::metadata::MetadataMap;

/// The header a caller names its current project in (JDBC: a URL parameter of that name).
pub const PROJECT_HEADER: &str = "x-refuel-project";

/// The prefix of the session tokens the handshake gives out, so that a stale token is told
/// apart from an API key.
pub(crate) const TOKEN_PREFIX: &str = "refuel-session-";

/// What a call authenticates with.
pub(crate) enum Credential {
    /// A Refuel API key (bearer, or the password of basic auth).
    Key(ApiKey),
    /// A session token the handshake gave out.
    Token(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Key(_) => "Credential::Key(<redacted>)",
            Self::Token(_) => "Credential::Token(<redacted>)",
        })
    }
}

/// The credential of a call, or `Unauthenticated` saying what is missing.
pub(crate) fn credential(metadata: &MetadataMap) -> Result<Credential, Status> {
    let Some(value) = metadata.get("authorization") else {
        return Err(Status::unauthenticated(
            "no credentials: send `authorization: Bearer <Refuel API key>`, or authenticate \
             with basic auth whose password is the key",
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| Status::unauthenticated("the authorization header is not ASCII text"))?
        .trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(Status::unauthenticated("the bearer credential is empty"));
        }
        if rest.starts_with(TOKEN_PREFIX) {
            return Ok(Credential::Token(rest.to_string()));
        }
        return Ok(Credential::Key(ApiKey::new(rest)));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = decode_base64(rest)
            .ok_or_else(|| Status::unauthenticated("the basic credential is not base64"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| Status::unauthenticated("the basic credential is not UTF-8"))?;
        let (_user, password) = decoded.split_once(':').unwrap_or(("", decoded.as_str()));
        if password.is_empty() {
            return Err(Status::unauthenticated(
                "basic auth needs the Refuel API key as its password",
            ));
        }
        return Ok(Credential::Key(ApiKey::new(password)));
    }
    Err(Status::unauthenticated(
        "unsupported authorization scheme: use Bearer or Basic",
    ))
}

/// Base64 with or without padding, standard or URL-safe alphabet (clients differ: Go's
/// Flight client leaves the padding out).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::alphabet::{STANDARD, URL_SAFE};
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    [STANDARD, URL_SAFE]
        .iter()
        .find_map(|alphabet| GeneralPurpose::new(alphabet, config).decode(text).ok())
}

/// The project the caller asks for, if any.
pub(crate) fn project(metadata: &MetadataMap) -> Result<Option<String>, Status> {
    let Some(value) = metadata.get(PROJECT_HEADER) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        Status::invalid_argument(format!("the {PROJECT_HEADER} header is not ASCII text"))
    })?;
    let value = value.trim();
    Ok((!value.is_empty()).then(|| value.to_string()))
}

/// A new session token: 32 random bytes, hex, behind [`TOKEN_PREFIX`].
pub(crate) fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn reads_bearer_keys_tokens_and_basic() {
        assert!(
            matches!(credential(&with("Bearer k1")), Ok(Credential::Key(k)) if k.expose() == "k1")
        );
        let token = new_token();
        assert!(
            matches!(credential(&with(&format!("bearer {token}"))), Ok(Credential::Token(t)) if t == token)
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("me:k2");
        assert!(
            matches!(credential(&with(&format!("Basic {basic}"))), Ok(Credential::Key(k)) if k.expose() == "k2")
        );
        for bad in ["Bearer ", "Digest x", "Basic !!!"] {
            let e = credential(&with(bad)).unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "{bad}");
        }
        let e = credential(&MetadataMap::new()).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert!(
            !format!("{:?}", credential(&with("Bearer secret-key")).unwrap()).contains("secret")
        );
    }
}

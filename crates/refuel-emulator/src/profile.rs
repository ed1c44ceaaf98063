//! Emulator profiles: which answers the emulator gives where the public contract leaves
//! room, so that tests can disagree with the connector's assumptions.
//!
//! - [`Profile::Default`]: the behaviour the README documents, in the shapes our own wire
//!   model serializes.
//! - [`Profile::CloudShapes`]: the same data and semantics, answered in the shapes the
//!   official TypeScript SDK declares (nullable fields `null` when empty, optional ones left
//!   out, fields we do not model added, labels of a labeled row as a map, metrics with
//!   `type`/`support` and a dictionary metric), and at most 100 rows per page. See
//!   `server::shapes`.
//! - [`Profile::Flipped`]: the default shapes, with every open behaviour of row queries the
//!   other way round ([`Semantics::flipped`]: case-insensitive text, NULLs first ascending,
//!   LIKE wildcards) and at most 100 rows per page.

use crate::query::Semantics;

/// Which answers the emulator gives where the public contract leaves room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// The documented behaviour and our own shapes.
    #[default]
    Default,
    /// The shapes the official TypeScript SDK declares; pages capped at 100 rows.
    CloudShapes,
    /// Every open query behaviour flipped; pages capped at 100 rows.
    Flipped,
}

/// The most rows one request returns in the default profile.
pub(crate) const DEFAULT_PAGE_CAP: usize = 10_000;

/// The most rows one request returns in the other profiles (the page size the SDKs use).
pub(crate) const SMALL_PAGE_CAP: usize = 100;

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 3] = [Self::Default, Self::CloudShapes, Self::Flipped];

    /// The profile's name, as `--profile` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::CloudShapes => "cloud-shapes",
            Self::Flipped => "flipped",
        }
    }

    /// How row queries treat the behaviours the contract leaves open.
    pub fn semantics(self) -> Semantics {
        match self {
            Self::Default | Self::CloudShapes => Semantics::DEFAULT,
            Self::Flipped => Semantics::flipped(),
        }
    }

    /// The most rows one request returns (`max_items` above it is cut to it;
    /// `total_count` still counts every match).
    pub fn page_cap(self) -> usize {
        match self {
            Self::Default => DEFAULT_PAGE_CAP,
            Self::CloudShapes | Self::Flipped => SMALL_PAGE_CAP,
        }
    }

    /// Whether answers take the TypeScript SDK's declared shapes.
    pub fn cloud_shapes(self) -> bool {
        self == Self::CloudShapes
    }
}

/// A profile name that is not one of [`Profile::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown emulator profile '{0}': use default, cloud-shapes or flipped")]
pub struct UnknownProfile(pub String);

impl std::str::FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownProfile(s.to_string()))
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(p.as_str().parse::<Profile>(), Ok(p));
        }
        assert_eq!("Cloud-Shapes".parse::<Profile>(), Ok(Profile::CloudShapes));
        let err = "cloud".parse::<Profile>().unwrap_err();
        assert!(err.to_string().contains("'cloud'"), "{err}");
        assert_eq!(Profile::default().page_cap(), DEFAULT_PAGE_CAP);
        assert_eq!(Profile::Flipped.page_cap(), SMALL_PAGE_CAP);
        assert_eq!(Profile::Flipped.semantics(), Semantics::flipped());
        assert_eq!(Profile::CloudShapes.semantics(), Semantics::DEFAULT);
    }
}

//! Projects.

use serde::{Deserialize, Serialize};

/// A project: the unit that groups datasets, tasks and applications of a team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// The project's UUID.
    pub id: String,
    /// The project's name, unique within a team.
    pub project_name: String,
    /// A free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// When the project was created (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When the project was last changed (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// The id of the team that owns the project.
    #[serde(default)]
    pub team: Option<String>,
}

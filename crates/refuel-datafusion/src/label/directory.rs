//! The applications `refuel_label` can name, known at planning: DataFusion asks for a
//! function's return type synchronously, and the type depends on the application's fields.
//! A listing per project is kept; a name it lacks lists the project again (an application
//! deployed after the session started is found), as tables are found.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use parking_lot::RwLock;
use refuel_client::RefuelClient;
use refuel_client::models::{Application, FieldType};

/// An application as `refuel_label` uses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelApp {
    /// Its id (label requests name it by id: no lookup per request).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its input columns ([`Application::inputs`]): the order the function's positional
    /// arguments bind in.
    pub inputs: Vec<String>,
    /// Its fields (name and type), in order: the children of the function's result.
    pub fields: Vec<(String, FieldType)>,
}

impl LabelApp {
    fn from_application(app: &Application) -> Self {
        let inputs = app.inputs();
        let fields = app
            .subtasks
            .iter()
            .filter(|s| !s.name.is_empty())
            .map(|s| (s.name.clone(), s.field_type.clone()))
            .collect();
        Self {
            id: app.id.clone(),
            name: app.name.clone(),
            inputs,
            fields,
        }
    }

    /// `application 'x' (inputs: a, b)`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "application '{}' (input columns: {})",
            self.name,
            if self.inputs.is_empty() {
                "none".to_string()
            } else {
                self.inputs.join(", ")
            }
        )
    }
}

/// The applications of the projects `refuel_label` was asked about.
#[derive(Debug)]
pub struct ApplicationDirectory {
    /// Set to the project names without one resolve in.
    client: RwLock<RefuelClient>,
    /// Project (`""`: the client's) -> application name -> application.
    projects: RwLock<HashMap<String, HashMap<String, Arc<LabelApp>>>>,
}

impl ApplicationDirectory {
    /// A directory listing through `client`; names without a project resolve in the
    /// client's project.
    pub fn new(client: RefuelClient) -> Self {
        Self {
            client: RwLock::new(client),
            projects: RwLock::default(),
        }
    }

    /// The client labels are sent with.
    pub fn client(&self) -> RefuelClient {
        self.client.read().clone()
    }

    /// Makes `project` the one names without a project resolve in (as a shell's current
    /// project).
    pub fn set_project(&self, project: &str) {
        let mut client = self.client.write();
        *client = client.with_project(project);
        self.projects.write().remove("");
    }

    /// The application `reference` names: `app` in the client's project, or
    /// `project/app`. Listed again when not known (blocking the calling thread for that
    /// listing: planning is synchronous).
    pub fn resolve(&self, reference: &str) -> Result<Arc<LabelApp>> {
        let (project, name) = match reference.split_once('/') {
            Some((p, n)) if !p.is_empty() && !n.is_empty() => (p.to_string(), n),
            _ => (String::new(), reference),
        };
        if let Some(app) = self.known(&project, name) {
            return Ok(app);
        }
        let listed: HashMap<String, Arc<LabelApp>> = self
            .list_blocking(&project)?
            .into_iter()
            .map(|a| (a.name.clone(), Arc::new(a)))
            .collect();
        let mut names: Vec<String> = listed.keys().cloned().collect();
        names.sort();
        let found = listed
            .get(name)
            .or_else(|| listed.values().find(|a| a.id == name))
            .cloned();
        self.projects.write().insert(project.clone(), listed);
        match found {
            Some(app) => Ok(app),
            None => Err(DataFusionError::Plan(format!(
                "refuel_label: application '{name}' not found in {} (applications: {})",
                match (project.as_str(), self.client().project()) {
                    ("", Some(p)) => format!("project '{p}'"),
                    ("", None) => "the current project".to_string(),
                    (p, _) => format!("project '{p}'"),
                },
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))),
        }
    }

    fn known(&self, project: &str, name: &str) -> Option<Arc<LabelApp>> {
        self.projects.read().get(project)?.get(name).cloned()
    }

    /// Lists `project`'s applications (with their fields) on a thread of its own, with a
    /// client of its own: planning may run on any runtime, or none.
    fn list_blocking(&self, project: &str) -> Result<Vec<LabelApp>> {
        let client = self.client();
        let config = client.config().clone();
        let project = if project.is_empty() {
            client.project().map(str::to_string)
        } else {
            Some(project.to_string())
        };
        let Some(project) = project else {
            return Err(DataFusionError::Plan(
                "refuel_label: no current project: name the application as 'project/application'"
                    .into(),
            ));
        };
        let listed = std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| DataFusionError::External(Box::new(e)))?;
                    runtime.block_on(async move {
                        let client = RefuelClient::new(config)
                            .map_err(crate::error::external)?
                            .with_project(project);
                        let apps = client
                            .applications()
                            .list()
                            .await
                            .map_err(crate::error::external)?;
                        let mut out = Vec::with_capacity(apps.len());
                        for app in apps {
                            // A listing may leave the fields out: ask for the application.
                            let app = if app.subtasks.is_empty() {
                                client
                                    .applications()
                                    .get(&app.id)
                                    .await
                                    .map_err(crate::error::external)?
                            } else {
                                app
                            };
                            out.push(LabelApp::from_application(&app));
                        }
                        Ok::<_, DataFusionError>(out)
                    })
                })
                .join()
        });
        listed.map_err(|_| DataFusionError::Internal("listing applications panicked".into()))?
    }
}

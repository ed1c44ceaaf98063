//! Finetuning: train a model on a task's labels — start, list, get, cancel.

use reqwest::Method;

use crate::RefuelClient;
use crate::error::{Error, ResourceKind, Result};
use crate::models::{BASE_MODELS, FinetuneRequest, Hyperparameters, LabelingModel};
use crate::retry::Idempotency;
use crate::transport::Call;

/// The finetuned models of the client's current project.
#[derive(Debug, Clone, Copy)]
pub struct Finetuning<'c> {
    client: &'c RefuelClient,
}

impl<'c> Finetuning<'c> {
    pub(crate) fn new(client: &'c RefuelClient) -> Self {
        Self { client }
    }

    /// Starts finetuning `base_model` (one of [`BASE_MODELS`]) on the labels of a task
    /// (name or id), from the given datasets (names or ids; all of the task's when empty).
    /// The request is the Python SDK's `finetune_model` (`client.py:1288-1302`): LoRA, no
    /// cap on training rows, no augmentation, `datasets: null` when none are given, and
    /// `hyperparameters: {"num_epochs": 1}` (the SDK's default) when none is set; set ones
    /// are sent as they are and the others take the platform's defaults. Starting a run is
    /// not retried blindly (a retry could start a second one).
    pub async fn start(
        &self,
        task: &str,
        base_model: &str,
        hyperparameters: &Hyperparameters,
        datasets: &[&str],
    ) -> Result<LabelingModel> {
        check_base_model(base_model)?;
        let project_id = self.client.project_id().await?;
        let task_id = self.client.tasks().id(task).await?;
        let handler = self.client.datasets();
        let dataset_ids =
            futures::future::try_join_all(datasets.iter().map(|d| handler.id(d))).await?;
        let request = finetune_request(
            project_id.clone(),
            task_id,
            base_model,
            hyperparameters,
            dataset_ids,
        )?;
        let body = request_body(&request);
        let call = Call::new(
            Method::POST,
            format!("/projects/{}/finetuned_models", super::segment(&project_id)),
            format!("start finetuning {base_model} on task '{task}'"),
        )
        .json(&body);
        self.client.transport().call(&call).await
    }

    /// The finetuned models of the current project, only those of `task` (name or id) when
    /// given (`?task_id=T`, absent otherwise, as the Python SDK's `get_finetuned_models`,
    /// `client.py:1306-1307`).
    pub async fn list(&self, task: Option<&str>) -> Result<Vec<LabelingModel>> {
        let project_id = self.client.project_id().await?;
        let mut call = Call::get(
            format!("/projects/{}/finetuned_models", super::segment(&project_id)),
            match task {
                Some(task) => format!("list the finetuned models of task '{task}'"),
                None => "list finetuned models".to_string(),
            },
        );
        if let Some(task) = task {
            call = call.query("task_id", self.client.tasks().id(task).await?);
        }
        self.client.transport().call(&call).await
    }

    /// One finetuned model, by id.
    pub async fn get(&self, model_id: &str) -> Result<LabelingModel> {
        super::require(model_id, "the model id")?;
        let call = Call::get(
            format!("/finetuned_models/{}", super::segment(model_id)),
            format!("get finetuned model '{model_id}'"),
        );
        self.client
            .transport()
            .call(&call)
            .await
            .map_err(|e| super::not_found(e, ResourceKind::FinetunedModel, model_id, self.client))
    }

    /// Cancels a finetuning run (its status becomes `INTERRUPTED`), and returns the model.
    /// Cancelling twice is harmless, so the call is retried like a read.
    pub async fn cancel(&self, model_id: &str) -> Result<LabelingModel> {
        super::require(model_id, "the model id")?;
        let body = cancel_body(model_id);
        let call = Call::new(
            Method::PATCH,
            format!("/finetuned_models/{}", super::segment(model_id)),
            format!("cancel finetuning of model '{model_id}'"),
        )
        .idempotency(Idempotency::Idempotent)
        .json(&body);
        self.client
            .transport()
            .call(&call)
            .await
            .map_err(|e| super::not_found(e, ResourceKind::FinetunedModel, model_id, self.client))
    }
}

/// Fails unless `base_model` is one of [`BASE_MODELS`].
fn check_base_model(base_model: &str) -> Result<()> {
    if BASE_MODELS.contains(&base_model) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "unknown base model '{base_model}'; valid base models: {}",
            BASE_MODELS.join(", ")
        )))
    }
}

/// The body of a finetuning start, as the Python SDK builds it.
fn finetune_request(
    project_id: String,
    task_id: String,
    base_model: &str,
    hyperparameters: &Hyperparameters,
    dataset_ids: Vec<String>,
) -> Result<FinetuneRequest> {
    let mut hyperparameters = serde_json::to_value(hyperparameters)
        .map_err(|e| Error::InvalidArgument(format!("hyperparameters: {e}")))?;
    if hyperparameters.as_object().is_none_or(|h| h.is_empty()) {
        // The SDK's default argument (`client.py:1285`).
        hyperparameters = serde_json::json!({ "num_epochs": 1 });
    }
    Ok(FinetuneRequest {
        project_id,
        task_id,
        base_model: base_model.to_string(),
        hyperparameters,
        datasets: (!dataset_ids.is_empty()).then_some(dataset_ids),
        lora: Some(true),
        max_training_rows: None,
        augmented_finetuning_model: Some(false),
    })
}

/// The JSON body of a finetuning start, in the Python SDK's key order
/// (`client.py:1288-1297`).
fn request_body(request: &FinetuneRequest) -> serde_json::Value {
    serde_json::json!({
        "project_id": request.project_id,
        "task_id": request.task_id,
        "max_training_rows": request.max_training_rows,
        "lora": request.lora,
        "base_model": request.base_model,
        "augmented_finetuning_model": request.augmented_finetuning_model,
        "hyperparameters": request.hyperparameters,
        "datasets": request.datasets,
    })
}

/// The body of a cancellation (`client.py:1314-1317`).
fn cancel_body(model_id: &str) -> serde_json::Value {
    serde_json::json!({ "model_id": model_id, "finetuning_run_status": "INTERRUPTED" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_models() {
        assert!(check_base_model("refuel-llm-v2-small").is_ok());
        let err = check_base_model("gpt-4o").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid argument: unknown base model 'gpt-4o'; valid base models: \
             refuel-llm-v2-large, refuel-llm-v2-small"
        );
    }

    #[test]
    fn request_bodies() {
        let hp = Hyperparameters {
            num_epochs: Some(2),
            learning_rate: Some(0.0002),
            ..Default::default()
        };
        let request = finetune_request(
            "p".into(),
            "t".into(),
            "refuel-llm-v2-large",
            &hp,
            vec!["d1".into()],
        )
        .unwrap();
        let expected = json!({
            "project_id": "p",
            "task_id": "t",
            "max_training_rows": null,
            "lora": true,
            "base_model": "refuel-llm-v2-large",
            "augmented_finetuning_model": false,
            "hyperparameters": {"num_epochs": 2, "learning_rate": 0.0002},
            "datasets": ["d1"],
        });
        assert_eq!(request_body(&request), expected);
        assert_eq!(request_body(&request).to_string(), expected.to_string());
        let request = finetune_request(
            "p".into(),
            "t".into(),
            "refuel-llm-v2-small",
            &Hyperparameters::default(),
            vec![],
        )
        .unwrap();
        assert_eq!(request.datasets, None);
        assert_eq!(request.hyperparameters, json!({"num_epochs": 1}));
        assert_eq!(request_body(&request)["datasets"], json!(null));
        assert_eq!(
            cancel_body("m-1"),
            json!({"model_id": "m-1", "finetuning_run_status": "INTERRUPTED"})
        );
    }
}

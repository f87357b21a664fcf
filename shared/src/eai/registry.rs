//! The EAI Transactions fila accepts (configuration `[[eai_transactions]]`),
//! with their destination and their Content schemas compiled once at start.
//! A Version without a schema is accepted without validation.

use std::collections::HashMap;
use std::time::Duration;

use jsonschema::Validator;
use serde_json::Value;

use crate::config::{EaiDestination, EaiTransactionConfig};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("eai_transactions: schema {path} of {transaction}: {reason}")]
    Schema {
        transaction: String,
        path: String,
        reason: String,
    },
}

/// Where a Transaction's messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Store,
    Http { url: String, timeout: Duration },
}

pub struct Transaction {
    pub name: String,
    pub destination: Destination,
    schemas: HashMap<String, Validator>,
}

impl Transaction {
    /// Checks a Content against the schema of its Version; the error lists
    /// every violation with its place in the Content.
    pub fn validate(&self, version: &str, content: &Value) -> Result<(), String> {
        let Some(validator) = self.schemas.get(version) else {
            return Ok(());
        };
        let errors: Vec<String> = validator
            .iter_errors(content)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

pub struct Registry {
    transactions: HashMap<String, Transaction>,
}

impl Registry {
    pub fn load(configs: &[EaiTransactionConfig]) -> Result<Self, RegistryError> {
        let mut transactions = HashMap::new();
        for config in configs {
            let name = config.transaction.trim().to_ascii_uppercase();
            let mut schemas = HashMap::new();
            for (version, path) in &config.schemas {
                let schema_error = |reason: String| RegistryError::Schema {
                    transaction: name.clone(),
                    path: path.display().to_string(),
                    reason,
                };
                let text =
                    std::fs::read_to_string(path).map_err(|e| schema_error(e.to_string()))?;
                let schema: Value =
                    serde_json::from_str(&text).map_err(|e| schema_error(e.to_string()))?;
                let validator =
                    jsonschema::validator_for(&schema).map_err(|e| schema_error(e.to_string()))?;
                schemas.insert(version.clone(), validator);
            }
            let destination = match (config.destination, &config.url) {
                (EaiDestination::Http, Some(url)) => Destination::Http {
                    url: url.clone(),
                    timeout: Duration::from_secs(config.timeout_secs),
                },
                _ => Destination::Store,
            };
            transactions.insert(
                name.clone(),
                Transaction {
                    name,
                    destination,
                    schemas,
                },
            );
        }
        Ok(Self { transactions })
    }

    /// A Transaction by name, ignoring case.
    pub fn get(&self, name: &str) -> Option<&Transaction> {
        self.transactions.get(&name.to_ascii_uppercase())
    }
}

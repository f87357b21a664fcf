//! The EAI Transactions fila accepts, with their destination and their
//! Content schemas compiled when they are read. They come from the
//! configuration (`[[eai_transactions]]`, read at start) and from the file
//! named by `eai_transactions_file` (the same tables), which API and workers
//! read again whenever it changes, so that a Transaction registered there
//! reaches running processes without a restart. A reading of the file that
//! fails (bad TOML, an invalid Transaction, an unreadable schema, a
//! Transaction also given inline) keeps the Transactions in force. A Version
//! without a schema is accepted without validation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jsonschema::Validator;
use serde::Deserialize;
use serde_json::Value;

use crate::config::{EaiDestination, EaiTransactionConfig};
use crate::watched_file::WatchedFile;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("eai_transactions: schema {path} of {transaction}: {reason}")]
    Schema {
        transaction: String,
        path: String,
        reason: String,
    },
    #[error("eai_transactions_file {path}: {reason}")]
    File { path: String, reason: String },
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
    fn compile(config: &EaiTransactionConfig) -> Result<Self, RegistryError> {
        let name = config.transaction.trim().to_ascii_uppercase();
        let mut schemas = HashMap::new();
        for (version, path) in &config.schemas {
            let schema_error = |reason: String| RegistryError::Schema {
                transaction: name.clone(),
                path: path.display().to_string(),
                reason,
            };
            let text = std::fs::read_to_string(path).map_err(|e| schema_error(e.to_string()))?;
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
        Ok(Transaction {
            name,
            destination,
            schemas,
        })
    }

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

/// The file's shape: the configuration's `[[eai_transactions]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransactionsFile {
    #[serde(default)]
    eai_transactions: Vec<EaiTransactionConfig>,
}

/// One reading: the inline Transactions and the file's, by name.
#[derive(Default)]
struct Transactions(HashMap<String, Arc<Transaction>>);

impl Transactions {
    fn read(inline: &[EaiTransactionConfig], file: Option<&Path>) -> Result<Self, RegistryError> {
        let mut transactions = HashMap::new();
        for config in inline {
            let transaction = Transaction::compile(config)?;
            transactions.insert(transaction.name.clone(), Arc::new(transaction));
        }
        let Some(path) = file else {
            return Ok(Self(transactions));
        };
        let file_error = |reason: String| RegistryError::File {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let read: TransactionsFile =
            toml::from_str(&text).map_err(|e| file_error(e.to_string()))?;
        for config in &read.eai_transactions {
            config.check().map_err(file_error)?;
            let transaction = Transaction::compile(config)?;
            let name = transaction.name.clone();
            if let Some(earlier) = transactions.insert(name.clone(), Arc::new(transaction)) {
                let inline = inline
                    .iter()
                    .any(|c| c.transaction.trim().eq_ignore_ascii_case(&earlier.name));
                let place = if inline {
                    "also given inline"
                } else {
                    "given twice"
                };
                return Err(file_error(format!("Transaction {name} is {place}")));
            }
        }
        Ok(Self(transactions))
    }
}

/// The Transactions in force.
pub struct Registry {
    file: Arc<WatchedFile<Transactions, RegistryError>>,
}

impl Registry {
    /// Reads the inline Transactions and the file (none: the inline ones
    /// only); an error stops the start.
    pub fn load(
        inline: &[EaiTransactionConfig],
        file: Option<&Path>,
    ) -> Result<Arc<Self>, RegistryError> {
        let inline = inline.to_vec();
        let file = WatchedFile::load("EAI Transactions", file, move |path| {
            Transactions::read(&inline, path)
        })?;
        Ok(Arc::new(Self { file }))
    }

    /// A Transaction by name, ignoring case; when it is unknown, the file is
    /// looked at again first (it may have just gained it).
    pub fn get(&self, name: &str) -> Option<Arc<Transaction>> {
        let name = name.trim().to_ascii_uppercase();
        let known = |registry: &Self| registry.file.current().0.get(&name).cloned();
        known(self).or_else(|| {
            self.file.reload_if_changed();
            known(self)
        })
    }

    /// Reads the file again whenever it changes, for the life of the
    /// process.
    pub fn watch(&self) {
        self.file.watch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str) -> EaiTransactionConfig {
        EaiTransactionConfig {
            transaction: name.into(),
            destination: EaiDestination::Store,
            url: None,
            timeout_secs: 30,
            schemas: Default::default(),
        }
    }

    #[test]
    fn the_file_adds_to_the_inline_transactions_and_is_checked() {
        let dir = std::env::temp_dir().join(format!("fila-registry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("transactions.toml");
        let write = |text: &str| std::fs::write(&file, text).expect("write");

        write(
            "[[eai_transactions]]\ntransaction = \"order\"\ndestination = \"http\"\nurl = \"http://erp/order\"\n",
        );
        let registry = Registry::load(&[config("ITEM")], Some(&file)).expect("reads");
        assert!(registry.get("item").is_some());
        assert!(matches!(
            registry.get("ORDER").map(|t| t.destination.clone()),
            Some(Destination::Http { .. })
        ));
        assert!(registry.get("CUSTOMERVENDOR").is_none());

        let refused = |text: &str| {
            write(text);
            Registry::load(&[config("ITEM")], Some(&file))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(
            refused("[[eai_transactions]]\ntransaction = \"ITEM\"\n").contains("also given inline")
        );
        assert!(
            refused("[[eai_transactions]]\ntransaction = \"A\"\n[[eai_transactions]]\ntransaction = \"a\"\n")
                .contains("given twice")
        );
        assert!(
            refused("[[eai_transactions]]\ntransaction = \"A\"\ndestination = \"http\"\n")
                .contains("url")
        );
        assert!(
            refused("[[eai_transactions]]\ntransaction = \"A\"\ntimeout_secs = 0\n")
                .contains("timeout_secs")
        );
        assert!(refused("[[eai_transaction]]\ntransaction = \"A\"\n").contains("unknown field"));
        assert!(
            refused("[[eai_transactions]]\ntransaction = \"A\"\n[eai_transactions.schemas]\n\"1\" = \"/nonexistent.json\"\n")
                .contains("schema")
        );
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn without_a_file_the_inline_transactions_are_in_force() {
        let registry = Registry::load(&[config(" customerVendor ")], None).expect("reads");
        assert_eq!(
            registry.get("CustomerVendor").map(|t| t.name.clone()),
            Some("CUSTOMERVENDOR".to_string())
        );
        assert!(registry.get("ITEM").is_none());
    }
}

//! The branch registry ("complemento de empresas"): which ERP branch
//! (`sourceBranch`, TAFFIL) belongs to which company group, and optionally the
//! employer registration its events must carry. Seeded from configuration at
//! start and edited through the admin API.

use std::collections::HashMap;

use deadpool_postgres::{GenericClient, Pool};
use serde::{Deserialize, Serialize};

use super::lot::BranchLookup;
use crate::config::BranchConfig;
use crate::db::StoreError;

const MAX_CODE: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branch {
    #[serde(rename = "sourceBranch")]
    pub source_branch: String,
    #[serde(rename = "companyGroup")]
    pub company_group: String,
    /// CNPJ (14 digits), its root (8) or CPF (11) of the employer.
    pub registration: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BranchError {
    #[error("sourceBranch must have 1 to 12 printable characters")]
    SourceBranch,
    #[error("companyGroup must have 1 to 12 printable characters")]
    CompanyGroup,
    #[error("registration must be 8, 11 or 14 digits")]
    Registration,
}

impl Branch {
    /// A checked branch; blanks around values are dropped.
    pub fn new(
        source_branch: &str,
        company_group: &str,
        registration: Option<&str>,
    ) -> Result<Self, BranchError> {
        let source_branch = source_branch.trim();
        let company_group = company_group.trim();
        let valid = |code: &str| {
            !code.is_empty()
                && code.chars().count() <= MAX_CODE
                && !code.chars().any(char::is_control)
        };
        if !valid(source_branch) {
            return Err(BranchError::SourceBranch);
        }
        if !valid(company_group) {
            return Err(BranchError::CompanyGroup);
        }
        let registration = registration.map(str::trim).filter(|r| !r.is_empty());
        if let Some(r) = registration
            && (!matches!(r.len(), 8 | 11 | 14) || !r.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(BranchError::Registration);
        }
        Ok(Self {
            source_branch: source_branch.to_string(),
            company_group: company_group.to_string(),
            registration: registration.map(str::to_string),
        })
    }

    pub fn from_config(config: &BranchConfig) -> Result<Self, BranchError> {
        Self::new(
            &config.source_branch,
            &config.company_group,
            config.registration.as_deref(),
        )
    }
}

fn from_row(row: &tokio_postgres::Row) -> Branch {
    Branch {
        source_branch: row.get(0),
        company_group: row.get(1),
        registration: row.get(2),
    }
}

/// The registered branches among `codes`, and whether any branch exists.
/// A code with a NUL character names no branch.
pub async fn lookup(
    client: &impl GenericClient,
    codes: &[String],
) -> Result<BranchLookup, StoreError> {
    let codes: Vec<&String> = codes.iter().filter(|c| !c.contains('\0')).collect();
    let statement = client
        .prepare_cached(
            "SELECT source_branch, company_group, registration FROM taf_branch
             WHERE source_branch = ANY($1)",
        )
        .await?;
    let found: HashMap<String, Branch> = client
        .query(&statement, &[&codes])
        .await?
        .iter()
        .map(|row| {
            let branch = from_row(row);
            (branch.source_branch.clone(), branch)
        })
        .collect();
    let registry_empty = found.is_empty()
        && client
            .query_opt("SELECT 1 FROM taf_branch LIMIT 1", &[])
            .await?
            .is_none();
    Ok(BranchLookup {
        found,
        registry_empty,
    })
}

pub async fn list(pool: &Pool) -> Result<Vec<Branch>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT source_branch, company_group, registration FROM taf_branch
             ORDER BY source_branch",
            &[],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Adds or replaces a branch; `true` when it is new.
pub async fn upsert(pool: &Pool, branch: &Branch) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "INSERT INTO taf_branch (source_branch, company_group, registration)
             VALUES ($1, $2, $3)
             ON CONFLICT (source_branch) DO UPDATE
                 SET company_group = excluded.company_group,
                     registration = excluded.registration,
                     updated_at = now()
             RETURNING (xmax = 0)",
            &[
                &branch.source_branch,
                &branch.company_group,
                &branch.registration,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// Removes a branch; `false` when there was none.
pub async fn remove(pool: &Pool, source_branch: &str) -> Result<bool, StoreError> {
    if source_branch.contains('\0') {
        return Ok(false);
    }
    let client = pool.get().await?;
    let deleted = client
        .execute(
            "DELETE FROM taf_branch WHERE source_branch = $1",
            &[&source_branch],
        )
        .await?;
    Ok(deleted > 0)
}

/// Inserts or updates the configured branches (at start).
pub async fn seed(pool: &Pool, branches: &[BranchConfig]) -> Result<usize, SeedError> {
    for config in branches {
        upsert(pool, &Branch::from_config(config)?).await?;
    }
    Ok(branches.len())
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("taf_branches: {0}")]
    Branch(#[from] BranchError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_values() {
        assert!(Branch::new("0100", "01", None).is_ok());
        assert_eq!(Branch::new(" ", "01", None), Err(BranchError::SourceBranch));
        assert_eq!(
            Branch::new("0100", "", None),
            Err(BranchError::CompanyGroup)
        );
        assert_eq!(
            Branch::new("0100", "01", Some("123")),
            Err(BranchError::Registration)
        );
        assert_eq!(
            Branch::new("0100", "01", Some(" "))
                .expect("valid")
                .registration,
            None
        );
    }
}

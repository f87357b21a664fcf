//! The `sourceBranch` of a GET or DELETE: as on the real server, a branch
//! that is not in the branch registry answers the lot-level 803 (HTTP 200),
//! and a registered one limits the request to its company group (the real
//! server runs it in that group's environment). None: no limit.

use fila_shared::db::StoreError;
use fila_shared::taf::branch;
use fila_shared::taf::codes::Refusal;

use super::errors::TafError;
use crate::state::SharedState;

/// The company group of `source_branch`, when one is given.
pub async fn company_group(
    state: &SharedState,
    source_branch: Option<&str>,
) -> Result<Option<String>, TafError> {
    let Some(code) = source_branch else {
        return Ok(None);
    };
    let client = state.pool.get().await.map_err(StoreError::from)?;
    branch::lookup(&client, &[code.to_string()])
        .await?
        .found
        .remove(code)
        .map(|b| Some(b.company_group))
        .ok_or(TafError::Refused(Refusal::LotBranchNotRegistered))
}

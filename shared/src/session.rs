//! Login sessions, for clients that authenticate once and then send a
//! cookie and a CSRF header (Creatio's AuthService.svc). Sessions live in
//! PostgreSQL so that every API replica knows them; only the SHA-256 of a
//! token is stored. A session lasts `session_ttl_secs` after its last use.

use std::time::Duration;

use deadpool_postgres::Pool;
use sha2::{Digest, Sha256};

use crate::db::StoreError;

/// A new session's secrets, to hand to the client.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf: String,
}

/// A session found by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub csrf: String,
}

fn random() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub async fn create(pool: &Pool, user: &str, ttl: Duration) -> Result<NewSession, StoreError> {
    let session = NewSession {
        token: random(),
        csrf: random(),
    };
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO api_session (token_hash, user_name, csrf, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
            &[
                &hash(&session.token),
                &user,
                &session.csrf,
                &ttl.as_secs_f64(),
            ],
        )
        .await?;
    client
        .execute("DELETE FROM api_session WHERE expires_at < now()", &[])
        .await?;
    Ok(session)
}

/// The live session of `token`, its life extended by `ttl`.
pub async fn find(pool: &Pool, token: &str, ttl: Duration) -> Result<Option<Session>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "UPDATE api_session SET expires_at = now() + make_interval(secs => $2)
             WHERE token_hash = $1 AND expires_at > now()
             RETURNING user_name, csrf",
            &[&hash(token), &ttl.as_secs_f64()],
        )
        .await?;
    Ok(row.map(|row| Session {
        user: row.get(0),
        csrf: row.get(1),
    }))
}

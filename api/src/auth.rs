//! Authentication against the configured users, whose passwords are argon2
//! hashes: HTTP Basic on every request, or a login session (Creatio's
//! `AuthService.svc/Login`: the `.ASPXAUTH` cookie, plus the `BPMCSRF`
//! header on requests other than GET, HEAD and OPTIONS, as CSRF defence).
//!
//! Verifying argon2 costs tens of milliseconds of CPU by design, too much
//! for every request of a busy producer, so a successful
//! verification is remembered for [`CACHE_TTL`] as a SHA-256 digest of the
//! password (never the password itself). Unknown users cost a verification
//! against a dummy hash, so timing does not tell which users exist.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fila_shared::config::{Role, UserConfig};
use fila_shared::session;
use sha2::{Digest, Sha256};

use crate::errors::ApiError;
use crate::state::SharedState;

/// How long a verified password is trusted without argon2.
const CACHE_TTL: Duration = Duration::from_secs(300);

struct User {
    hash: String,
    roles: Vec<Role>,
}

struct Verified {
    digest: Vec<u8>,
    until: Instant,
}

/// The configured users and the cache of recent verifications.
pub struct Users {
    users: HashMap<String, User>,
    dummy_hash: String,
    verified: Mutex<HashMap<String, Verified>>,
}

/// Who made a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    roles: Vec<Role>,
}

impl Caller {
    pub fn may(&self, role: Role) -> bool {
        self.roles.contains(&Role::Admin) || self.roles.contains(&role)
    }
}

impl Users {
    pub fn new(configs: &[UserConfig]) -> Self {
        let users = configs
            .iter()
            .map(|u| {
                (
                    u.name.clone(),
                    User {
                        hash: u.password_hash.clone(),
                        roles: u.roles.clone(),
                    },
                )
            })
            .collect();
        Self {
            users,
            dummy_hash: hash_password("fila-dummy-password").unwrap_or_default(),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Checks the `Authorization` header.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let (name, password) = basic_credentials(headers).ok_or(ApiError::Unauthenticated)?;
        self.verify(name, password).await
    }

    /// Checks a user's password.
    pub async fn verify(&self, name: String, password: String) -> Result<Caller, ApiError> {
        let digest = Sha256::digest(password.as_bytes()).to_vec();
        let user = self.users.get(&name);
        if let Some(user) = user
            && self.recently_verified(&name, &digest)
        {
            return Ok(Caller {
                name,
                roles: user.roles.clone(),
            });
        }
        let hash = user.map_or(self.dummy_hash.clone(), |u| u.hash.clone());
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        match user {
            Some(user) if matches => {
                self.remember(&name, digest);
                Ok(Caller {
                    name,
                    roles: user.roles.clone(),
                })
            }
            _ => Err(ApiError::Unauthenticated),
        }
    }

    /// A configured user, without a password (a session's).
    fn caller(&self, name: &str) -> Option<Caller> {
        self.users.get(name).map(|user| Caller {
            name: name.to_string(),
            roles: user.roles.clone(),
        })
    }

    fn recently_verified(&self, name: &str, digest: &[u8]) -> bool {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified
            .get(name)
            .is_some_and(|v| v.until > Instant::now() && v.digest == digest)
    }

    fn remember(&self, name: &str, digest: Vec<u8>) {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified.insert(
            name.to_string(),
            Verified {
                digest,
                until: Instant::now() + CACHE_TTL,
            },
        );
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_string(), password.to_string()))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// An argon2id PHC string for `password`, with a random salt.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

/// Middleware: the caller must be a producer (or an admin).
pub async fn require_producer(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    require(&state, Role::Producer, request, next).await
}

/// Middleware: the caller must be an admin.
pub async fn require_admin(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    require(&state, Role::Admin, request, next).await
}

async fn require(
    state: &SharedState,
    role: Role,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let caller = match cookie(headers, SESSION_COOKIE) {
        Some(token) if !headers.contains_key(AUTHORIZATION) => {
            session_caller(state, request.method(), headers, token).await?
        }
        _ => state.users.authenticate(headers).await?,
    };
    if !caller.may(role) {
        return Err(ApiError::Forbidden);
    }
    tracing::debug!(user = %caller.name, "authenticated");
    Ok(next.run(request).await)
}

/// The session cookie of a Creatio login.
pub const SESSION_COOKIE: &str = ".ASPXAUTH";
/// The cookie, and header, of the session's CSRF value.
pub const CSRF: &str = "BPMCSRF";

/// A cookie of the request.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// The caller of a login session; a request that changes something must
/// also carry the session's CSRF value in the `BPMCSRF` header.
async fn session_caller(
    state: &SharedState,
    method: &Method,
    headers: &HeaderMap,
    token: &str,
) -> Result<Caller, ApiError> {
    let ttl = Duration::from_secs(state.config.session_ttl_secs);
    let session = session::find(&state.pool, token, ttl)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let csrf = headers.get(CSRF).and_then(|v| v.to_str().ok());
    if !safe && csrf != Some(session.csrf.as_str()) {
        return Err(ApiError::Unauthenticated);
    }
    state
        .users
        .caller(&session.user)
        .ok_or(ApiError::Unauthenticated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn users() -> Users {
        Users::new(&[UserConfig {
            name: "erp".into(),
            password_hash: hash_password("secret").expect("hashes"),
            roles: vec![Role::Producer],
        }])
    }

    fn header(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        headers
    }

    fn basic(user: &str, password: &str) -> HeaderMap {
        header(&format!(
            "Basic {}",
            STANDARD.encode(format!("{user}:{password}"))
        ))
    }

    #[tokio::test]
    async fn accepts_the_right_password_twice() {
        let users = users();
        for _ in 0..2 {
            let caller = users
                .authenticate(&basic("erp", "secret"))
                .await
                .expect("in");
            assert!(caller.may(Role::Producer) && !caller.may(Role::Admin));
        }
    }

    #[tokio::test]
    async fn refuses_wrong_passwords_unknown_users_and_garbage() {
        let users = users();
        users
            .authenticate(&basic("erp", "secret"))
            .await
            .expect("in");
        for headers in [
            basic("erp", "wrong"),
            basic("nobody", "secret"),
            header("Basic !!!"),
            header("Bearer abc"),
            HeaderMap::new(),
        ] {
            assert!(users.authenticate(&headers).await.is_err());
        }
    }
}

//! Authentication against the configured users, whose passwords are argon2
//! hashes: HTTP Basic on every request, or a login session (Creatio's
//! `AuthService.svc/Login`: the `.ASPXAUTH` cookie, plus the `BPMCSRF`
//! header on requests other than GET, HEAD and OPTIONS, as CSRF defence).
//!
//! Verifying argon2 costs tens of milliseconds of CPU by design, too much
//! for every request of a busy producer, so a successful
//! verification is remembered for [`CACHE_TTL`] as a SHA-256 digest of the
//! password (never the password itself), compared in constant time. Unknown
//! users cost a verification against a dummy hash, so timing does not tell
//! which users exist. Each verification takes argon2's memory (about
//! 19 MiB): no more run at once than the machine has cores, and a request
//! that waited for its turn looks at the cache again, so that a burst of
//! requests with the same new credentials (a producer's connections
//! starting together, or after the cache expired) verifies them once
//! rather than once per request, and a flood of wrong passwords cannot
//! take memory without bound.
//!
//! Failed logins are counted per client address (the TCP peer: behind a
//! proxy, the proxy's address): after `login_max_failures` within
//! `login_failure_window_secs` (successes in between do not reset the
//! count), the address's logins are refused with 429 and `Retry-After`
//! until the window ends, right or wrong. A request without credentials is
//! not a failed login.
//!
//! Roles: `admin` may do everything; `producer` may submit work and read
//! statuses; `reader` may only read statuses. Each route says which it
//! needs (see `policy`). A user may further be limited to a TAF [`Scope`],
//! and then call only TAF's routes.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use argon2::Argon2;
use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::PasswordHash;
use axum::extract::{ConnectInfo, Request};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, Method};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fila_shared::config::{Role, UserConfig};
use fila_shared::password::hash_password;
use fila_shared::session;
use fila_shared::taf::scope::Scope;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::errors::ApiError;
use crate::state::SharedState;

/// How long a verified password is trusted without argon2.
const CACHE_TTL: Duration = Duration::from_secs(300);

struct User {
    hash: String,
    roles: Vec<Role>,
    scope: Scope,
}

struct Verified {
    digest: Vec<u8>,
    until: Instant,
}

/// Failed logins of one client address in the current window.
struct Failures {
    count: u32,
    since: Instant,
}

/// The configured users, the cache of recent verifications and the failed
/// logins per client address.
pub struct Users {
    users: HashMap<String, User>,
    dummy_hash: String,
    verified: Mutex<HashMap<String, Verified>>,
    /// Turns to run argon2, one per core.
    verifying: Semaphore,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    max_failures: u32,
    window: Duration,
}

/// Client addresses tracked at most; past this, expired windows are
/// dropped, then the oldest.
const FAILURES_TRACKED: usize = 10_000;

/// Who made a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    roles: Vec<Role>,
    /// The TAF records the caller may see and touch.
    pub scope: Scope,
}

impl Caller {
    pub fn may(&self, role: Role) -> bool {
        self.roles.iter().any(|held| match held {
            Role::Admin => true,
            Role::Producer => matches!(role, Role::Producer | Role::Reader),
            Role::Reader => role == Role::Reader,
        })
    }

    fn of(name: String, user: &User) -> Self {
        Self {
            name,
            roles: user.roles.clone(),
            scope: user.scope.clone(),
        }
    }
}

impl Users {
    pub fn new(configs: &[UserConfig], max_failures: u32, window: Duration) -> Self {
        let users = configs
            .iter()
            .map(|u| {
                (
                    u.name.clone(),
                    User {
                        hash: u.password_hash.clone(),
                        roles: u.roles.clone(),
                        scope: u.scope(),
                    },
                )
            })
            .collect();
        Self {
            users,
            dummy_hash: hash_password("fila-dummy-password").unwrap_or_default(),
            verified: Mutex::new(HashMap::new()),
            verifying: Semaphore::new(std::thread::available_parallelism().map_or(1, usize::from)),
            failures: Mutex::new(HashMap::new()),
            max_failures,
            window,
        }
    }

    /// Checks the `Authorization` header of a request from `client`.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Result<Caller, ApiError> {
        if !headers.contains_key(AUTHORIZATION) {
            return Err(ApiError::Unauthenticated);
        }
        self.refuse_if_blocked(client)?;
        let verified = match basic_credentials(headers) {
            Some((name, password)) => self.verify_password(name, password).await,
            None => Err(ApiError::Unauthenticated),
        };
        if verified.is_err() {
            self.record_failure(client);
        }
        verified
    }

    /// Checks a user's password, given by `client`.
    pub async fn verify(
        &self,
        name: String,
        password: String,
        client: IpAddr,
    ) -> Result<Caller, ApiError> {
        self.refuse_if_blocked(client)?;
        let verified = self.verify_password(name, password).await;
        if verified.is_err() {
            self.record_failure(client);
        }
        verified
    }

    /// 429 while `client` has used up its failed logins.
    fn refuse_if_blocked(&self, client: IpAddr) -> Result<(), ApiError> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.get(&client) {
            Some(f) if f.count >= self.max_failures && f.since.elapsed() < self.window => {
                let left = self.window.saturating_sub(f.since.elapsed());
                Err(ApiError::TooManyFailedLogins {
                    retry_after: left.as_secs().max(1),
                })
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed login from `client`. Successes do not reset the
    /// count (one good account must not cover guessing at others); the
    /// count ends with its window.
    fn record_failure(&self, client: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if failures.len() >= FAILURES_TRACKED && !failures.contains_key(&client) {
            failures.retain(|_, f| now.duration_since(f.since) < self.window);
            if failures.len() >= FAILURES_TRACKED
                && let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, f)| f.since)
                    .map(|(ip, _)| *ip)
            {
                failures.remove(&oldest);
            }
        }
        let entry = failures.entry(client).or_insert(Failures {
            count: 0,
            since: now,
        });
        if now.duration_since(entry.since) >= self.window {
            *entry = Failures {
                count: 0,
                since: now,
            };
        }
        entry.count = entry.count.saturating_add(1);
        if entry.count == self.max_failures {
            tracing::warn!(%client, failures = entry.count, "failed logins: this address is refused until its window ends");
        }
    }

    async fn verify_password(&self, name: String, password: String) -> Result<Caller, ApiError> {
        let digest = Sha256::digest(password.as_bytes()).to_vec();
        let user = self.users.get(&name);
        if let Some(user) = user
            && self.recently_verified(&name, &digest)
        {
            return Ok(Caller::of(name, user));
        }
        let _turn = self.verifying.acquire().await;
        if let Some(user) = user
            && self.recently_verified(&name, &digest)
        {
            return Ok(Caller::of(name, user));
        }
        let hash = user.map_or(self.dummy_hash.clone(), |u| u.hash.clone());
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        match user {
            Some(user) if matches => {
                self.remember(&name, digest);
                Ok(Caller::of(name, user))
            }
            _ => Err(ApiError::Unauthenticated),
        }
    }

    /// A configured user, without a password (a session's).
    fn caller(&self, name: &str) -> Option<Caller> {
        self.users
            .get(name)
            .map(|user| Caller::of(name.to_string(), user))
    }

    fn recently_verified(&self, name: &str, digest: &[u8]) -> bool {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified
            .get(name)
            .is_some_and(|v| v.until > Instant::now() && bool::from(v.digest.ct_eq(digest)))
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

/// The client's address: the TCP peer (unspecified when unknown).
pub fn client_address(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
}

/// Authenticates the caller of a route that needs `role` (see `policy`),
/// and hands the [`Caller`] to the handler as a request extension. A user
/// limited to a TAF scope may call only `scoped` routes.
pub async fn admit(
    state: &SharedState,
    role: Role,
    scoped: bool,
    mut request: Request,
) -> Result<Request, ApiError> {
    let headers = request.headers();
    if cross_site(request.method(), headers) {
        return Err(ApiError::Forbidden);
    }
    let caller = match cookie(headers, SESSION_COOKIE) {
        Some(token) if !headers.contains_key(AUTHORIZATION) => {
            session_caller(state, request.method(), headers, token).await?
        }
        _ => {
            let client = client_address(&request);
            state.users.authenticate(request.headers(), client).await?
        }
    };
    if !caller.may(role) || !(scoped || caller.scope.is_unrestricted()) {
        return Err(ApiError::Forbidden);
    }
    tracing::debug!(user = %caller.name, "authenticated");
    request.extensions_mut().insert(caller);
    Ok(request)
}

/// A browser's request from another site that would change something
/// (`Sec-Fetch-Site: cross-site`, which browsers set themselves): browsers
/// send cached Basic credentials with it, so it is refused. Other clients
/// do not send the header. `Origin` is not compared with `Host`: behind a
/// reverse proxy they differ for legitimate requests.
fn cross_site(method: &Method, headers: &HeaderMap) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
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
    let csrf = headers.get(CSRF).map(|v| v.as_bytes()).unwrap_or_default();
    if !safe && !bool::from(csrf.ct_eq(session.csrf.as_bytes())) {
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

    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn users() -> Users {
        Users::new(
            &[UserConfig {
                name: "erp".into(),
                password_hash: hash_password("secret").expect("hashes"),
                roles: vec![Role::Producer],
                source_branches: Vec::new(),
                company_groups: Vec::new(),
            }],
            3,
            Duration::from_secs(60),
        )
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
                .authenticate(&basic("erp", "secret"), CLIENT)
                .await
                .expect("in");
            assert!(caller.may(Role::Producer) && caller.may(Role::Reader));
            assert!(!caller.may(Role::Admin));
        }
    }

    #[tokio::test]
    async fn a_burst_of_first_requests_is_answered_right_with_turns_at_argon2() {
        let users = std::sync::Arc::new(users());
        let burst: Vec<_> = (0..16)
            .map(|i| {
                let users = users.clone();
                // Two wrong ones: fewer than the failures that block the
                // address.
                let password = if i % 8 == 7 { "wrong" } else { "secret" };
                tokio::spawn(async move {
                    (
                        password,
                        users.authenticate(&basic("erp", password), CLIENT).await,
                    )
                })
            })
            .collect();
        let mut accepted = 0;
        for request in burst {
            match request.await.expect("request") {
                ("secret", Ok(_)) => accepted += 1,
                (
                    "wrong",
                    Err(ApiError::Unauthenticated | ApiError::TooManyFailedLogins { .. }),
                ) => {}
                (password, outcome) => panic!("{password}: {:?}", outcome.map(|c| c.name)),
            }
        }
        assert_eq!(accepted, 14);
    }

    #[tokio::test]
    async fn refuses_wrong_passwords_unknown_users_and_garbage() {
        let users = users();
        users
            .authenticate(&basic("erp", "secret"), CLIENT)
            .await
            .expect("in");
        for headers in [
            basic("erp", "wrong"),
            basic("nobody", "secret"),
            header("Basic !!!"),
            header("Bearer abc"),
            HeaderMap::new(),
        ] {
            assert!(users.authenticate(&headers, CLIENT).await.is_err());
        }
    }

    #[tokio::test]
    async fn failed_logins_block_their_address_only() {
        let users = users();
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
        for _ in 0..3 {
            assert!(matches!(
                users.authenticate(&basic("erp", "wrong"), CLIENT).await,
                Err(ApiError::Unauthenticated)
            ));
        }
        for headers in [basic("erp", "secret"), basic("erp", "wrong")] {
            assert!(matches!(
                users.authenticate(&headers, CLIENT).await,
                Err(ApiError::TooManyFailedLogins { retry_after }) if retry_after > 0
            ));
        }
        assert!(
            users
                .authenticate(&basic("erp", "secret"), other)
                .await
                .is_ok()
        );
        assert!(matches!(
            users.authenticate(&HeaderMap::new(), CLIENT).await,
            Err(ApiError::Unauthenticated)
        ));
    }

    #[test]
    fn roles_nest() {
        let caller = |roles: Vec<Role>| Caller {
            name: "u".into(),
            roles,
            scope: Scope::default(),
        };
        let reader = caller(vec![Role::Reader]);
        assert!(
            reader.may(Role::Reader) && !reader.may(Role::Producer) && !reader.may(Role::Admin)
        );
        let admin = caller(vec![Role::Admin]);
        assert!(
            [Role::Reader, Role::Producer, Role::Admin]
                .iter()
                .all(|r| admin.may(*r))
        );
        assert!(!caller(Vec::new()).may(Role::Reader));
    }

    #[test]
    fn browser_requests_from_other_sites_are_told_apart() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            headers
        };
        let post = Method::POST;
        assert!(!cross_site(&post, &headers(&[])), "curl, an ERP");
        assert!(!cross_site(
            &post,
            &headers(&[("sec-fetch-site", "same-origin")])
        ));
        assert!(!cross_site(&post, &headers(&[("sec-fetch-site", "none")])));
        assert!(cross_site(
            &post,
            &headers(&[("sec-fetch-site", "cross-site")])
        ));
        assert!(!cross_site(
            &Method::GET,
            &headers(&[("sec-fetch-site", "cross-site")])
        ));
    }
}

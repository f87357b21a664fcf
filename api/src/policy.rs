//! A route's policy, declared with the route in each protocol's `routes`:
//! who may call it, whether it submits work (and of which protocol), and
//! in whose format its refusals are written. One middleware ([`enforce`])
//! applies the whole of it, in this order: the request bounds (shed when
//! saturated, answered in time, see `bounds`), the caller and its role (see
//! `auth`), then backpressure for a submission; the metrics read what was
//! submitted from the answer. A request that waits for a process run is
//! bounded in time only until its handler has read it (see [`ReadBy`]). A
//! route without a policy (the probes, `/metrics`) is open and unbounded.

use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use fila_shared::config::Role;
use fila_shared::metrics::PROCESS;
use tokio::time::{Instant, timeout_at};

use crate::auth;
use crate::bounds::{Bounds, Dialect};
use crate::overload::Overload;
use crate::state::SharedState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: SOAP tooling fetching the WSDL, a login.
    Open,
    /// Authenticated callers holding `role`; `scoped`: whether a user
    /// limited to a TAF scope may call it (only TAF's routes carry a
    /// sourceBranch to check).
    Role { role: Role, scoped: bool },
}

/// Whether a route's requests submit work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    None,
    /// Work of this protocol (the `protocol` label of the metrics).
    Of(&'static str),
    /// A wsProcess call: its SOAPAction names the operation, and the
    /// `ExecuteWith…` ones start processes.
    SoapExecute,
}

impl Intake {
    /// The protocol of the work a request with `headers` submits, if any.
    pub fn of(self, headers: &HeaderMap) -> Option<&'static str> {
        match self {
            Intake::None => None,
            Intake::Of(protocol) => Some(protocol),
            Intake::SoapExecute => soap_operation(headers)
                .is_some_and(|operation| operation.starts_with("ExecuteWith"))
                .then_some(PROCESS),
        }
    }

    /// Whether the request runs a process and waits for it as long as it
    /// runs (wsProcess `ExecuteWithXmlParams` and `ExecuteWithParams`):
    /// `http_request_timeout_secs` then bounds its admission and the
    /// reading of its body (by the [`ReadBy`] it is handed), not its wait.
    pub fn waits_for_run(self, headers: &HeaderMap) -> bool {
        self == Intake::SoapExecute
            && soap_operation(headers).is_some_and(|operation| {
                matches!(operation, "ExecuteWithXmlParams" | "ExecuteWithParams")
            })
    }
}

/// The operation a SOAPAction names (`"http://www.totvs.com/<Port>/<Operation>"`).
fn soap_operation(headers: &HeaderMap) -> Option<&str> {
    let action = headers.get("SOAPAction")?.to_str().ok()?;
    action.trim().trim_matches('"').rsplit('/').next()
}

/// When a request that waits for a run must have been read (its body
/// included), in its extensions.
#[derive(Debug, Clone, Copy)]
pub struct ReadBy(pub Instant);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub access: Access,
    pub intake: Intake,
    pub dialect: Dialect,
}

impl Policy {
    const fn role(role: Role, intake: Intake, dialect: Dialect) -> Self {
        Self {
            access: Access::Role {
                role,
                scoped: false,
            },
            intake,
            dialect,
        }
    }

    /// Reads statuses (role `reader`, which producers and admins hold).
    pub const fn reads(dialect: Dialect) -> Self {
        Self::role(Role::Reader, Intake::None, dialect)
    }

    /// Submits work of `protocol` (role `producer`).
    pub const fn submits(protocol: &'static str, dialect: Dialect) -> Self {
        Self::role(Role::Producer, Intake::Of(protocol), dialect)
    }

    /// Changes work without submitting any (role `producer`).
    pub const fn changes(dialect: Dialect) -> Self {
        Self::role(Role::Producer, Intake::None, dialect)
    }

    /// fila's administration (role `admin`).
    pub const fn admin() -> Self {
        Self::role(Role::Admin, Intake::None, Dialect::Fila)
    }

    /// Open to anyone, bounded all the same.
    pub const fn open(dialect: Dialect) -> Self {
        Self {
            access: Access::Open,
            intake: Intake::None,
            dialect,
        }
    }

    /// The same, with the intake told by the SOAPAction.
    pub const fn soap(self) -> Self {
        Self {
            intake: Intake::SoapExecute,
            ..self
        }
    }

    /// The same, callable by users limited to a TAF scope.
    pub const fn scoped(self) -> Self {
        match self.access {
            Access::Role { role, .. } => Self {
                access: Access::Role { role, scoped: true },
                ..self
            },
            Access::Open => self,
        }
    }
}

/// What the protocol routes' policies need: the state and the bounds.
#[derive(Clone)]
pub struct Guards {
    state: SharedState,
    bounds: Arc<Bounds>,
}

/// The protocol of the work a request submitted, in its answer's
/// extensions, for the metrics.
#[derive(Debug, Clone, Copy)]
pub struct Submitted(pub &'static str);

#[derive(Clone)]
struct Enforced {
    guards: Guards,
    policy: Policy,
}

impl Guards {
    pub fn new(state: SharedState) -> Self {
        let bounds = Bounds::new(&state.config);
        Self { state, bounds }
    }

    /// `methods` under `policy`.
    pub fn on(
        &self,
        policy: Policy,
        methods: MethodRouter<SharedState>,
    ) -> MethodRouter<SharedState> {
        methods.route_layer(from_fn_with_state(self.enforced(policy), enforce))
    }

    /// Every route of `routes` under `policy`.
    pub fn all(&self, policy: Policy, routes: Router<SharedState>) -> Router<SharedState> {
        routes.route_layer(from_fn_with_state(self.enforced(policy), enforce))
    }

    fn enforced(&self, policy: Policy) -> Enforced {
        Enforced {
            guards: self.clone(),
            policy,
        }
    }
}

/// The middleware of every route with a policy (see the module's
/// documentation).
async fn enforce(State(enforced): State<Enforced>, request: Request, next: Next) -> Response {
    let Enforced { guards, policy } = enforced;
    let Some(permit) = guards.bounds.permit() else {
        tracing::debug!("request shed: as many requests as allowed are being handled");
        return policy.dialect.refuse(Overload::Saturated);
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_string());
    let submitted = policy.intake.of(request.headers());
    let waits = policy.intake.waits_for_run(request.headers());
    let deadline = Instant::now() + guards.bounds.timeout();
    let timed_out = || {
        let secs = guards.bounds.timeout().as_secs();
        tracing::warn!(%route, secs, "request not answered in time");
        policy.dialect.refuse(Overload::TimedOut { secs })
    };
    let admitted = timeout_at(deadline, admit(&guards.state, policy, submitted, request)).await;
    let mut response = match admitted {
        Err(_) => timed_out(),
        Ok(Err(refused)) => refused,
        Ok(Ok(mut request)) if waits => {
            request.extensions_mut().insert(ReadBy(deadline));
            next.run(request).await
        }
        Ok(Ok(request)) => timeout_at(deadline, next.run(request))
            .await
            .unwrap_or_else(|_| timed_out()),
    };
    drop(permit);
    if let Some(protocol) = submitted {
        response.extensions_mut().insert(Submitted(protocol));
    }
    response
}

/// The request, once its caller may call the route and backpressure lets
/// its submission in; else the refusal.
async fn admit(
    state: &SharedState,
    policy: Policy,
    submitted: Option<&'static str>,
    request: Request,
) -> Result<Request, Response> {
    let request = match policy.access {
        Access::Open => request,
        Access::Role { role, scoped } => auth::admit(state, role, scoped, request)
            .await
            .map_err(IntoResponse::into_response)?,
    };
    if submitted.is_some_and(|protocol| state.backpressure.refuses(protocol)) {
        return Err(policy.dialect.busy());
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_wsprocess_call_submits_when_its_soap_action_names_an_execute_operation() {
        let policy = Policy::reads(Dialect::WsProcess).soap();
        let mut headers = HeaderMap::new();
        assert_eq!(policy.intake.of(&headers), None);
        headers.insert(
            "SOAPAction",
            HeaderValue::from_static(
                "\"http://www.totvs.com/IwsProcess/ExecuteWithXmlParamsAsync\"",
            ),
        );
        assert_eq!(policy.intake.of(&headers), Some(PROCESS));
        headers.insert(
            "SOAPAction",
            HeaderValue::from_static("\"http://www.totvs.com/IwsProcess/GetProcessStatus\""),
        );
        assert_eq!(policy.intake.of(&headers), None);
        for (action, submits, waits) in [
            (
                "http://www.totvs.com/IwsProcess/ExecuteWithParams",
                true,
                true,
            ),
            (
                "\"http://www.totvs.com/IwsProcess/ExecuteWithXmlParams\"",
                true,
                true,
            ),
            (
                "http://www.totvs.com/IwsProcess/ExecuteWithXmlParamsAsync",
                true,
                false,
            ),
            ("http://www.totvs.com/IwsProcess/GetSchema", false, false),
            ("http://www.totvs.com/IwsBase/AutenticaAcesso", false, false),
            (
                "http://www.totvs.com/IRMSServer/CheckServiceActivity",
                false,
                false,
            ),
        ] {
            headers.insert("SOAPAction", HeaderValue::from_static(action));
            assert_eq!(policy.intake.of(&headers).is_some(), submits, "{action}");
            assert_eq!(policy.intake.waits_for_run(&headers), waits, "{action}");
        }
        let taf = Policy::submits("taf", Dialect::Taf);
        assert!(!taf.intake.waits_for_run(&headers));
    }

    #[test]
    fn policies_say_who_may_call() {
        let taf = Policy::submits("taf", Dialect::Taf).scoped();
        assert_eq!(
            taf.access,
            Access::Role {
                role: Role::Producer,
                scoped: true
            }
        );
        assert_eq!(taf.intake.of(&HeaderMap::new()), Some("taf"));
        assert_eq!(
            Policy::admin().access,
            Access::Role {
                role: Role::Admin,
                scoped: false
            }
        );
        assert_eq!(Policy::open(Dialect::Fila).scoped().access, Access::Open);
    }
}

//! The Protheus REST server matches a service's name whatever its case and
//! with or without a trailing slash (`/rest/WSTAFST2/`), and producers are
//! configured either way. Requests for such a spelling of the TAF route are
//! given its canonical path before routing, so that the route, and the
//! policy declared with it, stay declared once.

use axum::extract::Request;
use axum::http::Uri;
use axum::http::uri::PathAndQuery;

/// The TAF route as declared.
pub const PATH: &str = "/rest/wstafst2";

/// `request` with the TAF route's canonical path when its path is another
/// spelling of it; any other request unchanged.
pub async fn canonical_path(mut request: Request) -> Request {
    if let Some(uri) = canonical(request.uri()) {
        *request.uri_mut() = uri;
    }
    request
}

fn canonical(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let name = path.strip_suffix('/').unwrap_or(path);
    if path == PATH || !name.eq_ignore_ascii_case(PATH) {
        return None;
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{PATH}?{query}"),
        None => PATH.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse::<PathAndQuery>().ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(uri: &str) -> Option<String> {
        canonical(&uri.parse().expect("uri")).map(|u| u.to_string())
    }

    #[test]
    fn spellings_of_the_taf_route_get_its_path() {
        assert_eq!(
            rewritten("/rest/WSTAFST2?ticketCode=A&startRecNo=0").as_deref(),
            Some("/rest/wstafst2?ticketCode=A&startRecNo=0")
        );
        assert_eq!(
            rewritten("/REST/WsTafSt2/").as_deref(),
            Some("/rest/wstafst2")
        );
        assert_eq!(
            rewritten("/rest/wstafst2/").as_deref(),
            Some("/rest/wstafst2")
        );
    }

    #[test]
    fn other_paths_are_left_alone() {
        for uri in [
            "/rest/wstafst2",
            "/rest/wstafst2?x=1",
            "/rest/wstafst22",
            "/rest/wstafst2//",
            "/totvseai/standardmessage/v1/transactions",
        ] {
            assert_eq!(rewritten(uri), None, "{uri}");
        }
    }
}

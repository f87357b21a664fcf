//! The built-in web dashboard, `GET /ui` (role `reader`, like `/ops`): a
//! page and its script and style, compiled into the binary so that it
//! needs no internet access and no build step. The page polls the JSON
//! endpoints it shows (`/ops`, `/metrics`, and `/admin` for an admin) with
//! the browser's HTTP Basic credentials; a reader sees the admin sections
//! disabled.
//!
//! The files are served with `Cache-Control: no-cache` (a new version of
//! fila shows its own page at once) and a content security policy that
//! allows only this origin's scripts, styles and requests.

use axum::Router;
use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::bounds::Dialect;
use crate::errors::ApiError;
use crate::policy::{Guards, Policy};
use crate::state::SharedState;

/// `(name, content type, content)` of the files under `/ui/`.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../ui/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../ui/app.css"),
    ),
];

const POLICY: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

pub fn routes(g: &Guards) -> Router<SharedState> {
    let routes = Router::new()
        .route("/ui", get(page))
        .route("/ui/{asset}", get(asset));
    g.all(Policy::reads(Dialect::Fila), routes)
}

async fn page() -> Result<Response, ApiError> {
    serve("index.html")
}

async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    serve(&name)
}

fn serve(name: &str) -> Result<Response, ApiError> {
    let (_, content_type, content) = ASSETS
        .iter()
        .find(|(known, _, _)| *known == name)
        .ok_or_else(|| ApiError::NotFound(format!("no dashboard file is named {name:?}")))?;
    Ok((
        [
            (CONTENT_TYPE, *content_type),
            (CACHE_CONTROL, "no-cache"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (CONTENT_SECURITY_POLICY, POLICY),
        ],
        *content,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file the page loads is served, and nothing comes from
    /// elsewhere: the dashboard works without internet access.
    #[test]
    fn the_page_loads_only_its_own_files() {
        let page = ASSETS[0].2;
        for name in ["app.js", "app.css"] {
            assert!(page.contains(&format!("\"/ui/{name}\"")), "{name}");
            assert!(serve(name).is_ok());
        }
        for (name, _, content) in ASSETS {
            for remote in ["=\"http", "=\"//", "url(http", "fetch(\"http", "@import"] {
                assert!(!content.contains(remote), "{name} loads {remote}…");
            }
        }
        assert!(serve("secret.txt").is_err());
    }
}

//! `GET /openapi.json`: the OpenAPI 3.0 description of every JSON endpoint,
//! open like the probes. It is a static file, `api/openapi.json`, kept in
//! step with the routes by a test that reads them from the source: a JSON
//! route without its description, or a description without its route,
//! fails it. wsProcess (SOAP, which its WSDL describes), the Prometheus
//! metrics and the web dashboard stay out.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

const DOCUMENT: &str = include_str!("../openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use super::DOCUMENT;

    /// The routes that are not JSON: wsProcess (SOAP) and its WSDL, the
    /// Prometheus metrics and the web dashboard.
    const NOT_JSON: &[(&str, &str)] = &[
        ("get", "/wsProcess/IwsProcess"),
        ("post", "/wsProcess/IwsProcess"),
        ("get", "/wsProcess/IwsBase"),
        ("post", "/wsProcess/IwsBase"),
        ("get", "/wsProcess/IRMSServer"),
        ("post", "/wsProcess/IRMSServer"),
        ("get", "/wsProcess/MEX"),
        ("get", "/metrics"),
        ("get", "/ui"),
        ("get", "/ui/{}"),
    ];

    const METHODS: &[&str] = &["get", "post", "put", "delete", "patch"];

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("api/openapi.json is JSON")
    }

    /// `/a/{x}/b` as `/a/{}/b`: parameter names may differ between the
    /// router and the description.
    fn shape(path: &str) -> String {
        let mut out = String::new();
        let mut in_parameter = false;
        for c in path.chars() {
            match c {
                '{' => {
                    in_parameter = true;
                    out.push_str("{}");
                }
                '}' => in_parameter = false,
                _ if !in_parameter => out.push(c),
                _ => {}
            }
        }
        out
    }

    fn rust_files(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).expect("source directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                files.extend(rust_files(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
        files
    }

    /// The string literals of `text`, in order (route paths hold no escapes).
    fn literals(text: &str) -> Vec<&str> {
        text.split('"').skip(1).step_by(2).collect()
    }

    /// The values a `format!` placeholder stands for in `code` before
    /// `at`: a `const NAME: &str` of the file, or the list of a `for NAME
    /// in [...]` loop.
    fn placeholder_values<'c>(code: &'c str, at: usize, name: &str) -> Vec<&'c str> {
        if let Some(start) = code.find(&format!("const {name}: &str = \"")) {
            return literals(&code[start..]).into_iter().take(1).collect();
        }
        let head = &code[..at];
        let start = head
            .rfind(&format!("for {name} in ["))
            .unwrap_or_else(|| panic!("no value for {{{name}}} in a route"));
        let list = &head[start..];
        let end = list.find(']').expect("end of the loop's list");
        literals(&list[..end])
    }

    /// `(method, path shape)` of every `.route(...)` in `code`; `all`, the
    /// code of every source file, holds the constants a route may name.
    fn routes_in(code: &str, all: &str) -> BTreeSet<(String, String)> {
        let mut routes = BTreeSet::new();
        for (at, _) in code.match_indices(".route(") {
            let rest = &code[at + ".route(".len()..];
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("end of .route(");
            let call = &rest[..end];
            let first = call.split(',').next().unwrap_or_default().trim();
            if !first.starts_with('"') && !first.starts_with("&format!(") {
                // A constant of the sources, e.g. `path::PATH`.
                let name = first.rsplit("::").next().unwrap_or(first);
                let template = placeholder_values(all, all.len(), name)[0];
                let handlers = &call[first.len()..];
                routes.extend(called(handlers, &[template.to_string()]));
                continue;
            }
            let template = literals(call)[0];
            let handlers = &call[call.find(template).expect("template") + template.len()..];
            let paths: Vec<String> = if call.trim_start().starts_with("&format!(") {
                let (before, after) = template.split_once('{').expect("a placeholder");
                let (name, after) = after.split_once('}').expect("placeholder end");
                placeholder_values(code, at, name)
                    .into_iter()
                    .map(|value| {
                        format!("{before}{value}{after}")
                            .replace("{{", "{")
                            .replace("}}", "}")
                    })
                    .collect()
            } else {
                vec![template.to_string()]
            };
            routes.extend(called(handlers, &paths));
        }
        routes
    }

    /// `(method, path shape)` of each of `paths` for each method `handlers`
    /// routes.
    fn called(handlers: &str, paths: &[String]) -> Vec<(String, String)> {
        let mut routes = Vec::new();
        for path in paths {
            for method in METHODS {
                let called = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                    !handlers[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if called {
                    routes.push((method.to_string(), shape(path)));
                }
            }
        }
        routes
    }

    /// The routes the API's source registers, tests left out.
    fn source_routes() -> BTreeSet<(String, String)> {
        let mut routes = BTreeSet::new();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let codes: Vec<String> = rust_files(&src)
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(file).expect("source file");
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                code.to_string()
            })
            .collect();
        let all = codes.concat();
        for code in &codes {
            routes.extend(routes_in(code, &all));
        }
        routes
    }

    fn described_operations(document: &Value) -> BTreeSet<(String, String)> {
        let paths = document["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                let item = item.as_object().expect("path item");
                METHODS
                    .iter()
                    .filter(|m| item.contains_key(**m))
                    .map(move |m| (m.to_string(), shape(path)))
            })
            .collect()
    }

    #[test]
    fn describes_every_json_route_and_no_other() {
        let routes = source_routes();
        assert!(routes.contains(&("get".to_string(), "/rest/wstafst2".to_string())));
        assert!(routes.contains(&(
            "get".to_string(),
            "/scheduler/connector-API/process/status/{}".to_string()
        )));
        let json_routes: BTreeSet<(String, String)> = routes
            .into_iter()
            .filter(|(m, p)| !NOT_JSON.contains(&(m.as_str(), p.as_str())))
            .collect();
        let described = described_operations(&document());
        let undescribed: Vec<_> = json_routes.difference(&described).collect();
        let unrouted: Vec<_> = described.difference(&json_routes).collect();
        assert!(
            undescribed.is_empty() && unrouted.is_empty(),
            "routes missing from api/openapi.json: {undescribed:?}; \
             described but not routed: {unrouted:?}"
        );
    }

    #[test]
    fn is_openapi_3_of_this_version_with_every_reference_defined() {
        let document = document();
        assert_eq!(document["openapi"], "3.0.3");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        fn references<'v>(value: &'v Value, found: &mut Vec<&'v str>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        found.push(target);
                    }
                    map.values().for_each(|v| references(v, found));
                }
                Value::Array(items) => items.iter().for_each(|v| references(v, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        references(&document, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let pointer = target.strip_prefix('#').expect("a local reference");
            assert!(
                document.pointer(pointer).is_some(),
                "{target} is not defined"
            );
        }
        let ids: Vec<&str> = document["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|item| item.as_object().expect("path item").values())
            .filter_map(|operation| operation["operationId"].as_str())
            .collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "operationIds are unique");
    }
}

//! TAF query strings, read case-insensitively: the seed's own example
//! writes `RegistryKey` where its table says `registryKey`.

pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.trim().to_string()))
                .collect(),
        )
    }

    /// The first value of `name`, whatever its case; `None` when absent,
    /// empty, or holding a NUL character (which no TAF code can contain).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty() && !v.contains('\0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ignore_case_and_empty_values_are_absent() {
        let q = QueryParams::parse(Some("ticketCode=T1&RegistryKey=K%201&startRecNo="));
        assert_eq!(q.get("TICKETCODE"), Some("T1"));
        assert_eq!(q.get("registryKey"), Some("K 1"));
        assert_eq!(q.get("startRecNo"), None);
        assert_eq!(q.get("searchMode"), None);
        assert_eq!(
            QueryParams::parse(Some("ticketCode=%00")).get("ticketCode"),
            None
        );
    }
}

//! The layouts a TXT integration (`messageType` 1) may name in
//! `registryType`: TAF's own record layouts (`T001`, `T001AB`, `T013`, …,
//! `T999`) rather than eSocial or Reinf events. The accepted ones are a
//! setting (`taf_txt_layouts`), each entry an exact layout or a pattern in
//! which `#` stands for a digit and `@` for a letter; by default every
//! layout of TAF's naming: `T###` and `T###@@`.

/// The default `taf_txt_layouts`.
pub const DEFAULT: [&str; 2] = ["T###", "T###@@"];

/// The accepted TXT layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtLayouts(Vec<String>);

impl TxtLayouts {
    /// Takes the setting's entries (checked by [`TxtLayouts::check`]).
    pub fn new(entries: &[String]) -> Self {
        Self(
            entries
                .iter()
                .map(|e| e.trim().to_ascii_uppercase())
                .collect(),
        )
    }

    /// Why an entry of the setting cannot be a layout, if it cannot.
    pub fn check(entry: &str) -> Result<(), String> {
        let entry = entry.trim();
        if entry.is_empty() || entry.len() > 20 {
            return Err("an entry must hold 1 to 20 characters".into());
        }
        if entry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'#' | b'@' | b'-' | b'_'))
        {
            Ok(())
        } else {
            Err(format!(
                "'{entry}': only letters, digits, '-', '_', '#' (a digit) and '@' (a letter)"
            ))
        }
    }

    /// The layout as fila keeps it (upper case, trimmed) when accepted.
    pub fn accept(&self, value: &str) -> Option<String> {
        let layout = value.trim().to_ascii_uppercase();
        self.0
            .iter()
            .any(|pattern| matches(pattern.as_bytes(), layout.as_bytes()))
            .then_some(layout)
    }
}

impl Default for TxtLayouts {
    fn default() -> Self {
        Self::new(&DEFAULT.map(String::from))
    }
}

fn matches(pattern: &[u8], layout: &[u8]) -> bool {
    pattern.len() == layout.len()
        && pattern.iter().zip(layout).all(|(p, c)| match p {
            b'#' => c.is_ascii_digit(),
            b'@' => c.is_ascii_alphabetic(),
            p => p == c,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_takes_tafs_layouts() {
        let layouts = TxtLayouts::default();
        for ok in ["T001", "t001ab", " T013 ", "T999", "T015AE"] {
            assert!(layouts.accept(ok).is_some(), "{ok}");
        }
        assert_eq!(layouts.accept("t001ab").as_deref(), Some("T001AB"));
        for bad in ["T01", "T0001", "S-1010", "T001A", "T001A1", "X001", ""] {
            assert!(layouts.accept(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn entries_may_be_exact() {
        let layouts = TxtLayouts::new(&["T001".into(), "T154AA".into()]);
        assert!(layouts.accept("T154AA").is_some());
        assert!(layouts.accept("T002").is_none());
        assert!(TxtLayouts::check("T###@@").is_ok());
        assert!(TxtLayouts::check("T 1").is_err());
        assert!(TxtLayouts::check("").is_err());
    }
}

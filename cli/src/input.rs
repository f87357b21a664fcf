//! Files to send, checked before anything is sent: a file that cannot be
//! read is named with its path, one that is not JSON with the line and
//! column of the fault. The bytes sent are the file's own, untouched.
//!
//! TAF lots may end an object or array with a trailing comma, as the TAF
//! documentation's example does and fila accepts; they are checked with
//! those commas blanked out (replaced by a space, so that positions stay
//! those of the file).

use std::path::{Path, PathBuf};

use fila_shared::taf::lenient_json::without_trailing_commas;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not JSON: {reason} at line {line}, column {column}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{}: {reason}", path.display())]
    Shape { path: PathBuf, reason: String },
    #[error("{0}")]
    Password(String),
}

/// Which JSON a file must hold.
#[derive(Clone, Copy)]
pub enum Dialect {
    Strict,
    /// Trailing commas allowed (TAF).
    TrailingCommas,
}

/// A JSON file's bytes, once they read as JSON.
pub fn read_json(path: &Path, dialect: Dialect) -> Result<Vec<u8>, InputError> {
    let bytes = std::fs::read(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let checked = match dialect {
        Dialect::Strict => serde_json::from_slice::<serde_json::Value>(&bytes),
        Dialect::TrailingCommas => serde_json::from_slice(&blank_trailing_commas(&bytes)),
    };
    match checked {
        Ok(value) if value.is_object() || value.is_array() => Ok(bytes),
        Ok(_) => Err(InputError::Shape {
            path: path.to_path_buf(),
            reason: "the JSON must be an object or an array".into(),
        }),
        Err(e) => Err(InputError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            reason: reason_of(&e),
        }),
    }
}

/// serde_json's message without its own " at line L column C".
fn reason_of(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

/// `bytes` with each trailing comma replaced by a space. fila's own
/// scanner removes them; walking both texts side by side finds where: a
/// removed comma is the one byte of `bytes` that the stripped text lacks
/// (the byte after a trailing comma is a blank, `}` or `]`, never a comma,
/// so the walk cannot take one comma for another).
fn blank_trailing_commas(bytes: &[u8]) -> Vec<u8> {
    let stripped = without_trailing_commas(bytes);
    let mut blanked = bytes.to_vec();
    let mut kept = stripped.iter().peekable();
    for (at, byte) in bytes.iter().enumerate() {
        if kept.peek() == Some(&byte) {
            kept.next();
        } else {
            blanked[at] = b' ';
        }
    }
    blanked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_commas_become_blanks_in_place() {
        let text = b"{\"a\": [1, 2,], \"s\": \"x,}\", \"b\": {\"c\": 3 , },\n}";
        let blanked = blank_trailing_commas(text);
        assert_eq!(
            String::from_utf8_lossy(&blanked),
            "{\"a\": [1, 2 ], \"s\": \"x,}\", \"b\": {\"c\": 3   } \n}"
        );
        assert!(serde_json::from_slice::<serde_json::Value>(&blanked).is_ok());
    }

    #[test]
    fn a_fault_is_placed_in_the_file() {
        let dir = std::env::temp_dir().join(format!("fila-cli-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("lot.json");
        std::fs::write(&path, "{\"ticketCode\": \"T\",,\n  \"lote\": [1,], x}").expect("file");
        let error = read_json(&path, Dialect::TrailingCommas).expect_err("not JSON");
        let shown = error.to_string();
        assert!(shown.contains("at line 1, column 20"), "{shown}");
        std::fs::write(&path, "{\"ticketCode\": \"T\",\n  \"lote\": [1,], x}").expect("file");
        let error = read_json(&path, Dialect::TrailingCommas).expect_err("not JSON");
        assert!(
            error.to_string().contains("at line 2, column 17"),
            "{error}"
        );
        assert!(read_json(&path, Dialect::Strict).is_err());
        std::fs::write(&path, "{\"lote\": [1,],}").expect("file");
        assert!(read_json(&path, Dialect::TrailingCommas).is_ok());
        assert!(read_json(&path, Dialect::Strict).is_err());
        std::fs::write(&path, "42").expect("file");
        assert!(matches!(
            read_json(&path, Dialect::Strict),
            Err(InputError::Shape { .. })
        ));
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert!(matches!(
            read_json(&path, Dialect::Strict),
            Err(InputError::Read { .. })
        ));
    }
}

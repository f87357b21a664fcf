//! Tables on stdout: a header and rows in columns aligned with spaces, no
//! borders, so that `grep`, `awk` and eyes all read them. Cells are kept
//! on one line; the last column is not padded.

use std::io::Write;

use serde_json::Value;

pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// Longest cell shown; longer text is cut with an ellipsis.
const MAX_CELL: usize = 160;

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| cell(c)).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn print(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, text) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(text.chars().count());
            }
        }
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, text) in row.iter().enumerate().take(columns) {
                if i + 1 == columns {
                    line.push_str(text);
                } else {
                    let pad = widths[i] - text.chars().count();
                    line.push_str(text);
                    line.extend(std::iter::repeat_n(' ', pad + 2));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// A JSON value as a cell's text: strings as they are, `-` for null (or
/// a missing field), anything else as JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// A cell's text on one line, cut at [`MAX_CELL`] characters.
fn cell(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MAX_CELL) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_and_cells_one_line() {
        let mut table = Table::new(&["CODE", "COUNT", "FIRST MESSAGE"]);
        table.row(vec![
            "000002".into(),
            "2".into(),
            "Evento do XML\ndifere".into(),
        ]);
        table.row(vec!["1".into(), "10".into(), String::new()]);
        let mut out = Vec::new();
        table.print(&mut out).expect("printed");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "CODE    COUNT  FIRST MESSAGE\n000002  2      Evento do XML difere\n1       10\n"
        );
        assert!(!table.is_empty());
        assert_eq!(cell(&"é".repeat(200)).chars().count(), MAX_CELL + 1);
    }

    #[test]
    fn json_values_become_text() {
        let value = serde_json::json!({"s": "text", "n": 42, "b": true, "null": null});
        assert_eq!(value_text(&value["s"]), "text");
        assert_eq!(value_text(&value["n"]), "42");
        assert_eq!(value_text(&value["b"]), "true");
        assert_eq!(value_text(&value["null"]), "-");
        assert_eq!(value_text(&value["missing"]), "-");
    }
}

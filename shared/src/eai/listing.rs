//! Lists of the TOTVS API guide: `page` (from 1), `pageSize` (default 20, at
//! most 1,000), `order` (fields separated by commas, `-` for descending),
//! `fields` (the attributes to return, separated by commas), `expand`
//! (reserved by the guide: accepted, never a filter) and any other
//! parameter as an equality filter on a field. Answers are
//! `{"hasNext": bool, "items": [...]}`. Each list names the fields it can
//! order and filter on; others are refused with a clear message, unless the
//! list is open to its items' own attributes (entity contents), which are
//! then ordered and filtered by, their names compared ignoring case.

use serde_json::Value;

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListingError {
    #[error("{0} must be a positive integer")]
    NotPositive(&'static str),
    #[error("pageSize is at most {MAX_PAGE_SIZE}")]
    PageTooLarge,
    #[error("cannot order by {0}; known fields: {1}")]
    UnknownOrder(String, String),
    #[error("cannot filter on {0}; known fields: {1}")]
    UnknownFilter(String, String),
    #[error("list parameters cannot hold a NUL character")]
    Nul,
}

/// A field a list may be ordered and filtered by: its wire name and the SQL
/// expression behind it.
#[derive(Debug, Clone, Copy)]
pub struct ListField {
    pub name: &'static str,
    pub sql: &'static str,
}

/// What a list is ordered by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sort {
    /// A field of the list: its SQL expression.
    Field(&'static str),
    /// An attribute of the items (open lists), by name.
    Attribute(String),
}

/// The parsed list parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub page: i64,
    pub page_size: i64,
    /// `(what, descending)`.
    pub order: Vec<(Sort, bool)>,
    /// The attributes to return (`fields`); empty: all of them.
    pub fields: Vec<String>,
    /// `(SQL expression, value)` equality filters.
    pub filters: Vec<(&'static str, String)>,
    /// Filters on other names, when the list allows them (entity contents).
    pub extra: Vec<(String, String)>,
}

impl Listing {
    /// Reads the parameters; `fields` are those of the list, `reserved` are
    /// parameters that are not filters. With `open`, a filter on another
    /// name goes to `extra` instead of being refused.
    pub fn parse(
        params: &[(String, String)],
        fields: &[ListField],
        reserved: &[&str],
        open: bool,
    ) -> Result<Self, ListingError> {
        let known = || fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ");
        let find = |name: &str| fields.iter().find(|f| f.name.eq_ignore_ascii_case(name));
        let mut listing = Listing {
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
            order: Vec::new(),
            fields: Vec::new(),
            filters: Vec::new(),
            extra: Vec::new(),
        };
        for (key, value) in params {
            if key.contains('\0') || value.contains('\0') {
                return Err(ListingError::Nul);
            }
            match key.to_ascii_lowercase().as_str() {
                "page" => listing.page = positive(value, "page")?,
                "pagesize" => {
                    listing.page_size = positive(value, "pageSize")?;
                    if listing.page_size > MAX_PAGE_SIZE {
                        return Err(ListingError::PageTooLarge);
                    }
                }
                "order" => {
                    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        let (name, descending) = match part.strip_prefix('-') {
                            Some(name) => (name, true),
                            None => (part.trim_start_matches('+'), false),
                        };
                        let sort = match find(name) {
                            Some(field) => Sort::Field(field.sql),
                            None if open => Sort::Attribute(name.to_string()),
                            None => {
                                return Err(ListingError::UnknownOrder(name.to_string(), known()));
                            }
                        };
                        listing.order.push((sort, descending));
                    }
                }
                "fields" => listing.fields.extend(field_names(value)),
                "expand" => {}
                other if reserved.iter().any(|r| r.eq_ignore_ascii_case(other)) => {}
                _ => match find(key) {
                    Some(field) => listing.filters.push((field.sql, value.clone())),
                    None if open => listing.extra.push((key.clone(), value.clone())),
                    None => return Err(ListingError::UnknownFilter(key.clone(), known())),
                },
            }
        }
        Ok(listing)
    }

    /// `ORDER BY` with `tiebreak` last, so that pages never overlap; a list
    /// of fields only (attributes are ordered by [`Self::order_by_with`]).
    pub fn order_by(&self, tiebreak: &str) -> String {
        self.order_by_with(tiebreak, |_| None)
    }

    /// `ORDER BY` as [`Self::order_by`], an attribute ordered by the SQL
    /// expression `attribute` gives for its name.
    pub fn order_by_with<'a>(
        &'a self,
        tiebreak: &str,
        mut attribute: impl FnMut(&'a String) -> Option<String>,
    ) -> String {
        let mut parts: Vec<String> = self
            .order
            .iter()
            .filter_map(|(sort, desc)| {
                let sql = match sort {
                    Sort::Field(sql) => (*sql).to_string(),
                    Sort::Attribute(name) => attribute(name)?,
                };
                Some(format!("{sql} {}", if *desc { "DESC" } else { "ASC" }))
            })
            .collect();
        parts.push(tiebreak.to_string());
        format!("ORDER BY {}", parts.join(", "))
    }

    /// `LIMIT`/`OFFSET` asking one row more than the page, to learn `hasNext`.
    pub fn limit_offset(&self) -> String {
        format!(
            "LIMIT {} OFFSET {}",
            self.page_size + 1,
            (self.page - 1).saturating_mul(self.page_size)
        )
    }
}

/// The names of a `fields` parameter.
pub fn field_names(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
}

/// `item` with only the attributes named in `fields` (ignoring case); all
/// of them when `fields` is empty.
pub fn only_fields(item: Value, fields: &[String]) -> Value {
    match item {
        Value::Object(map) if !fields.is_empty() => Value::Object(
            map.into_iter()
                .filter(|(k, _)| fields.iter().any(|f| f.eq_ignore_ascii_case(k)))
                .collect(),
        ),
        item => item,
    }
}

fn positive(value: &str, name: &'static str) -> Result<i64, ListingError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0 && *n <= i64::from(i32::MAX))
        .ok_or(ListingError::NotPositive(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[ListField] = &[
        ListField {
            name: "status",
            sql: "m.status",
        },
        ListField {
            name: "uuid",
            sql: "m.uuid",
        },
    ];

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_paging_order_and_filters() {
        let listing = Listing::parse(
            &params(&[
                ("page", "2"),
                ("pageSize", "10"),
                ("order", "-status,uuid"),
                ("Status", "error"),
            ]),
            FIELDS,
            &[],
            false,
        )
        .expect("valid");
        assert_eq!(
            listing.order_by("m.seq"),
            "ORDER BY m.status DESC, m.uuid ASC, m.seq"
        );
        assert_eq!(listing.limit_offset(), "LIMIT 11 OFFSET 10");
        assert_eq!(listing.filters, vec![("m.status", "error".to_string())]);
    }

    #[test]
    fn refuses_unknown_fields_and_bad_numbers() {
        assert!(Listing::parse(&params(&[("order", "secret")]), FIELDS, &[], false).is_err());
        assert!(Listing::parse(&params(&[("color", "red")]), FIELDS, &[], false).is_err());
        assert!(Listing::parse(&params(&[("page", "0")]), FIELDS, &[], false).is_err());
        assert!(Listing::parse(&params(&[("pageSize", "5000")]), FIELDS, &[], false).is_err());
        assert!(
            Listing::parse(
                &params(&[("batchUUID", "x")]),
                FIELDS,
                &["batchUUID"],
                false
            )
            .is_ok()
        );
        for nul in [("status", "a\0"), ("co\0lor", "red")] {
            assert_eq!(
                Listing::parse(&params(&[nul]), FIELDS, &[], true),
                Err(ListingError::Nul)
            );
        }
        let open = Listing::parse(&params(&[("color", "red")]), FIELDS, &[], true).expect("open");
        assert_eq!(open.extra, vec![("color".to_string(), "red".to_string())]);
    }

    #[test]
    fn open_lists_order_by_attributes_and_take_fields_and_expand() {
        let listing = Listing::parse(
            &params(&[
                ("order", "-Name,uuid"),
                ("fields", "Name, Code"),
                ("expand", "Items"),
            ]),
            FIELDS,
            &[],
            true,
        )
        .expect("open");
        assert_eq!(listing.fields, vec!["Name".to_string(), "Code".to_string()]);
        assert!(listing.extra.is_empty(), "expand is not a filter");
        assert_eq!(
            listing.order_by_with("m.seq", |name| Some(format!("attr({name})"))),
            "ORDER BY attr(Name) DESC, m.uuid ASC, m.seq"
        );
        assert!(Listing::parse(&params(&[("order", "Name")]), FIELDS, &[], false).is_err());
        let item = serde_json::json!({ "Name": "a", "Code": "1", "Type": "x" });
        assert_eq!(
            only_fields(item.clone(), &listing.fields),
            serde_json::json!({ "Name": "a", "Code": "1" })
        );
        assert_eq!(only_fields(item.clone(), &[]), item);
    }
}

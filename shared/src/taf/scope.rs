//! A user's TAF scope: the ERP branches (`sourceBranch`) and company groups
//! whose records the user may submit, read and withdraw. A record is in
//! scope when its branch is one of the scope's branches or belongs to one of
//! its company groups; an empty scope (the default) is unrestricted.

use tokio_postgres::types::ToSql;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub source_branches: Vec<String>,
    pub company_groups: Vec<String>,
}

impl Scope {
    pub fn is_unrestricted(&self) -> bool {
        self.source_branches.is_empty() && self.company_groups.is_empty()
    }

    /// Whether a record of `source_branch` (whose company group is
    /// `company_group`, when the branch is registered) is in scope.
    pub fn allows(&self, source_branch: &str, company_group: Option<&str>) -> bool {
        self.is_unrestricted()
            || self.source_branches.iter().any(|b| b == source_branch)
            || company_group.is_some_and(|g| self.company_groups.iter().any(|c| c == g))
    }

    /// An SQL condition on the record table aliased `alias`, starting with
    /// ` AND `, whose parameters `$first` and `$first + 1` are
    /// [`Self::params`]; empty when unrestricted.
    pub fn condition(&self, alias: &str, first: usize) -> String {
        if self.is_unrestricted() {
            return String::new();
        }
        format!(
            " AND ({alias}.source_branch = ANY(${first}) OR {alias}.company_group = ANY(${}))",
            first + 1
        )
    }

    /// The parameters of [`Self::condition`].
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        if self.is_unrestricted() {
            return Vec::new();
        }
        vec![&self.source_branches, &self.company_groups]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_in_scope_by_branch_or_by_group() {
        let scope = Scope {
            source_branches: vec!["0100".into()],
            company_groups: vec!["02".into()],
        };
        assert!(scope.allows("0100", Some("01")));
        assert!(scope.allows("0100", None));
        assert!(scope.allows("0200", Some("02")));
        assert!(!scope.allows("0300", Some("03")));
        assert!(!scope.allows("0300", None));
        assert!(Scope::default().allows("0300", None));
        assert_eq!(Scope::default().condition("r", 3), "");
        assert_eq!(
            scope.condition("r", 3),
            " AND (r.source_branch = ANY($3) OR r.company_group = ANY($4))"
        );
    }
}

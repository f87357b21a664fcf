//! A TAF lot (`POST /rest/wstafst2`): the body is parsed once into
//! [`LotRequest`], each item checked on its own (codes 800-802, 804-806),
//! then against the branch registry ([`LotRequest::apply_branches`]: 803,
//! 809, 811, 812); 813 comes from the store, which refuses an item whose
//! sourceBranch, registryType and registryKey are those of an XML record
//! already pending. Every refusal of an item is reported, in code order, as
//! the seed's example does (801, 803 and 805 on one item).
//!
//! Attributes (see the README for the table), as the real server reads
//! them: the structure must hold `sourceBranch`, `messageType`,
//! `messageSequential`, `registryType`, `registryKey` and
//! `integrationMessage` (800), of which all but the sequential must be
//! filled (801). `integrationDate` and `integrationTime` may be absent or
//! empty (the current date and time), and their format is not checked;
//! `integrationQueue` "1" asks for the processing queue and any other value
//! does not; `registryPriority`, `erpowner` (or `erpOwner`),
//! `registryPredecessor`, `transferBranch` (not looked up: a transfer's
//! origin is often another company) and `complement` may be absent.
//!
//! A TXT message (`messageType` 1) may come in several items that repeat
//! sourceBranch, registryType and registryKey with increasing
//! `messageSequential`: the parts are joined, in sequential order, into
//! one record ([`LotRequest::join_text_parts`]).

use std::collections::{HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::branch::Branch;
use super::codes::{CodedError, Refusal};
use super::event_xml;
use super::field::{Field, present};
use super::lenient_json::without_trailing_commas;
use super::record::{MessageType, Priority, QueueCode};
use super::registry_type::Layout;
use super::scope::Scope;
use super::txt_layout::TxtLayouts;

/// Longest values TAF stores for these attributes.
const MAX_TICKET: usize = 36;
const MAX_KEY: usize = 100;
const MAX_BRANCH: usize = 12;
const MAX_OWNER: usize = 50;

/// A body that is not a lot at all (RESTFAULT 704 / 705).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LotSyntaxError {
    #[error("empty body")]
    Empty,
    #[error("not a JSON object: {0}")]
    Malformed(String),
}

/// A lot refused before its items are looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LotRefusal {
    /// Refused whole with `{coderr, description}`.
    Coded(Refusal),
    /// More items than the configured maximum.
    TooManyItems { items: usize, max: usize },
}

#[derive(Deserialize)]
struct RawLot<'a> {
    #[serde(rename = "ticketCode", default, deserialize_with = "present")]
    ticket_code: Option<Field>,
    #[serde(borrow, default)]
    lote: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawItem {
    #[serde(rename = "sourceBranch", default, deserialize_with = "present")]
    source_branch: Option<Field>,
    #[serde(rename = "messageType", default, deserialize_with = "present")]
    message_type: Option<Field>,
    #[serde(rename = "messageSequential", default, deserialize_with = "present")]
    message_sequential: Option<Field>,
    #[serde(rename = "registryType", default, deserialize_with = "present")]
    registry_type: Option<Field>,
    #[serde(rename = "registryKey", default, deserialize_with = "present")]
    registry_key: Option<Field>,
    #[serde(rename = "integrationMessage", default, deserialize_with = "present")]
    integration_message: Option<Field>,
    #[serde(rename = "integrationDate", default, deserialize_with = "present")]
    integration_date: Option<Field>,
    #[serde(rename = "integrationTime", default, deserialize_with = "present")]
    integration_time: Option<Field>,
    #[serde(rename = "registryPriority", default, deserialize_with = "present")]
    registry_priority: Option<Field>,
    #[serde(rename = "integrationQueue", default, deserialize_with = "present")]
    integration_queue: Option<Field>,
    #[serde(
        rename = "erpowner",
        alias = "erpOwner",
        default,
        deserialize_with = "present"
    )]
    erp_owner: Option<Field>,
    #[serde(rename = "registryPredecessor", default, deserialize_with = "present")]
    registry_predecessor: Option<Field>,
    #[serde(rename = "transferBranch", default, deserialize_with = "present")]
    transfer_branch: Option<Field>,
    #[serde(rename = "complement", default, deserialize_with = "present")]
    complement: Option<Field>,
}

/// A record ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub source_branch: String,
    pub message_type: MessageType,
    pub message_sequential: String,
    pub registry_type: Layout,
    pub registry_key: String,
    /// The decoded `integrationMessage`.
    pub message: Vec<u8>,
    pub integration_date: String,
    pub integration_time: String,
    pub priority: Priority,
    pub integration_queue: QueueCode,
    pub erp_owner: String,
    pub predecessor_key: Option<String>,
    pub transfer_branch: Option<String>,
    pub complement: Option<String>,
}

impl NewRecord {
    /// What an XML record pending in the store refuses another item by
    /// (813): its sourceBranch, registryType and registryKey.
    pub fn identity(&self) -> (&str, &str, &str) {
        (
            &self.source_branch,
            self.registry_type.code(),
            &self.registry_key,
        )
    }
}

/// One item of the lot and what became of it.
#[derive(Debug, Clone)]
pub struct LotItem {
    /// The registryKey as sent (empty when absent), echoed in the answer.
    pub key: String,
    /// The sourceBranch as sent; `None` when the item is not an object.
    source_branch: Option<String>,
    /// `Some` until a refusal is found, or until the item is joined, as a
    /// part of a TXT message, to the item that holds its first part.
    record: Option<NewRecord>,
    /// The index of that item, for a joined part.
    part_of: Option<usize>,
    refusals: Vec<Refusal>,
}

impl LotItem {
    fn refuse(&mut self, refusal: Refusal) {
        self.record = None;
        self.refusals.push(refusal);
    }

    pub fn record(&self) -> Option<&NewRecord> {
        self.record.as_ref()
    }

    /// Refuses an item the store would not take (813).
    pub fn refuse_pending(&mut self) {
        let key = self.key.clone();
        self.refuse(Refusal::KeyPending(key));
    }
}

/// A parsed lot whose items have been checked on their own.
#[derive(Debug, Clone)]
pub struct LotRequest {
    pub ticket_code: String,
    pub items: Vec<LotItem>,
}

/// The answer to a POST, field by field as in the seed.
#[derive(Debug, Clone, Serialize)]
pub struct LotResponse {
    #[serde(rename = "ticketCode")]
    pub ticket_code: String,
    #[serde(rename = "registryKey")]
    pub registry_key: Vec<KeyResponse>,
    #[serde(rename = "keyAmount")]
    pub key_amount: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyResponse {
    pub key: String,
    pub success: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error: Vec<CodedError>,
}

/// What the branch registry says about the branches a lot names.
#[derive(Debug, Clone, Default)]
pub struct BranchLookup {
    /// The registered branches among those the lot names.
    pub found: HashMap<String, Branch>,
    /// Whether the registry holds no branch at all.
    pub registry_empty: bool,
}

impl LotRequest {
    /// Parses a body and checks every item on its own.
    pub fn parse(
        body: &[u8],
        max_items: usize,
        txt: &TxtLayouts,
    ) -> Result<Result<Self, LotRefusal>, LotSyntaxError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(LotSyntaxError::Empty);
        }
        let body = without_trailing_commas(body);
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(LotSyntaxError::Malformed(
                "the body must be a JSON object".into(),
            ));
        }
        let raw: RawLot<'_> =
            serde_json::from_slice(&body).map_err(|e| LotSyntaxError::Malformed(e.to_string()))?;
        Ok(Self::from_raw(raw, max_items, txt))
    }

    fn from_raw(raw: RawLot<'_>, max_items: usize, txt: &TxtLayouts) -> Result<Self, LotRefusal> {
        let coded = LotRefusal::Coded;
        let ticket_code = filled("ticketCode", raw.ticket_code, MAX_TICKET).map_err(coded)?;
        let lote = raw.lote.ok_or(coded(Refusal::Missing("lote")))?;
        let items: Vec<&RawValue> = serde_json::from_str(lote.get()).map_err(|_| {
            coded(Refusal::Invalid {
                field: "lote",
                reason: "esperada uma lista de itens.".into(),
            })
        })?;
        if items.is_empty() {
            return Err(coded(Refusal::Empty("lote")));
        }
        if items.len() > max_items {
            return Err(LotRefusal::TooManyItems {
                items: items.len(),
                max: max_items,
            });
        }
        let mut lot = Self {
            ticket_code,
            items: items.into_iter().map(|i| check_item(i, txt)).collect(),
        };
        lot.refuse_predecessor_cycles();
        lot.join_text_parts();
        Ok(lot)
    }

    /// Joins the parts of each TXT message (accepted items of `messageType`
    /// 1 with the same sourceBranch, registryType and registryKey) in
    /// `messageSequential` order (numerically when it is a number) into
    /// the record of its first part; the other parts keep only their place
    /// in the answer.
    pub fn join_text_parts(&mut self) {
        let mut messages: HashMap<(String, String, String), Vec<usize>> = HashMap::new();
        for (index, item) in self.items.iter().enumerate() {
            if let Some(record) = item.record()
                && record.message_type == MessageType::Text
            {
                let (branch, layout, key) = record.identity();
                messages
                    .entry((branch.into(), layout.into(), key.into()))
                    .or_default()
                    .push(index);
            }
        }
        for mut parts in messages.into_values().filter(|p| p.len() > 1) {
            parts.sort_by_cached_key(|i| {
                let sequential = self.items[*i]
                    .record()
                    .map(|r| r.message_sequential.clone())
                    .unwrap_or_default();
                (sequential.parse::<u128>().ok(), sequential, *i)
            });
            let head = parts[0];
            let mut message = Vec::new();
            for &part in &parts {
                if let Some(record) = self.items[part].record.as_mut() {
                    message.append(&mut record.message);
                }
                if part != head {
                    self.items[part].record = None;
                    self.items[part].part_of = Some(head);
                }
            }
            if let Some(record) = self.items[head].record.as_mut() {
                record.message = message;
            }
        }
    }

    /// Refuses (802) the records whose predecessors, within the lot, lead
    /// back to them: none of them could ever be processed.
    fn refuse_predecessor_cycles(&mut self) {
        let predecessors: HashMap<&str, &str> = self
            .items
            .iter()
            .filter_map(|i| {
                let record = i.record()?;
                Some((
                    record.registry_key.as_str(),
                    record.predecessor_key.as_deref()?,
                ))
            })
            .collect();
        let in_cycle: HashSet<String> = predecessors
            .keys()
            .filter(|start| {
                let mut key = **start;
                for _ in 0..predecessors.len() {
                    match predecessors.get(key) {
                        Some(p) if p == *start => return true,
                        Some(p) => key = p,
                        None => return false,
                    }
                }
                false
            })
            .map(|k| k.to_string())
            .collect();
        for item in &mut self.items {
            if item
                .record()
                .is_some_and(|r| in_cycle.contains(&r.registry_key))
            {
                item.refuse(Refusal::Invalid {
                    field: "registryPredecessor",
                    reason: "os predecessores deste lote formam um ciclo.".into(),
                });
            }
        }
    }

    /// The branches the lot names (sourceBranch).
    pub fn branch_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self
            .items
            .iter()
            .flat_map(|i| i.source_branch.iter())
            .filter(|c| !c.is_empty())
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        codes.sort();
        codes
    }

    /// Applies the branch rules. The lot belongs to the company group of its
    /// first item's branch; when that branch is not registered the whole lot
    /// is refused (803), and when no branch is registered at all, 809.
    /// Returns the lot's company group.
    pub fn apply_branches(&mut self, lookup: &BranchLookup) -> Result<String, Refusal> {
        if lookup.registry_empty {
            return Err(Refusal::NoCompanies);
        }
        let group = self
            .items
            .first()
            .and_then(|first| lookup.found.get(first.source_branch.as_deref()?))
            .map(|b| b.company_group.clone())
            .ok_or(Refusal::LotBranchNotRegistered)?;
        for item in &mut self.items {
            let Some(source_branch) = item.source_branch.clone() else {
                continue;
            };
            let mut refusals = Vec::new();
            match lookup.found.get(&source_branch) {
                None => refusals.push(Refusal::BranchNotRegistered),
                Some(branch) if branch.company_group != group => {
                    refusals.push(Refusal::OtherCompanyGroup(source_branch));
                }
                Some(branch) => {
                    if let Some(refusal) = employer_refusal(branch, item.record.as_ref()) {
                        refusals.push(refusal);
                    }
                }
            }
            for refusal in refusals {
                item.refuse(refusal);
            }
        }
        Ok(group)
    }

    /// Refuses (802) the items whose sourceBranch is outside the sender's
    /// `scope`.
    pub fn apply_scope(&mut self, scope: &Scope, lookup: &BranchLookup) {
        if scope.is_unrestricted() {
            return;
        }
        for item in &mut self.items {
            let Some(source_branch) = item.source_branch.clone().filter(|b| !b.is_empty()) else {
                continue;
            };
            let group = lookup
                .found
                .get(&source_branch)
                .map(|b| b.company_group.as_str());
            if !scope.allows(&source_branch, group) {
                item.refuse(Refusal::Invalid {
                    field: "sourceBranch",
                    reason: format!("a filial {source_branch} esta fora do escopo do usuario."),
                });
            }
        }
    }

    /// Refuses (813) the items that come after an accepted XML item with
    /// the same sourceBranch, registryType and registryKey: that one is
    /// pending by then, as on the real server, which writes item by item.
    pub fn refuse_repeated_keys(&mut self) {
        let mut pending_xml: HashSet<(String, String, String)> = HashSet::new();
        for item in &mut self.items {
            let Some(record) = item.record() else {
                continue;
            };
            let (branch, layout, key) = record.identity();
            let identity = (branch.to_string(), layout.to_string(), key.to_string());
            if pending_xml.contains(&identity) {
                item.refuse_pending();
            } else if record.message_type == MessageType::Xml {
                pending_xml.insert(identity);
            }
        }
    }

    /// The answer, with each item's refusals in code order; a joined part
    /// of a TXT message shares the fate of the record it was joined to.
    pub fn response(mut self) -> LotResponse {
        let key_amount = self.items.len();
        let heads: Vec<(bool, Vec<Refusal>)> = self
            .items
            .iter()
            .map(|item| (item.record.is_some(), item.refusals.clone()))
            .collect();
        let registry_key = self
            .items
            .iter_mut()
            .map(|item| {
                let success = match item.part_of {
                    Some(head) if item.refusals.is_empty() => {
                        let (accepted, refusals) = &heads[head];
                        item.refusals.clone_from(refusals);
                        *accepted
                    }
                    _ => item.record.is_some(),
                };
                item.refusals.sort_by_key(Refusal::code);
                KeyResponse {
                    key: std::mem::take(&mut item.key),
                    success,
                    error: item.refusals.iter().map(Refusal::to_wire).collect(),
                }
            })
            .collect();
        LotResponse {
            ticket_code: self.ticket_code,
            registry_key,
            key_amount,
        }
    }
}

/// 811: when the branch has a registration, the event's employer must be it
/// (a CNPJ is compared by its 8-digit root, as eSocial identifies employers).
fn employer_refusal(branch: &Branch, record: Option<&NewRecord>) -> Option<Refusal> {
    let expected = branch.registration.as_deref()?;
    let record = record?;
    let refusal = Some(Refusal::BranchNotInMessage(branch.source_branch.clone()));
    if record.message_type != MessageType::Xml {
        return None;
    }
    let Ok(text) = std::str::from_utf8(&record.message) else {
        return refusal;
    };
    match event_xml::inspect(text).ok().and_then(|doc| doc.employer) {
        Some(found) if same_employer(expected, &found) => None,
        _ => refusal,
    }
}

fn same_employer(expected: &str, found: &str) -> bool {
    let root = |s: &str| -> String {
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        if digits.len() == 14 || digits.len() == 8 {
            digits[..8].to_string()
        } else {
            digits
        }
    };
    !expected.is_empty() && root(expected) == root(found)
}

fn wrong(field: &'static str, kind: &str) -> Refusal {
    Refusal::Invalid {
        field,
        reason: format!("esperado texto, recebido {kind}."),
    }
}

fn too_long(field: &'static str, max: usize) -> Refusal {
    Refusal::Invalid {
        field,
        reason: format!("mais de {max} caracteres."),
    }
}

/// Reads one attribute: `Ok(text)` (maybe empty) or the refusal. Text
/// with a NUL character is refused: no TAF value holds one, and PostgreSQL
/// text cannot.
fn text(field: &'static str, value: Option<Field>) -> Result<String, Refusal> {
    match value {
        None => Err(Refusal::Missing(field)),
        Some(Field::Wrong(kind)) => Err(wrong(field, kind)),
        Some(Field::Text(t)) if t.contains('\0') => Err(Refusal::Invalid {
            field,
            reason: "contem o caractere nulo (\\u0000).".into(),
        }),
        Some(Field::Text(t)) => Ok(t),
    }
}

/// Reads an attribute that must be present and filled, at most `max` long.
fn filled(field: &'static str, value: Option<Field>, max: usize) -> Result<String, Refusal> {
    let t = text(field, value)?;
    if t.is_empty() {
        Err(Refusal::Empty(field))
    } else if t.chars().count() > max {
        Err(too_long(field, max))
    } else {
        Ok(t)
    }
}

/// Reads an attribute that may be absent or empty.
fn optional(
    field: &'static str,
    value: Option<Field>,
    max: usize,
) -> Result<Option<String>, Refusal> {
    match value {
        None => Ok(None),
        Some(value) => {
            let t = text(field, Some(value))?;
            if t.chars().count() > max {
                Err(too_long(field, max))
            } else {
                Ok(Some(t).filter(|t| !t.is_empty()))
            }
        }
    }
}

fn check_item(raw: &RawValue, txt: &TxtLayouts) -> LotItem {
    let item: RawItem = match serde_json::from_str(raw.get()) {
        Ok(item) => item,
        Err(e) => {
            return LotItem {
                key: String::new(),
                source_branch: None,
                record: None,
                part_of: None,
                refusals: vec![Refusal::Invalid {
                    field: "lote",
                    reason: format!("item invalido: {e}."),
                }],
            };
        }
    };
    let sent_text = |f: &Option<Field>| match f {
        Some(Field::Text(t)) => t.clone(),
        _ => String::new(),
    };
    let key = sent_text(&item.registry_key);
    let sent_branch = sent_text(&item.source_branch);

    let mut errors = Refusals::default();
    let source_branch = errors.keep(filled("sourceBranch", item.source_branch, MAX_BRANCH));
    let registry_key = errors.keep(filled("registryKey", item.registry_key, MAX_KEY));
    let message_type = errors.keep(
        filled("messageType", item.message_type, usize::MAX).and_then(|t| MessageType::parse(&t)),
    );
    let message_sequential = errors.keep(text("messageSequential", item.message_sequential));
    let registry_type = errors.keep(
        filled("registryType", item.registry_type, usize::MAX)
            .and_then(|t| Layout::parse(&t, txt).ok_or(Refusal::UnknownLayout(t))),
    );
    let message_text = errors.keep(filled(
        "integrationMessage",
        item.integration_message,
        usize::MAX,
    ));
    let now = chrono::Local::now();
    let integration_date = errors.keep(
        optional("integrationDate", item.integration_date, usize::MAX)
            .map(|d| d.unwrap_or_else(|| now.format("%Y%m%d").to_string())),
    );
    let integration_time = errors.keep(
        optional("integrationTime", item.integration_time, usize::MAX)
            .map(|t| t.unwrap_or_else(|| now.format("%H:%M:%S").to_string())),
    );
    let priority = errors.keep(
        optional("registryPriority", item.registry_priority, usize::MAX)
            .and_then(|t| Priority::parse(t.as_deref().unwrap_or_default())),
    );
    let integration_queue = errors.keep(
        optional("integrationQueue", item.integration_queue, usize::MAX)
            .map(|t| QueueCode::parse(t.as_deref().unwrap_or_default())),
    );
    let erp_owner = errors.keep(optional("erpowner", item.erp_owner, MAX_OWNER));
    let predecessor_key = errors.keep(
        optional("registryPredecessor", item.registry_predecessor, MAX_KEY).and_then(|p| match p {
            Some(p) if p == key => Err(Refusal::Invalid {
                field: "registryPredecessor",
                reason: "um registro nao pode ser o seu proprio predecessor.".into(),
            }),
            p => Ok(p),
        }),
    );
    let transfer_branch = errors.keep(optional("transferBranch", item.transfer_branch, MAX_BRANCH));
    let complement = errors.keep(optional("complement", item.complement, usize::MAX));
    let message = match (&message_text, message_type) {
        (Some(text), Some(kind)) => errors.keep(decode_message(text, kind)),
        _ => None,
    };

    let record = || {
        Some(NewRecord {
            source_branch: source_branch?,
            message_type: message_type?,
            message_sequential: message_sequential?,
            registry_type: registry_type?,
            registry_key: registry_key?,
            message: message?,
            integration_date: integration_date?,
            integration_time: integration_time?,
            priority: priority?,
            integration_queue: integration_queue?,
            erp_owner: erp_owner?.unwrap_or_default(),
            predecessor_key: predecessor_key?,
            transfer_branch: transfer_branch?,
            complement: complement?,
        })
    };
    LotItem {
        key,
        source_branch: Some(sent_branch),
        record: if errors.0.is_empty() { record() } else { None },
        part_of: None,
        refusals: errors.0,
    }
}

/// The refusals found while reading an item.
#[derive(Default)]
struct Refusals(Vec<Refusal>);

impl Refusals {
    /// The value, or `None` with its refusal noted.
    fn keep<T>(&mut self, checked: Result<T, Refusal>) -> Option<T> {
        checked.map_err(|r| self.0.push(r)).ok()
    }
}

/// Decodes `integrationMessage` (base64; line breaks tolerated). An XML
/// message must be UTF-8, as eSocial requires; a text message may be any
/// 8-bit text.
fn decode_message(text: &str, kind: MessageType) -> Result<Vec<u8>, Refusal> {
    let decoded = match STANDARD.decode(text) {
        Err(_) if text.bytes().any(|b| b.is_ascii_whitespace()) => {
            let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
            STANDARD.decode(compact)
        }
        decoded => decoded,
    };
    let bytes = decoded.map_err(|e| Refusal::Encoding(format!("base64 invalido ({e}).")))?;
    if bytes.is_empty() {
        return Err(Refusal::Encoding("mensagem vazia.".into()));
    }
    if kind == MessageType::Xml && std::str::from_utf8(&bytes).is_err() {
        return Err(Refusal::Encoding("o XML nao esta em UTF-8.".into()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const SEED_LOT: &[u8] = include_bytes!("../../../tests/fixtures/taf_seed_lot.json");

    fn branches(pairs: &[(&str, &str)]) -> BranchLookup {
        BranchLookup {
            found: pairs
                .iter()
                .map(|(b, g)| (b.to_string(), Branch::new(b, g, None).expect("branch")))
                .collect(),
            registry_empty: pairs.is_empty(),
        }
    }

    #[test]
    fn the_seed_lot_parses_with_its_trailing_comma() {
        let mut lot = LotRequest::parse(SEED_LOT, 10, &TxtLayouts::default())
            .expect("json")
            .expect("lot");
        assert_eq!(lot.ticket_code, "WIO9753123654789789363655241452363");
        // The transferBranch 0200 is not looked up: a transfer's origin is
        // often another company's branch.
        assert_eq!(lot.branch_codes(), vec!["0100"]);
        let group = lot
            .apply_branches(&branches(&[("0100", "01")]))
            .expect("group");
        assert_eq!(group, "01");
        let second = lot.items[1].record().expect("accepted");
        assert_eq!(second.priority.value(), 0);
        assert_eq!(second.integration_queue, QueueCode::On);
        assert_eq!(
            second.predecessor_key.as_deref(),
            Some("KEYIO7878874854545454998598525")
        );
        assert!(second.message.starts_with(b"<eSocial><evtCadInicial"));
        assert_eq!(
            lot.items[0].record().map(|r| r.priority),
            Some(Priority::LOWEST)
        );
    }

    #[test]
    fn the_first_item_decides_the_lot_group() {
        let mut lot = LotRequest::parse(SEED_LOT, 10, &TxtLayouts::default())
            .expect("json")
            .expect("lot");
        assert_eq!(
            lot.apply_branches(&branches(&[("0200", "01")])),
            Err(Refusal::LotBranchNotRegistered)
        );
        assert_eq!(
            lot.apply_branches(&branches(&[])),
            Err(Refusal::NoCompanies)
        );
    }

    #[test]
    fn predecessor_cycles_in_a_lot_are_refused() {
        let item = |key: &str, pred: &str| {
            format!(
                r#"{{"sourceBranch":"0100","messageType":"1","messageSequential":"","registryType":"S-1010","registryKey":"{key}","integrationMessage":"YQ==","integrationDate":"","integrationTime":"","registryPredecessor":"{pred}"}}"#
            )
        };
        let body = format!(
            r#"{{"ticketCode":"T","lote":[{},{},{},{}]}}"#,
            item("A", "B"),
            item("B", "C"),
            item("C", "A"),
            item("D", "A")
        );
        let lot = LotRequest::parse(body.as_bytes(), 10, &TxtLayouts::default())
            .expect("json")
            .expect("lot");
        let accepted: Vec<bool> = lot.items.iter().map(|i| i.record().is_some()).collect();
        assert_eq!(accepted, vec![false, false, false, true]);
    }

    #[test]
    fn text_parts_are_joined_in_sequential_order() {
        let part = |seq: &str, text: &str| {
            format!(
                r#"{{"sourceBranch":"0100","messageType":"1","messageSequential":"{seq}","registryType":"T001AB","registryKey":"K","integrationMessage":"{}"}}"#,
                STANDARD.encode(text)
            )
        };
        let body = format!(
            r#"{{"ticketCode":"T","lote":[{},{},{}]}}"#,
            part("10", "|c|"),
            part("2", "|b|"),
            part("1", "|a|")
        );
        let lot = LotRequest::parse(body.as_bytes(), 10, &TxtLayouts::default())
            .expect("json")
            .expect("lot");
        let stored: Vec<&NewRecord> = lot.items.iter().filter_map(LotItem::record).collect();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].message, b"|a||b||c|".to_vec());
        assert_eq!(stored[0].message_sequential, "1");
        let answer = lot.response();
        assert!(answer.registry_key.iter().all(|k| k.success));
    }

    #[test]
    fn base64_may_be_broken_in_lines() {
        assert_eq!(
            decode_message("PGE+\r\nPC9hPg==\n", MessageType::Xml),
            Ok(b"<a></a>".to_vec())
        );
        assert_eq!(
            decode_message("PGE+ PC9hPg=!", MessageType::Xml).map_err(|r| r.code()),
            Err(806)
        );
    }

    #[test]
    fn nul_characters_are_refused() {
        let body = br#"{"ticketCode":"T\u0000","lote":[{}]}"#;
        let outcome = LotRequest::parse(body, 10, &TxtLayouts::default());
        assert!(
            matches!(
                outcome,
                Ok(Err(LotRefusal::Coded(Refusal::Invalid {
                    field: "ticketCode",
                    ..
                })))
            ),
            "{outcome:?}"
        );
    }

    #[test]
    fn syntax_errors_are_told_apart() {
        assert_eq!(
            LotRequest::parse(b" \n", 10, &TxtLayouts::default()).err(),
            Some(LotSyntaxError::Empty)
        );
        assert!(matches!(
            LotRequest::parse(b"[1]", 10, &TxtLayouts::default()),
            Err(LotSyntaxError::Malformed(_))
        ));
        assert!(matches!(
            LotRequest::parse(SEED_LOT, 1, &TxtLayouts::default()),
            Ok(Err(LotRefusal::TooManyItems { items: 2, max: 1 }))
        ));
    }

    const ITEM_FIELDS: &[&str] = &[
        "registryKey",
        "companyGroup",
        "sourceBranch",
        "messageType",
        "messageSequential",
        "registryType",
        "integrationMessage",
        "integrationDate",
        "integrationTime",
        "registryPriority",
        "integrationQueue",
        "erpOwner",
        "registryPredecessor",
        "transferBranch",
    ];

    /// A value a TAF item field could plausibly hold, or base64 of one.
    fn plausible() -> impl Strategy<Value = String> + Clone {
        prop_oneof![
            "[0-9]{1,6}",
            "S-[0-9]{4}",
            "[A-Z0-9 ]{0,10}",
            "20[0-9]{2}-[01][0-9]-[0-3][0-9]",
            "[0-2][0-9]:[0-5][0-9]:[0-5][0-9]",
            "<eSocial><evt[A-Za-z]{3,12}>.{0,20}</evt[A-Za-z]{3,12}></eSocial>"
                .prop_map(|xml| STANDARD.encode(xml)),
            any::<Vec<u8>>().prop_map(|bytes| STANDARD.encode(bytes)),
        ]
    }

    proptest! {
        #[test]
        fn any_body_is_answered_without_panic(bytes in any::<Vec<u8>>()) {
            let _ = LotRequest::parse(&bytes, 10, &TxtLayouts::default());
        }

        #[test]
        fn any_lot_is_examined_without_panic(
            ticket in prop_oneof![".{0,40}".prop_map(Value::String), crate::testing::json_value()],
            items in prop::collection::vec(crate::testing::object_with(ITEM_FIELDS, plausible()), 0..6),
            trailing_comma in any::<bool>(),
        ) {
            let mut body = serde_json::json!({ "ticketCode": ticket, "lote": items }).to_string();
            if trailing_comma {
                body = body.replacen("}]", "},]", 1);
            }
            if let Ok(Ok(mut lot)) = LotRequest::parse(body.as_bytes(), 5, &TxtLayouts::default()) {
                let _ = lot.apply_branches(&branches(&[("0100", "01"), ("0200", "02")]));
            }
        }

        #[test]
        fn base64_in_lines_decodes_to_its_bytes(
            bytes in prop::collection::vec(any::<u8>(), 1..300),
            width in 1usize..80,
        ) {
            let encoded = STANDARD.encode(&bytes);
            let lines: Vec<String> = encoded
                .as_bytes()
                .chunks(width)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            prop_assert_eq!(decode_message(&lines.join("\r\n"), MessageType::Text), Ok(bytes));
        }

        #[test]
        fn any_text_is_decoded_or_refused_806(text in ".{0,200}") {
            if let Err(refusal) = decode_message(&text, MessageType::Xml) {
                prop_assert_eq!(refusal.code(), 806);
            }
        }
    }
}

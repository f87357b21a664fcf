//! TAF lots for the tests.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The example lot of the TAF seed, byte for byte (trailing comma included).
pub const SEED_LOT: &str = include_str!("../fixtures/taf_seed_lot.json");

/// An S-1010 event (evtTabRubrica) for employer 53113791, about 2 KB once
/// padded with `padding` rubric descriptions.
pub fn rubrica_xml(code: &str, padding: usize) -> String {
    let descriptions: String = (0..padding)
        .map(|i| format!("<observacao>Rubrica de teste numero {i:04}</observacao>"))
        .collect();
    format!(
        "<eSocial xmlns=\"http://www.esocial.gov.br/schema/evt/evtTabRubrica/v_S_01_02_00\">\
         <evtTabRubrica Id=\"ID1531137910000002016121410173800001\"><ideEvento><tpAmb>2</tpAmb>\
         <procEmi>1</procEmi><verProc>1.0</verProc></ideEvento><ideEmpregador><tpInsc>1</tpInsc>\
         <nrInsc>53113791</nrInsc></ideEmpregador><infoRubrica><inclusao><ideRubrica>\
         <codRubr>{code}</codRubr><ideTabRubr>01</ideTabRubr><iniValid>2016-03</iniValid>\
         </ideRubrica><dadosRubrica><dscRubr>BASE PENSAO</dscRubr><natRubr>9989</natRubr>\
         <tpRubr>3</tpRubr><codIncCP>00</codIncCP><codIncIRRF>00</codIncIRRF>\
         <codIncFGTS>00</codIncFGTS>{descriptions}</dadosRubrica></inclusao></infoRubrica>\
         </evtTabRubrica></eSocial>"
    )
}

/// An S-2200 event (evtAdmissao).
pub fn admissao_xml() -> String {
    "<eSocial><evtAdmissao Id=\"ID1\"><ideEvento><tpAmb>2</tpAmb></ideEvento>\
     <ideEmpregador><tpInsc>1</tpInsc><nrInsc>53113791</nrInsc></ideEmpregador>\
     </evtAdmissao></eSocial>"
        .to_string()
}

pub fn b64(text: &str) -> String {
    STANDARD.encode(text)
}

/// A valid S-1010 item with `key`; change fields with `json!` merges.
pub fn item(key: &str) -> Value {
    json!({
        "sourceBranch": "0100",
        "messageType": "2",
        "messageSequential": "001",
        "registryType": "S-1010",
        "registryKey": key,
        "integrationMessage": b64(&rubrica_xml(key, 0)),
        "integrationDate": "20161210",
        "integrationTime": "14:15:22",
        "erpowner": "DATASUL"
    })
}

/// `item(key)` with some attributes replaced (or removed, with `Null`).
pub fn item_with(key: &str, changes: Value) -> Value {
    let mut item = item(key);
    let fields = item.as_object_mut().expect("object");
    for (name, value) in changes.as_object().expect("changes object") {
        if value.is_null() {
            fields.remove(name);
        } else {
            fields.insert(name.clone(), value.clone());
        }
    }
    item
}

pub fn lot(ticket: &str, items: Vec<Value>) -> Value {
    json!({ "ticketCode": ticket, "lote": items })
}

/// `count` valid items keyed `<prefix>-<n>`.
pub fn items(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| item(&format!("{prefix}-{i:05}")))
        .collect()
}

/// The codes of each item of a POST answer, by key.
pub fn codes(answer: &Value) -> Vec<(String, Vec<u64>)> {
    answer["registryKey"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            let codes = k["error"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["coderr"].as_u64())
                .collect();
            (k["key"].as_str().unwrap_or_default().to_string(), codes)
        })
        .collect()
}

/// Makes every status change of the records whose key starts with
/// `POISON` fail, as a handler that always fails would.
pub const POISON: &str = "
    CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.registry_key LIKE 'POISON%' AND NEW.status <> OLD.status THEN
            RAISE EXCEPTION 'poisoned record %', NEW.registry_key;
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER poison BEFORE UPDATE ON taf_record
        FOR EACH ROW EXECUTE FUNCTION poison();";

/// The registryKeys of a GET page's records, in order; the real server's
/// "not found" item (`success` false) names no record.
pub fn page_keys(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["success"] == true)
        .map(|i| i["registryKey"].as_str().unwrap_or_default().to_string())
        .collect()
}

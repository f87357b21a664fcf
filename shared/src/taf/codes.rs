//! TAF validation codes 800-813 with the descriptions of seed 001 (written
//! without accents, as TAF writes them). 807 (queue code) and 810 (branch
//! key) are never given: the real server accepts any integrationQueue and
//! any transferBranch. A lot or an item refused at intake
//! carries one or more of these as `{coderr, description}`.

use serde::Serialize;

/// One refusal, as it appears on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodedError {
    pub coderr: u16,
    pub description: String,
}

/// Why an item (or the whole lot) is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 800: an attribute of the structure is absent (even optional ones
    /// must be present; only their filling is optional).
    Missing(&'static str),
    /// 801: a mandatory attribute is empty.
    Empty(&'static str),
    /// 802: an attribute holds an invalid value.
    Invalid { field: &'static str, reason: String },
    /// 803 on an item: its sourceBranch is not in the branch registry.
    BranchNotRegistered,
    /// 803 on the lot: the first item's sourceBranch is not registered.
    LotBranchNotRegistered,
    /// 804: unknown registryType (layout).
    UnknownLayout(String),
    /// 805: registryPriority outside 0-5.
    Priority(String),
    /// 806: integrationMessage is not valid base64 or its text encoding is wrong.
    Encoding(String),
    /// 808: the database schema is older than this fila.
    SchemaOutdated,
    /// 809: no company group is configured at all.
    NoCompanies,
    /// 811: the event's employer does not identify the item's branch.
    BranchNotInMessage(String),
    /// 812: the branch belongs to another company group than the lot's.
    OtherCompanyGroup(String),
    /// 813: the registryKey is already pending or in processing.
    KeyPending(String),
}

impl Refusal {
    pub fn code(&self) -> u16 {
        match self {
            Refusal::Missing(_) => 800,
            Refusal::Empty(_) => 801,
            Refusal::Invalid { .. } => 802,
            Refusal::BranchNotRegistered | Refusal::LotBranchNotRegistered => 803,
            Refusal::UnknownLayout(_) => 804,
            Refusal::Priority(_) => 805,
            Refusal::Encoding(_) => 806,
            Refusal::SchemaOutdated => 808,
            Refusal::NoCompanies => 809,
            Refusal::BranchNotInMessage(_) => 811,
            Refusal::OtherCompanyGroup(_) => 812,
            Refusal::KeyPending(_) => 813,
        }
    }

    pub fn description(&self) -> String {
        match self {
            Refusal::Missing(field) => {
                format!(
                    "Campo {} nao informado na estrutura do arquivo.",
                    label(field)
                )
            }
            Refusal::Empty(field) => format!("Campo {} e Obrigatorio.", label(field)),
            Refusal::Invalid { field, reason } => {
                format!("Campo {} com valor invalido: {reason}", label(field))
            }
            Refusal::BranchNotRegistered => "O valor do campo TAFFIL (sourceBranch) nao esta \
                 cadastro no complemento de empresas."
                .into(),
            Refusal::LotBranchNotRegistered => "O valor do campo sourceBranch (TAFFIL) não está \
                 no cadastro no complemento de empresas."
                .into(),
            Refusal::UnknownLayout(sent) => {
                format!("Layout Invalido. registryType enviado: '{sent}'.")
            }
            Refusal::Priority(sent) => format!(
                "Codigo de Prioridade invalido! Codigo enviado: '{sent}'. Codigos validos: \
                 0 - Urgente, 1 - Prioridade Critica, 2 - Prioridade Alta, 3 - Prioridade Media, \
                 4 - Prioridade Baixa, 5 - Nao Prioritario"
            ),
            Refusal::Encoding(reason) => format!(
                "Campo TAFMSG (integrationMessage) com erro na codificacao ou criptografia: {reason}"
            ),
            Refusal::SchemaOutdated => "Estrutura da tabela TAFST2 esta desatualizada".into(),
            Refusal::NoCompanies => {
                "Nao ha configuracao de empresas no complemento de empresas".into()
            }
            Refusal::BranchNotInMessage(branch) => {
                format!("Nao foi possivel identificar a filial {branch} no corpo da mensagem.")
            }
            Refusal::OtherCompanyGroup(branch) => format!(
                "Codigo da Filial ERP {branch} nao pertence ao mesmo Grupo de Empresas no TAF \
                 considerando os registros integrados anteriormente neste lote."
            ),
            Refusal::KeyPending(key) => format!(
                "O TAFKEY {key} ja existe na TAFST2 e encontra-se pendente de processamento ou \
                 em processamento."
            ),
        }
    }

    pub fn to_wire(&self) -> CodedError {
        CodedError {
            coderr: self.code(),
            description: self.description(),
        }
    }
}

/// The name TAF gives a JSON attribute in its messages, e.g.
/// `TAFFIL (sourceBranch)`.
fn label(field: &str) -> String {
    let taf = match field {
        "sourceBranch" => "TAFFIL",
        "registryKey" => "TAFKEY",
        "ticketCode" => "TAFTICKET",
        "integrationMessage" => "TAFMSG",
        _ => return field.to_string(),
    };
    format!("{taf} ({field})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_descriptions_are_kept() {
        assert_eq!(
            Refusal::Empty("sourceBranch").description(),
            "Campo TAFFIL (sourceBranch) e Obrigatorio."
        );
        assert_eq!(
            Refusal::Priority("8".into()).description(),
            "Codigo de Prioridade invalido! Codigo enviado: '8'. Codigos validos: 0 - Urgente, \
             1 - Prioridade Critica, 2 - Prioridade Alta, 3 - Prioridade Media, 4 - Prioridade \
             Baixa, 5 - Nao Prioritario"
        );
        assert_eq!(
            Refusal::LotBranchNotRegistered.description(),
            "O valor do campo sourceBranch (TAFFIL) não está no cadastro no complemento de \
             empresas."
        );
    }

    #[test]
    fn codes_cover_800_to_813_but_807_and_810() {
        let all = [
            Refusal::Missing("x"),
            Refusal::Empty("x"),
            Refusal::Invalid {
                field: "x",
                reason: String::new(),
            },
            Refusal::BranchNotRegistered,
            Refusal::UnknownLayout(String::new()),
            Refusal::Priority(String::new()),
            Refusal::Encoding(String::new()),
            Refusal::SchemaOutdated,
            Refusal::NoCompanies,
            Refusal::BranchNotInMessage(String::new()),
            Refusal::OtherCompanyGroup(String::new()),
            Refusal::KeyPending(String::new()),
        ];
        let codes: Vec<u16> = all.iter().map(Refusal::code).collect();
        let expected: Vec<u16> = (800..=813).filter(|c| *c != 807 && *c != 810).collect();
        assert_eq!(codes, expected);
    }
}

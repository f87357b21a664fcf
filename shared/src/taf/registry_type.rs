//! The eSocial (S-) and EFD-REINF (R-) events fila knows, and the XML element
//! that carries each one; a `registryType` may also name a TAF TXT layout
//! (see `txt_layout`). Intake refuses any other `registryType` (code 804);
//! the worker checks that a record's XML holds the event its registryType
//! names. Some types accept an older element too: S-2200 was sent as
//! `evtCadInicial` by layouts before 2.2, as in the TAF seed's example lot.

use super::txt_layout::TxtLayouts;

/// `(registryType, accepted event elements)`, sorted by registryType.
const EVENTS: &[(&str, &[&str])] = &[
    ("R-1000", &["evtInfoContri"]),
    ("R-1050", &["evtTabLig"]),
    ("R-1070", &["evtTabProcesso"]),
    ("R-2010", &["evtServTom"]),
    ("R-2020", &["evtServPrest"]),
    ("R-2030", &["evtAssocDespRec"]),
    ("R-2040", &["evtAssocDespRep"]),
    ("R-2050", &["evtComProd"]),
    ("R-2055", &["evtAqProd"]),
    ("R-2060", &["evtCPRB"]),
    ("R-2070", &["evtPgtosDivs"]),
    ("R-2098", &["evtReabreEvPer"]),
    ("R-2099", &["evtFechaEvPer"]),
    ("R-3010", &["evtEspDesportivo"]),
    ("R-4010", &["evtRetPF"]),
    ("R-4020", &["evtRetPJ"]),
    ("R-4040", &["evtBenefNId"]),
    ("R-4080", &["evtRetRec"]),
    ("R-4099", &["evtFech"]),
    ("R-9000", &["evtExclusao"]),
    ("S-1000", &["evtInfoEmpregador"]),
    ("S-1005", &["evtTabEstab"]),
    ("S-1010", &["evtTabRubrica"]),
    ("S-1020", &["evtTabLotacao"]),
    ("S-1030", &["evtTabCargo"]),
    ("S-1035", &["evtTabCarreira"]),
    ("S-1040", &["evtTabFuncao"]),
    ("S-1050", &["evtTabHorTur"]),
    ("S-1060", &["evtTabAmbiente"]),
    ("S-1070", &["evtTabProcesso"]),
    ("S-1080", &["evtTabOperPort"]),
    ("S-1200", &["evtRemun"]),
    ("S-1202", &["evtRmnRPPS"]),
    ("S-1207", &["evtBenPrRP"]),
    ("S-1210", &["evtPgtos"]),
    ("S-1250", &["evtAqProd"]),
    ("S-1260", &["evtComProd"]),
    ("S-1270", &["evtContratAvNP"]),
    ("S-1280", &["evtInfoComplPer"]),
    ("S-1295", &["evtTotConting"]),
    ("S-1298", &["evtReabreEvPer"]),
    ("S-1299", &["evtFechaEvPer"]),
    ("S-1300", &["evtContrSindPatr"]),
    ("S-2190", &["evtAdmPrelim"]),
    ("S-2200", &["evtAdmissao", "evtCadInicial"]),
    ("S-2205", &["evtAltCadastral"]),
    ("S-2206", &["evtAltContratual"]),
    ("S-2210", &["evtCAT"]),
    ("S-2220", &["evtMonit"]),
    ("S-2221", &["evtToxic"]),
    ("S-2230", &["evtAfastTemp"]),
    ("S-2231", &["evtCessao"]),
    ("S-2240", &["evtExpRisco"]),
    ("S-2245", &["evtTreiCap"]),
    ("S-2250", &["evtAvPrevio"]),
    ("S-2260", &["evtConvInterm"]),
    ("S-2298", &["evtReintegr"]),
    ("S-2299", &["evtDeslig"]),
    ("S-2300", &["evtTSVInicio"]),
    ("S-2306", &["evtTSVAltContr"]),
    ("S-2399", &["evtTSVTermino"]),
    ("S-2400", &["evtCdBenefIn", "evtCdBenPrRP"]),
    ("S-2405", &["evtCdBenefAlt"]),
    ("S-2410", &["evtCdBenIn"]),
    ("S-2416", &["evtCdBenAlt"]),
    ("S-2418", &["evtReativBen"]),
    ("S-2420", &["evtCdBenTerm"]),
    ("S-2500", &["evtProcTrab"]),
    ("S-2501", &["evtContProc"]),
    ("S-2555", &["evtConsolidContProc"]),
    ("S-3000", &["evtExclusao"]),
    ("S-3500", &["evtExcProcTrab"]),
    ("S-5001", &["evtBasesTrab"]),
    ("S-5002", &["evtIrrfBenef"]),
    ("S-5003", &["evtBasesFGTS"]),
    ("S-5011", &["evtCS"]),
    ("S-5012", &["evtIrrf"]),
    ("S-5013", &["evtFGTS"]),
    ("S-5501", &["evtTribProcTrab"]),
    ("S-5503", &["evtFGTSProcTrab"]),
    ("S-8200", &["evtAnotJud"]),
    ("S-8299", &["evtBaixa"]),
];

/// A registryType fila knows, e.g. `S-1010`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryType {
    code: &'static str,
    elements: &'static [&'static str],
}

impl RegistryType {
    /// Looks a registryType up, ignoring ASCII case and surrounding blanks.
    pub fn parse(value: &str) -> Option<Self> {
        let wanted = value.trim();
        EVENTS
            .binary_search_by(|(code, _)| cmp_ignore_case(code, wanted))
            .ok()
            .map(|i| Self {
                code: EVENTS[i].0,
                elements: EVENTS[i].1,
            })
    }

    /// The canonical code, e.g. `S-1010`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The event element this type is sent in (the current layout's).
    pub fn element(&self) -> &'static str {
        self.elements[0]
    }

    /// Whether an XML event element carries this type.
    pub fn accepts(&self, element: &str) -> bool {
        self.elements.contains(&element)
    }
}

/// What a record's `registryType` names: an eSocial / Reinf event, or a TAF
/// TXT layout accepted by the `taf_txt_layouts` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    Event(RegistryType),
    Txt(String),
}

impl Layout {
    /// The event when fila knows it, else the TXT layout when accepted.
    pub fn parse(value: &str, txt: &TxtLayouts) -> Option<Self> {
        RegistryType::parse(value)
            .map(Self::Event)
            .or_else(|| txt.accept(value).map(Self::Txt))
    }

    /// The code as stored, e.g. `S-1010` or `T001AB`.
    pub fn code(&self) -> &str {
        match self {
            Self::Event(event) => event.code(),
            Self::Txt(layout) => layout,
        }
    }
}

fn cmp_ignore_case(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_uppercase())
        .cmp(b.bytes().map(|c| c.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(EVENTS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn finds_types_ignoring_case() {
        let t = RegistryType::parse(" s-1010 ").expect("known");
        assert_eq!(t.code(), "S-1010");
        assert!(t.accepts("evtTabRubrica"));
        assert!(!t.accepts("evtAdmissao"));
    }

    #[test]
    fn admission_accepts_the_legacy_initial_registration() {
        let t = RegistryType::parse("S-2200").expect("known");
        assert!(t.accepts("evtAdmissao") && t.accepts("evtCadInicial"));
    }

    #[test]
    fn layouts_are_events_or_txt_layouts() {
        let txt = TxtLayouts::default();
        assert_eq!(
            Layout::parse("s-1010", &txt)
                .map(|l| l.code().to_string())
                .as_deref(),
            Some("S-1010")
        );
        assert_eq!(
            Layout::parse("t001ab", &txt),
            Some(Layout::Txt("T001AB".into()))
        );
        assert_eq!(Layout::parse("S-9999", &txt), None);
    }

    #[test]
    fn unknown_types_are_none() {
        assert!(RegistryType::parse("S-9999").is_none());
        assert!(RegistryType::parse("").is_none());
    }
}

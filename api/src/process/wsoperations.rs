//! The operations of RM wsProcess, port by port, as RM serves them and its
//! WSDL describes them: `IwsBase` (`AutenticaAcesso`, which clients call
//! first to check their credentials), `IRMSServer`
//! (`CheckServiceActivity`, a liveness check) and `IwsProcess` (running and
//! following processes). Each port has its own path, `/wsProcess/<Port>`;
//! the dispatcher, the WSDL and the SOAPAction check all read this table.

/// A port of wsProcess: an interface of RM's service, at its own path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// Runs and follows processes; needs credentials.
    Process,
    /// `AutenticaAcesso`; open (the operation checks the credentials).
    Base,
    /// `CheckServiceActivity`; open.
    RmsServer,
}

impl Port {
    /// Every port, `IwsProcess` first: tooling that binds the first port
    /// of the WSDL's service gets the process operations.
    pub const ALL: [Port; 3] = [Port::Process, Port::Base, Port::RmsServer];

    /// The port's (and its interface's) name.
    pub const fn name(self) -> &'static str {
        match self {
            Port::Process => "IwsProcess",
            Port::Base => "IwsBase",
            Port::RmsServer => "IRMSServer",
        }
    }

    /// The path the port is served at.
    pub fn path(self) -> String {
        format!("/wsProcess/{}", self.name())
    }

    /// Whether a call of `operation` is answered at this port's path:
    /// `IwsProcess`, which needs credentials, answers every operation; the
    /// open ports answer the open ones (clients in the field send the
    /// handshake to either of them).
    pub fn serves(self, operation: &Operation) -> bool {
        match self {
            Port::Process => true,
            Port::Base | Port::RmsServer => operation.port != Port::Process,
        }
    }

    /// The names of the operations this port answers, for a fault.
    pub fn offered(self) -> String {
        OPERATIONS
            .iter()
            .filter(|op| self.serves(op))
            .map(|op| op.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The XML Schema type of an operation's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultType {
    String,
    Boolean,
}

/// An operation: its name, its port, its (string) parameters and result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub name: &'static str,
    pub port: Port,
    pub parameters: &'static [&'static str],
    pub result: ResultType,
}

const PROCESS_PARAMETERS: &[&str] = &["ProcessServerName", "strXmlParams"];

/// Every operation of wsProcess fila answers.
pub const OPERATIONS: [Operation; 7] = [
    Operation {
        name: "AutenticaAcesso",
        port: Port::Base,
        parameters: &[],
        result: ResultType::String,
    },
    Operation {
        name: "CheckServiceActivity",
        port: Port::RmsServer,
        parameters: &[],
        result: ResultType::Boolean,
    },
    Operation {
        name: "ExecuteWithParams",
        port: Port::Process,
        parameters: PROCESS_PARAMETERS,
        result: ResultType::String,
    },
    Operation {
        name: "ExecuteWithXmlParams",
        port: Port::Process,
        parameters: PROCESS_PARAMETERS,
        result: ResultType::String,
    },
    Operation {
        name: "ExecuteWithXmlParamsAsync",
        port: Port::Process,
        parameters: PROCESS_PARAMETERS,
        result: ResultType::String,
    },
    Operation {
        name: "GetProcessStatus",
        port: Port::Process,
        parameters: &["jobId", "execId"],
        result: ResultType::String,
    },
    Operation {
        name: "GetSchema",
        port: Port::Process,
        parameters: &["ProcessServerName"],
        result: ResultType::String,
    },
];

/// The operation of this name.
pub fn operation(name: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|op| op.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_ports_answer_only_the_handshake() {
        let execute = operation("ExecuteWithXmlParams").expect("known");
        let check = operation("CheckServiceActivity").expect("known");
        assert!(Port::Process.serves(execute) && Port::Process.serves(check));
        assert!(!Port::Base.serves(execute) && Port::Base.serves(check));
        assert_eq!(
            Port::RmsServer.offered(),
            "AutenticaAcesso, CheckServiceActivity"
        );
    }
}

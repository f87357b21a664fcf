//! RM wsProcess (`/wsProcess/IwsProcess`, seed 000, and the `IwsBase` and
//! `IRMSServer` ports RM serves besides): the seed's envelopes verbatim,
//! GetProcessStatus, the handshake clients start with, ExecuteWithParams
//! and GetSchema, synchronous runs longer than every timeout, a definition's
//! wait limit and failure answer, faults, and a client generated from the
//! WSDL.

use std::time::Duration;

use fila_tests::results::Results;
use fila_tests::runs::{
    DEFINITIONS, element, envelope, executions, fault, fixture, job, job_count, only_job,
    process_id, soap, wait_ended,
};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn start() -> Fila {
    Setup::new().processes(DEFINITIONS).start().await
}

/// GetProcessStatus until its Status is `wanted`; the last answer.
async fn status_until(fila: &Fila, job: i64, exec: i32, wanted: &str) -> String {
    let request = fixture("wsprocess_get_status.xml")
        .replace(
            "<tot:jobId>104863</tot:jobId>",
            &format!("<tot:jobId>{job}</tot:jobId>"),
        )
        .replace(
            "<tot:execId>1</tot:execId>",
            &format!("<tot:execId>{exec}</tot:execId>"),
        );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = soap(fila, "GetProcessStatus", request.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body.contains(&format!("<Status>{wanted}</Status>")) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {wanted}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn seed_execute_with_escaped_params_runs_and_answers_1() {
    let fila = start().await;
    let mut results = Results::observe(&fila).await;
    let (status, body) = soap(
        &fila,
        "ExecuteWithXmlParams",
        fixture("wsprocess_execute.xml"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("<ExecuteWithXmlParamsResponse xmlns=\"http://www.totvs.com/\"><ExecuteWithXmlParamsResult>1</ExecuteWithXmlParamsResult>"),
        "{body}"
    );
    let job_id = only_job(&fila).await;
    let stored = job(&fila, job_id).await;
    assert_eq!(stored["process"], "GlbProcCopyConsSQL");
    let params = &stored["parameters"];
    for (key, value) in [
        ("$CODUNIDADEBIB", json!(1)),
        ("$CHAPAFUNCIONARIO", json!("00001")),
        ("$EXERCICIOFISCAL", json!(2)),
        ("$RHTIPOUSR", json!("01")),
        ("$CODUSUARIO", json!("mestre")),
        ("$CODUSUARIOSERVICO", json!("")),
        ("$CODIGOEXTERNO", json!("-1")),
        ("$IDPRJ", json!(2)),
        ("CanParallelize", json!(true)),
        ("IsolateProcess", json!(false)),
        ("Context", json!({ "Environment": "DotNet" })),
        ("PrimaryKeyList", json!([[1, "G", "Exemplo"]])),
        (
            "PrimaryKeyNames",
            json!(["CODCOLIGADA", "APLICACAO", "CODSENTENCA"]),
        ),
        ("TargetColigadas", json!([6])),
        ("ReplaceExistingRecords", json!(false)),
    ] {
        assert_eq!(params[key], value, "{key} in {params}");
    }
    assert_eq!(params.as_object().map(|p| p.len()), Some(27), "{params}");
    let runs = executions(&fila, job_id).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].outputs.as_ref(),
        Some(params),
        "Echo answers its parameters"
    );
    let published = results.collect_routed("process.", 1, 30).await;
    assert_eq!(
        published[0].routing_key,
        "process.GlbProcCopyConsSQL.succeeded"
    );
    assert_eq!(published[0].body["jobId"], job_id);
    assert_eq!(published[0].body["execId"], 1);
    results.close().await;
}

#[tokio::test]
async fn seed_async_with_cdata_params_then_status_until_finished() {
    let fila = start().await;
    let (status, body) = soap(
        &fila,
        "ExecuteWithXmlParamsAsync",
        fixture("wsprocess_execute_async.xml"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = element(&body, "ExecuteWithXmlParamsAsyncResult").expect("result");
    assert!(
        result.starts_with("<![CDATA[<?xml version=\"1.0\" encoding=\"utf-16\"?>"),
        "{result}"
    );
    let (job_id, exec) = process_id(&result);
    assert_eq!(exec, 1);
    let params = job(&fila, job_id).await["parameters"].clone();
    for (key, value) in [
        ("$EXERCICIOFISCAL", json!(22)),
        ("$CODLOCPRT", json!(12)),
        ("$EDUTIPOUSR", json!("A")),
        ("$CODUSUARIOSERVICO", json!("")),
        ("ActionModule", json!("G")),
        ("CodUsuario", json!("mestre")),
        ("PrimaryKeyList", json!([["1Teste"]])),
        ("PrimaryKeyNames", json!(["CODUSUARIO"])),
        ("CopyToAllApplications", json!(true)),
        (
            "NewUser",
            json!({ "Email": null, "Nome": null, "Senha": null, "Usuario": null,
                    "UsuariodeRede": null, "codAcesso": null }),
        ),
        ("SourceUsuario", json!("mestre")),
    ] {
        assert_eq!(params[key], value, "{key} in {params}");
    }
    let info = status_until(&fila, job_id, exec, "Finished").await;
    let info = element(&info, "GetProcessStatusResult").expect("result");
    assert!(info.starts_with("<![CDATA[<?xml version=\"1.0\" encoding=\"utf-16\"?>"));
    assert_eq!(element(&info, "JobID"), Some(job_id.to_string()));
    assert_eq!(element(&info, "ExecID"), Some("1".into()));
    assert_eq!(element(&info, "Progress"), Some("-1".into()));
    assert!(info.contains("<Message />"), "{info}");
}

/// The definitions of the tests, with those that set a wait limit or
/// answer failures as results.
fn definitions() -> String {
    format!(
        "{DEFINITIONS}\n\
         [[process]]\nname = \"SleepBriefly\"\nrunner = \"builtin\"\nbuiltin = \"Sleep\"\nsync_wait_secs = 1\n\n\
         [[process]]\nname = \"FailAsRm\"\nrunner = \"builtin\"\nbuiltin = \"Fail\"\nfailure_answer = \"result\"\n"
    )
}

/// POSTs `body` to `/wsProcess/<port>` with the SOAPAction
/// `http://www.totvs.com/<port>/<operation>`, as the request builder
/// `request` has it (credentials or none); the status and the body.
async fn call(
    request: reqwest::RequestBuilder,
    port: &str,
    operation: &str,
    body: String,
) -> (StatusCode, String) {
    let response = request
        .header("Content-Type", "text/xml; charset=utf-8")
        .header(
            "SOAPAction",
            format!("\"http://www.totvs.com/{port}/{operation}\""),
        )
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{port}/{operation}: {e}"));
    let status = response.status();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn a_sync_call_waits_for_a_run_longer_than_every_timeout() {
    // The request bound is 6 s and the other synchronous waits 1 s; the
    // run takes 8 s: the caller still gets its answer, and one run is made.
    let fila = Setup::new()
        .processes(DEFINITIONS)
        .env("PROCESS_SYNC_TIMEOUT_SECS", 1)
        .env("EAI_SYNC_TIMEOUT_SECS", 1)
        .env("HTTP_REQUEST_TIMEOUT_SECS", 6)
        .start()
        .await;
    let started = tokio::time::Instant::now();
    for operation in ["ExecuteWithXmlParams", "ExecuteWithParams"] {
        let request = envelope(
            operation,
            &[
                ("ProcessServerName", "Sleep"),
                ("strXmlParams", "<P><seconds>8</seconds></P>"),
            ],
        );
        let (status, body) = soap(&fila, operation, request).await;
        assert_eq!(status, StatusCode::OK, "{operation}: {body}");
        assert_eq!(
            element(&body, &format!("{operation}Result")).as_deref(),
            Some("1"),
            "{body}"
        );
    }
    assert!(started.elapsed() >= Duration::from_secs(16));
    assert_eq!(job_count(&fila).await, 2, "one run per call");
}

#[tokio::test]
async fn past_the_definitions_wait_limit_the_call_is_a_fault_and_the_run_goes_on() {
    let fila = Setup::new().processes(&definitions()).start().await;
    let request = envelope(
        "ExecuteWithXmlParams",
        &[
            ("ProcessServerName", "SleepBriefly"),
            ("strXmlParams", "<P><seconds>3</seconds></P>"),
        ],
    );
    let (status, body) = soap(&fila, "ExecuteWithXmlParams", request).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let (code, reason) = fault(&body).expect("fault");
    assert_eq!(code, "s:Server");
    let job_id = only_job(&fila).await;
    assert!(
        reason.contains(&format!(
            "did not finish within 1 s; it goes on as JobID {job_id}, ExecID 1"
        )),
        "{reason}"
    );
    let info = status_until(&fila, job_id, 1, "Finished").await;
    assert!(
        info.contains("<Progress>100</Progress>"),
        "Sleep reports progress: {info}"
    );
}

#[tokio::test]
async fn a_definition_may_answer_a_failed_run_as_rm_does() {
    let fila = Setup::new().processes(&definitions()).start().await;
    let request = envelope(
        "ExecuteWithXmlParams",
        &[
            ("ProcessServerName", "FailAsRm"),
            (
                "strXmlParams",
                "<P><message>Coligada 7 inexistente</message></P>",
            ),
        ],
    );
    let (status, body) = soap(&fila, "ExecuteWithXmlParams", request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        element(&body, "ExecuteWithXmlParamsResult").as_deref(),
        Some("Coligada 7 inexistente"),
        "{body}"
    );
    let job_id = only_job(&fila).await;
    status_until(&fila, job_id, 1, "Failed").await;
}

#[tokio::test]
async fn the_handshake_answers_at_its_ports() {
    let fila = start().await;
    let autentica = || envelope("AutenticaAcesso", &[]);
    let check = || envelope("CheckServiceActivity", &[]);
    let (status, body) = call(
        fila.request(Method::POST, "/wsProcess/IwsBase"),
        "IwsBase",
        "AutenticaAcesso",
        autentica(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("<AutenticaAcessoResponse xmlns=\"http://www.totvs.com/\"><AutenticaAcessoResult>1</AutenticaAcessoResult>"),
        "{body}"
    );
    for (case, request) in [
        (
            "wrong password",
            fila.anonymous(Method::POST, "/wsProcess/IwsBase")
                .basic_auth(fila_tests::fila::PRODUCER.0, Some("wrong")),
        ),
        (
            "no credentials",
            fila.anonymous(Method::POST, "/wsProcess/IwsBase"),
        ),
    ] {
        let (status, body) = call(request, "IwsBase", "AutenticaAcesso", autentica()).await;
        assert_eq!(status, StatusCode::OK, "{case}: {body}");
        assert_eq!(
            element(&body, "AutenticaAcessoResult").as_deref(),
            Some("0"),
            "{case}: {body}"
        );
    }
    for request in [
        fila.anonymous(Method::POST, "/wsProcess/IRMSServer"),
        fila.request(Method::POST, "/wsProcess/IRMSServer"),
        fila.request(Method::POST, "/wsProcess/IwsProcess"),
    ] {
        let (status, body) = call(request, "IRMSServer", "CheckServiceActivity", check()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            element(&body, "CheckServiceActivityResult").as_deref(),
            Some("true"),
            "{body}"
        );
    }
    // The open ports run nothing.
    let execute = envelope(
        "ExecuteWithXmlParamsAsync",
        &[("ProcessServerName", "FullName"), ("strXmlParams", "")],
    );
    let (status, body) = call(
        fila.request(Method::POST, "/wsProcess/IwsBase"),
        "IwsProcess",
        "ExecuteWithXmlParamsAsync",
        execute,
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let (code, reason) = fault(&body).expect("fault");
    assert_eq!(code, "s:Client");
    assert!(
        reason.contains("IwsBase has no operation ExecuteWithXmlParamsAsync"),
        "{reason}"
    );
    assert_eq!(job_count(&fila).await, 0);
}

#[tokio::test]
async fn get_schema_describes_a_process_and_execute_with_params_runs_it() {
    let fila = start().await;
    let (status, body) = soap(
        &fila,
        "GetSchema",
        envelope(
            "GetSchema",
            &[("ProcessServerName", "UsrAddNewExternalContact")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let schema = element(&body, "GetSchemaResult").expect("result");
    for part in [
        "<xs:element name=\"UsrAddNewExternalContact\">",
        "<xs:element name=\"Age\" type=\"xs:long\" minOccurs=\"0\"",
        "<xs:element name=\"ContactName\" type=\"xs:string\" minOccurs=\"1\"",
    ] {
        assert!(schema.contains(part), "{part} in {schema}");
    }
    let (status, body) = soap(
        &fila,
        "GetSchema",
        envelope("GetSchema", &[("ProcessServerName", "NoSuchProc")]),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("process NoSuchProc is not defined"), "{body}");

    let request = envelope(
        "ExecuteWithParams",
        &[
            ("ProcessServerName", "FullName"),
            (
                "strXmlParams",
                "<P><name>Grace</name><surname>Hopper</surname></P>",
            ),
        ],
    );
    let (status, body) = soap(&fila, "ExecuteWithParams", request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        element(&body, "ExecuteWithParamsResult").as_deref(),
        Some("1"),
        "{body}"
    );
    let runs = wait_ended(&fila, only_job(&fila).await, 1, 10).await;
    assert_eq!(
        runs[0].outputs.as_ref().map(|o| o["fullName"].clone()),
        Some(json!("Grace Hopper"))
    );
}

#[tokio::test]
async fn a_failed_process_is_a_server_fault_with_its_message() {
    let fila = start().await;
    let request = envelope(
        "ExecuteWithXmlParams",
        &[
            ("ProcessServerName", "Fail"),
            (
                "strXmlParams",
                "<P><message>ledger &amp; books closed</message></P>",
            ),
        ],
    );
    let (status, body) = soap(&fila, "ExecuteWithXmlParams", request).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        fault(&body),
        Some(("s:Server".into(), "ledger &amp; books closed".into())),
        "the message travels escaped: {body}"
    );
    let request = envelope(
        "ExecuteWithXmlParamsAsync",
        &[("ProcessServerName", "Fail"), ("strXmlParams", "")],
    );
    let (_, body) = soap(&fila, "ExecuteWithXmlParamsAsync", request).await;
    let (job_id, exec) = process_id(&body);
    let info = status_until(&fila, job_id, exec, "Failed").await;
    assert!(info.contains("the process failed on purpose"), "{info}");
}

#[tokio::test]
async fn bad_requests_are_client_faults() {
    let fila = Setup::new()
        .processes(DEFINITIONS)
        .env("MAX_BODY_BYTES", 65_536)
        .start()
        .await;
    let execute = |name: &str, params: &str| {
        envelope(
            "ExecuteWithXmlParamsAsync",
            &[("ProcessServerName", name), ("strXmlParams", params)],
        )
    };
    let status_of =
        |job: &str, exec: &str| envelope("GetProcessStatus", &[("jobId", job), ("execId", exec)]);
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "malformed XML",
            "ExecuteWithXmlParamsAsync",
            b"<soapenv:Envelope".to_vec(),
            "not well-formed",
        ),
        (
            "not SOAP",
            "ExecuteWithXmlParamsAsync",
            b"<a/>".to_vec(),
            "not a SOAP 1.1 envelope",
        ),
        (
            "unknown operation",
            "Execute",
            envelope("Execute", &[("ProcessServerName", "FullName")]).into_bytes(),
            "has no operation Execute",
        ),
        (
            "SOAPAction of another operation",
            "GetProcessStatus",
            execute("FullName", "").into_bytes(),
            "does not name the operation in the body",
        ),
        (
            "no process name",
            "ExecuteWithXmlParamsAsync",
            envelope("ExecuteWithXmlParamsAsync", &[("strXmlParams", "")]).into_bytes(),
            "ProcessServerName is required",
        ),
        (
            "unknown process",
            "ExecuteWithXmlParamsAsync",
            execute("NoSuchProc", "").into_bytes(),
            "process NoSuchProc is not defined",
        ),
        (
            "malformed params",
            "ExecuteWithXmlParamsAsync",
            execute("FullName", "<P><a></P>").into_bytes(),
            "strXmlParams is not well-formed",
        ),
        (
            "params the definition refuses",
            "ExecuteWithXmlParamsAsync",
            execute(
                "UsrAddNewExternalContact",
                "<P><ContactName>Ann</ContactName><Age>old</Age></P>",
            )
            .into_bytes(),
            "parameter Age must be an integer",
        ),
        (
            "jobId not a number",
            "GetProcessStatus",
            status_of("x1", "1").into_bytes(),
            "jobId must be a whole number",
        ),
        (
            "no execId",
            "GetProcessStatus",
            envelope("GetProcessStatus", &[("jobId", "1")]).into_bytes(),
            "execId is required",
        ),
        (
            "unknown job",
            "GetProcessStatus",
            status_of("999999", "1").into_bytes(),
            "no process has JobID 999999 and ExecID 1",
        ),
        (
            "not UTF-8",
            "ExecuteWithXmlParamsAsync",
            vec![0x3c, 0xff, 0xfe, 0x00, 0x3e],
            "neither UTF-8 nor UTF-16",
        ),
    ];
    for (case, action, body, reason) in cases {
        let (status, answer) = soap(&fila, action, body).await;
        assert_eq!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{case}: {answer}"
        );
        let (code, text) = fault(&answer).unwrap_or_else(|| panic!("{case}: no fault in {answer}"));
        assert_eq!(code, "s:Client", "{case}: {answer}");
        assert!(text.contains(reason), "{case}: {text}");
    }
    let count = job_count(&fila).await;
    assert_eq!(count, 0, "no refused call made a job");

    let oversized = "x".repeat(100_000);
    let (status, answer) = soap(&fila, "ExecuteWithXmlParams", oversized).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        answer.contains("<faultcode>s:Client</faultcode>"),
        "{answer}"
    );

    let response = fila
        .anonymous(Method::POST, "/wsProcess/IwsProcess")
        .body(execute("FullName", ""))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_wsdl_is_open_and_names_this_address() {
    let fila = start().await;
    for path in [
        "/wsProcess/IwsProcess?wsdl",
        "/wsProcess/IwsBase?wsdl",
        "/wsProcess/IRMSServer?wsdl",
        "/wsProcess/MEX?wsdl",
    ] {
        let response = fila
            .anonymous(Method::GET, path)
            .send()
            .await
            .expect("wsdl");
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.expect("text");
        for port in ["IwsProcess", "IwsBase", "IRMSServer"] {
            assert!(
                text.contains(&format!("location=\"{}/wsProcess/{port}\"", fila.base_url)),
                "{text}"
            );
        }
        for action in [
            "IwsProcess/ExecuteWithXmlParams",
            "IwsProcess/ExecuteWithXmlParamsAsync",
            "IwsProcess/ExecuteWithParams",
            "IwsProcess/GetProcessStatus",
            "IwsProcess/GetSchema",
            "IwsBase/AutenticaAcesso",
            "IRMSServer/CheckServiceActivity",
        ] {
            assert!(text.contains(&format!("soapAction=\"http://www.totvs.com/{action}\"")));
        }
    }
}

#[tokio::test]
async fn a_client_generated_from_the_wsdl_calls_every_operation() {
    let fila = start().await;
    let python = std::env::var("E2E_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!("{}/fixtures/wsdl_client.py", env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(format!("{}/wsProcess/IwsProcess?wsdl", fila.base_url))
        .arg(fila_tests::fila::PRODUCER.0)
        .arg(fila_tests::fila::PRODUCER.1)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the zeep client failed (run the tests through deploy/local/test.sh, which installs \
         zeep, or set E2E_PYTHON to a Python that has it):\n{stdout}\n{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.get(..5),
        Some(
            &[
                "autentica 1",
                "autentica-wrong 0",
                "check True",
                "schema FullName",
                "sync 1",
            ][..]
        ),
        "{stdout}"
    );
    assert!(lines.contains(&"params 1"), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with("async ")), "{stdout}");
    assert_eq!(lines.last(), Some(&"status Finished"), "{stdout}");
    assert_eq!(job_count(&fila).await, 3, "sync, params and async runs");
    let (job_id, _) = lines
        .iter()
        .find_map(|l| l.strip_prefix("async "))
        .map(|ids| {
            let (job, exec) = ids.split_once(' ').expect("ids");
            (
                job.parse::<i64>().expect("job"),
                exec.parse::<i32>().expect("exec"),
            )
        })
        .expect("async line");
    let runs = wait_ended(&fila, job_id, 1, 10).await;
    assert_eq!(
        runs[0].outputs.as_ref().map(|o| o["fullName"].clone()),
        Some(json!("Ada Lovelace"))
    );
}

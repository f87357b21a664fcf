//! Certificates made for a test (rcgen): a certificate authority, and the
//! server and client certificates it signs, written as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A certificate and its private key, as PEM files.
#[derive(Debug, Clone)]
pub struct Pem {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A CA of the test's own.
pub struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// Writes the CA's certificate (what a client trusts) to `path`.
    pub fn write_certificate(&self, path: &Path) {
        std::fs::write(path, self.issuer.pem()).expect("CA file");
    }

    /// A server certificate for `names` (DNS names or IP addresses),
    /// written as `<dir>/<stem>.pem` and `<dir>/<stem>.key`.
    pub fn server(&self, names: &[&str], dir: &Path, stem: &str) -> Pem {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("server parameters");
        params.distinguished_name.push(DnType::CommonName, stem);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params, dir, stem)
    }

    /// A client certificate named `name`, written as `<dir>/<stem>.pem`
    /// and `<dir>/<stem>.key`.
    pub fn client(&self, name: &str, dir: &Path, stem: &str) -> Pem {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params, dir, stem)
    }

    fn issue(&self, params: CertificateParams, dir: &Path, stem: &str) -> Pem {
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        let pem = Pem {
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}.key")),
        };
        std::fs::write(&pem.cert, cert.pem()).expect("certificate file");
        std::fs::write(&pem.key, key.serialize_pem()).expect("key file");
        pem
    }
}

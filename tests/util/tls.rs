//! Certificates for TLS tests, made by rcgen and written as PEM files: a CA that issues server
//! and client certificates (for given names, optionally expired), and the built-in target
//! serving TLS or mTLS with them.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pair {
    pub fn cert(&self) -> &str {
        self.cert.to_str().unwrap()
    }
    pub fn key(&self) -> &str {
        self.key.to_str().unwrap()
    }
}

/// A CA whose certificate is at `cert`.
pub struct Ca {
    pub cert: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    dir: PathBuf,
}

impl Ca {
    /// A new CA named `name`, its certificate written to `dir/name.pem`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = dir.join(format!("{name}.pem"));
        std::fs::write(&cert, p.self_signed(&key).unwrap().pem()).unwrap();
        Ca {
            cert,
            issuer: Issuer::new(p, key),
            dir: dir.to_path_buf(),
        }
    }

    pub fn cert(&self) -> &str {
        self.cert.to_str().unwrap()
    }

    fn issue(
        &self,
        stem: &str,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
        expired: bool,
    ) -> Pair {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        p.extended_key_usages = vec![usage];
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let pair = Pair {
            cert: self.dir.join(format!("{stem}.pem")),
            key: self.dir.join(format!("{stem}.key")),
        };
        std::fs::write(&pair.cert, p.signed_by(&key, &self.issuer).unwrap().pem()).unwrap();
        std::fs::write(&pair.key, key.serialize_pem()).unwrap();
        pair
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, stem: &str, names: &[&str]) -> Pair {
        self.issue(stem, names, ExtendedKeyUsagePurpose::ServerAuth, false)
    }

    /// A server certificate that expired in 2021.
    pub fn expired_server(&self, stem: &str, names: &[&str]) -> Pair {
        self.issue(stem, names, ExtendedKeyUsagePurpose::ServerAuth, true)
    }

    /// A client certificate (mTLS).
    pub fn client(&self, stem: &str) -> Pair {
        self.issue(
            stem,
            &["client.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
            false,
        )
    }
}

/// The built-in target serving TLS with `server` (and requiring certificates of `client_ca`).
pub fn target(server: &Pair, client_ca: Option<&Ca>) -> ringload_target::TargetHandle {
    ringload_target::spawn(ringload_target::TargetConfig {
        tls: Some(ringload_target::TlsConfig {
            cert_pem: std::fs::read(&server.cert).unwrap(),
            key_pem: std::fs::read(&server.key).unwrap(),
            client_ca_pem: client_ca.map(|c| std::fs::read(&c.cert).unwrap()),
        }),
        ..ringload_target::TargetConfig::default()
    })
    .expect("TLS target starts")
}

//! Throwaway TLS certificates for tests: a CA and a server certificate it signed, made with the
//! `openssl` command (P-256 keys, valid one day). Deleted with the value.

use std::path::PathBuf;

pub struct TestCertificate {
    dir: PathBuf,
    /// The server's certificate (PEM), for `server.tls_cert`.
    pub cert: PathBuf,
    /// Its private key (PEM), for `server.tls_key`.
    pub key: PathBuf,
    /// The CA certificate a client must trust.
    pub ca: PathBuf,
}

impl TestCertificate {
    /// A certificate for `san`, an OpenSSL subjectAltName list such as `DNS:localhost,IP:127.0.0.1`.
    pub fn create(san: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ostiary-tls-{}", domain::secret::random_token(8)));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("ext.cnf"), format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\n"))
            .expect("ext.cnf");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        let steps: [Vec<&str>; 3] = [
            [
                &["req", "-x509"][..],
                &ec,
                &["-days", "1", "-subj", "/CN=Ostiary test CA", "-keyout", "ca.key", "-out", "ca.pem"],
            ]
            .concat(),
            [&["req"][..], &ec, &["-subj", "/CN=ostiary-test", "-keyout", "key.pem", "-out", "leaf.csr"]].concat(),
            vec![
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "ext.cnf",
                "-out",
                "cert.pem",
            ],
        ];
        for args in steps {
            let made = std::process::Command::new("openssl")
                .args(&args)
                .current_dir(&dir)
                .output()
                .expect("openssl makes test certificates");
            assert!(made.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&made.stderr));
        }
        Self { cert: dir.join("cert.pem"), key: dir.join("key.pem"), ca: dir.join("ca.pem"), dir }
    }
}

impl Drop for TestCertificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

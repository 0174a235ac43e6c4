//! Delivery over SMTP to a real SMTP server process (Python's aiosmtpd), and failures recorded.

use std::time::Duration;

use authorization_server::Alg;
use testkit::{Db, TestApp, spawn_app_with};

use crate::oidc::authorize_url;
use crate::unique_email;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An aiosmtpd server (`tests/interop/smtp_sink.py`) saving the raw bytes of every message it accepts; killed on drop.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    maildir: std::path::PathBuf,
}

impl SmtpServer {
    #[allow(clippy::zombie_processes)] // killed and reaped in Drop, or the test panics and exits
    async fn start() -> Self {
        let port = free_port();
        let maildir = std::env::temp_dir().join(format!("ostiary-mail-{}", domain::secret::random_token(8)));
        let child = std::process::Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/interop/smtp_sink.py"))
            .arg(format!("127.0.0.1:{port}"))
            .arg(&maildir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (installed by scripts/test-deps.sh)");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { child, port, maildir };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("aiosmtpd did not start on port {port}");
    }

    /// The raw messages received so far.
    fn messages(&self) -> Vec<String> {
        self.paths().iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
    }

    /// The files of the complete messages received so far.
    fn paths(&self) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(self.maildir.join("new"))
            .map(|dir| {
                dir.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

async fn smtp_app(port: u16) -> TestApp {
    spawn_app_with(Db::Sqlite, |s| {
        s.delivery.email = vec![passwordless_connection::EmailProvider::Smtp];
        s.delivery.sms = vec![];
        s.delivery.smtp.host = "127.0.0.1".into();
        s.delivery.smtp.port = port;
        s.delivery.smtp.tls = passwordless_connection::SmtpTls::None;
        s.delivery.email_from = Some("Ostiary Login <login@example.com>".parse().unwrap());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_email_is_delivered_over_smtp_and_its_code_works() {
    let smtp = SmtpServer::start().await;
    let app = smtp_app(smtp.port).await;
    assert_eq!(
        reqwest::get(app.url("/dev/outbox.json")).await.unwrap().status(),
        404,
        "no dev outbox with a real provider"
    );
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let email = unique_email();
    let code_page = app.start_login(&browser, &authorize_url(&app, &client, &[]), &email).await;
    let mut raw = String::new();
    for _ in 0..400 {
        if let Some(m) = smtp.messages().into_iter().find(|m| m.contains(&email)) {
            raw = m;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!raw.is_empty(), "the SMTP server received the message");
    assert!(raw.contains("From: \"Ostiary Login\" <login@example.com>"), "{raw}");
    assert!(raw.contains(&format!("To: {email}")), "{raw}");
    assert!(raw.contains("Subject: Your sign-in code for Test app"), "{raw}");
    assert!(raw.contains("multipart/alternative"), "text and HTML parts");
    let code = raw
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .expect("the code on its own line")
        .to_owned();
    assert_eq!(app.submit_code(&browser, &code_page, &code).await.status(), 303, "the emailed code signs in");

    // Delivered: recorded as sent by smtp, and the body (code and link) wiped from the queue.
    let stored = app.store.recent_messages(10).await.unwrap();
    let m = stored.iter().find(|m| m.recipient == email).unwrap();
    assert_eq!((m.status.as_str(), m.provider.as_deref()), ("sent", Some("smtp")));
    assert!(m.text_body.is_none() && m.html_body.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_is_recorded_with_its_reason_and_retried() {
    let app = smtp_app(free_port()).await; // nothing listens there
    let client = app.register_client(false, Alg::RS256).await;
    let email = unique_email();
    app.start_login(&app.browser(), &authorize_url(&app, &client, &[]), &email).await;
    let mut found = None;
    for _ in 0..400 {
        let stored = app.store.recent_messages(10).await.unwrap();
        if let Some(m) = stored.into_iter().find(|m| m.recipient == email && m.last_error.is_some()) {
            found = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let m = found.expect("the failure is recorded");
    assert_eq!(m.status, "queued", "it will be retried");
    assert!(m.attempts >= 1);
    assert!(m.text_body.is_some(), "kept (sealed) for the retry");
}

/// Runs a command; panics with its output when it cannot start.
fn run(cmd: &mut std::process::Command) -> std::process::Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_mail_is_dkim_signed_and_the_signature_verifies() {
    let dir = std::env::temp_dir().join(format!("ostiary-dkim-{}", domain::secret::random_token(8)));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("dkim.pem");
    // lettre reads PKCS#1 RSA keys; OpenSSL 3 writes those with -traditional.
    let out = run(std::process::Command::new("openssl").args(["genrsa", "-traditional", "-out"]).arg(&key).arg("2048"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(std::process::Command::new("openssl").args(["rsa", "-pubout", "-outform", "DER", "-in"]).arg(&key));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    use base64::Engine;
    let public = base64::engine::general_purpose::STANDARD.encode(&out.stdout);

    let smtp = SmtpServer::start().await;
    let port = smtp.port;
    let key_file = key.display().to_string();
    let app = spawn_app_with(Db::Sqlite, move |s| {
        s.delivery.email = vec![passwordless_connection::EmailProvider::Smtp];
        s.delivery.email_from = Some("Ostiary Login <login@example.com>".parse().unwrap());
        s.delivery.smtp.host = "127.0.0.1".into();
        s.delivery.smtp.port = port;
        s.delivery.smtp.tls = passwordless_connection::SmtpTls::None;
        s.delivery.smtp.dkim_domain = "example.com".into();
        s.delivery.smtp.dkim_selector = "sel1".into();
        s.delivery.smtp.dkim_key_file = Some(key_file.into());
    })
    .await;
    let client = app.register_client(false, Alg::RS256).await;
    app.start_login(&app.browser(), &authorize_url(&app, &client, &[]), &unique_email()).await;
    let mut path = None;
    for _ in 0..400 {
        path = smtp.paths().into_iter().next();
        if path.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let path = path.expect("the SMTP server received the message");
    let verify = |p: &std::path::Path| {
        run(std::process::Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/interop/dkim_verify.py"))
            .arg(p)
            .args(["sel1", "example.com", &public]))
    };
    let out = verify(&path);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(raw.contains("d=example.com") && raw.contains("s=sel1"), "{raw}");

    // The check can fail: one added line at the top of the body breaks the signature.
    let tampered = dir.join("tampered.eml");
    let split = raw.find("\r\n\r\n").map(|i| i + 4).or_else(|| raw.find("\n\n").map(|i| i + 2)).unwrap();
    std::fs::write(&tampered, format!("{}tampered\r\n{}", &raw[..split], &raw[split..])).unwrap();
    assert_eq!(verify(&tampered).status.code(), Some(1), "a tampered body must not verify");
    let _ = std::fs::remove_dir_all(dir);
}

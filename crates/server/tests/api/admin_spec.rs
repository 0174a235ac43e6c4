//! The admin API's OpenAPI 3.1 document: valid by an independent validator, and true to the
//! routes the server answers.

use testkit::{Db, both_backends, spawn_app};

use crate::admin::admin_token;

const OPENAPI: &str = "/api/admin/v1/openapi.json";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

both_backends!(the_openapi_document_is_valid_and_names_exactly_the_routes_served, |db: Db| async move {
    let app = spawn_app(db).await;
    let resp = app.api.get(app.url(OPENAPI)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    // An independent validator (openapi-spec-validator, installed by scripts/test-deps.sh).
    let file = std::env::temp_dir().join(format!("ostiary-openapi-{}.json", domain::secret::random_token(9)));
    std::fs::write(&file, &text).unwrap();
    let out = tokio::process::Command::new("python3")
        .args(["-c", "import sys; from openapi_spec_validator import validate; from openapi_spec_validator.readers import read_from_filename; validate(read_from_filename(sys.argv[1])[0]); print('valid')"])
        .arg(&file)
        .output()
        .await
        .expect("python3 runs (openapi-spec-validator is installed by scripts/test-deps.sh)");
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "the validator refused the document:\n{}", String::from_utf8_lossy(&out.stderr));

    // Every documented operation is served (an answer of the API's own, never the server's
    // not-found page), and every other method on a documented path is not.
    let (_, token) = admin_token(&app).await;
    let base = doc["servers"][0]["url"].as_str().unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 6, "{paths:?}");
    // Whether some documented operation takes `method` on the concrete `path`.
    let documented = |method: &str, path: &str| {
        paths.iter().any(|(template, ops)| {
            let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
            ops.get(method).is_some()
                && t.len() == p.len()
                && t.iter().zip(&p).all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
        })
    };
    for path in paths.keys() {
        let concrete: String =
            path.split('/').map(|s| if s.starts_with('{') { "unknown" } else { s }).collect::<Vec<_>>().join("/");
        let url = app.url(&format!("{base}{concrete}"));
        for method in METHODS {
            let req = app.api.request(method.to_uppercase().parse().unwrap(), &url).bearer_auth(&token);
            let resp = req.header("If-Match", "\"1\"").json(&serde_json::json!([])).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap_or_default();
            let served = body.get("error").is_some() || (200..300).contains(&status);
            assert_eq!(served, documented(method, &concrete), "{method} {path}: {status} {body}");
        }
    }
});

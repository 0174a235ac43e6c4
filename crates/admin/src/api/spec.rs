//! The admin API's routes, in one table: the server mounts them from it, and the OpenAPI 3.1
//! document at `/api/admin/v1/openapi.json` is generated from it, so the two cannot drift apart.

use actix_web::http::header;
use actix_web::{HttpResponse, Route, web};
use serde_json::{Map, Value, json};

use super::{clients, lifecycle, oversight, passkeys, sessions, transfer, users, webhooks};
use crate::paths;

/// One route: how it is mounted and how it is documented.
pub struct Operation {
    /// Lower-case, as OpenAPI writes it.
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// The request body's schema, when it takes one (`required` when `true`).
    pub body: Option<(&'static str, bool)>,
    /// Its own answers: status, description, and the body's schema.
    pub answers: &'static [(u16, &'static str, Option<&'static str>)],
    pub route: Route,
}

const FOUND_USER: (u16, &str, Option<&str>) = (200, "The user, with its ETag", Some("User"));
const NO_USER: (u16, &str, Option<&str>) = (404, "No such user", Some("Error"));
const BAD_BODY: [(u16, &str, Option<&str>); 3] = [
    (400, "Malformed JSON, or an unknown or mistyped member", Some("Error")),
    (415, "The body is not application/json", Some("Error")),
    (422, "A value that is not acceptable", Some("Error")),
];

/// Every route of the admin API.
pub fn operations() -> Vec<Operation> {
    // The fixed paths under /users first: /users/{id} would match them too.
    let mut all = transfer_operations();
    all.extend(user_operations());
    all.extend(link_operations());
    all.extend(account_operations());
    all.extend(passkeys::operations());
    all.extend(oversight_operations());
    all.extend(webhooks::operations());
    all.extend(client_operations());
    all
}

/// Linked accounts.
fn link_operations() -> Vec<Operation> {
    vec![
        Operation {
            method: "get",
            path: paths::USER_LINKS,
            summary: "The accounts linked to a user",
            body: None,
            answers: &[(200, "The linked accounts", Some("LinkList")), NO_USER],
            route: web::get().to(lifecycle::links),
        },
        Operation {
            method: "post",
            path: paths::USER_LINKS,
            summary: "Link another account to this one: either identity signs in with this one's sub",
            body: Some(("LinkInput", true)),
            answers: &[
                (200, "The linked accounts", Some("LinkList")),
                NO_USER,
                (409, "The same account, or a link more than one level deep", Some("Error")),
                BAD_BODY[0],
                BAD_BODY[1],
                BAD_BODY[2],
            ],
            route: web::post().to(lifecycle::link),
        },
        Operation {
            method: "delete",
            path: paths::USER_LINK,
            summary: "Unlink an account",
            body: None,
            answers: &[(204, "Unlinked", None), (404, "Not linked to this user", Some("Error"))],
            route: web::delete().to(lifecycle::unlink),
        },
    ]
}

/// Moving users in and out.
fn transfer_operations() -> Vec<Operation> {
    vec![
        Operation {
            method: "get",
            path: paths::USERS_EXPORT,
            summary: "Every user as JSON lines (application/x-ndjson), streamed",
            body: None,
            answers: &[(200, "One user per line", Some("ExportLines"))],
            route: web::get().to(transfer::export),
        },
        Operation {
            method: "post",
            path: paths::USERS_IMPORT,
            summary: "Import users (this API's lines or Auth0's export), idempotent by email or phone",
            body: Some(("ImportInput", true)),
            answers: &[(200, "Each line's outcome", Some("ImportReport")), BAD_BODY[0], BAD_BODY[1], BAD_BODY[2]],
            route: web::post().to(transfer::import),
        },
    ]
}

/// The relying parties.
fn client_operations() -> Vec<Operation> {
    const CLIENT: (u16, &str, Option<&str>) = (200, "The client, with its ETag", Some("Client"));
    const MISSING: (u16, &str, Option<&str>) = (404, "No such client", Some("Error"));
    vec![
        Operation {
            method: "get",
            path: paths::CLIENTS,
            summary: "Every client, in creation order",
            body: None,
            answers: &[(200, "The clients", Some("ClientList"))],
            route: web::get().to(clients::list),
        },
        Operation {
            method: "post",
            path: paths::CLIENTS,
            summary: "Register a client; its secret is in the answer, this once",
            body: Some(("ClientInput", true)),
            answers: &[
                (201, "The client, with client_secret when confidential", Some("Client")),
                BAD_BODY[0],
                BAD_BODY[1],
                BAD_BODY[2],
            ],
            route: web::post().to(clients::create),
        },
        Operation {
            method: "get",
            path: paths::CLIENT,
            summary: "Read a client",
            body: None,
            answers: &[CLIENT, MISSING],
            route: web::get().to(clients::get),
        },
        Operation {
            method: "patch",
            path: paths::CLIENT,
            summary: "Change a client (If-Match required): name, URIs, settings (merged), disabled",
            body: Some(("ClientPatch", true)),
            answers: &[
                CLIENT,
                MISSING,
                (412, "Changed by someone else since the ETag sent", Some("Error")),
                (428, "If-Match is missing", Some("Error")),
                BAD_BODY[0],
                BAD_BODY[1],
                BAD_BODY[2],
            ],
            route: web::patch().to(clients::patch),
        },
        Operation {
            method: "delete",
            path: paths::CLIENT,
            summary: "Delete a client and revoke everything it was granted",
            body: None,
            answers: &[(204, "Deleted", None), MISSING],
            route: web::delete().to(clients::delete),
        },
        Operation {
            method: "post",
            path: paths::CLIENT_SECRET,
            summary: "Rotate the secret; the old one works until the grace period ends",
            body: Some(("RotateInput", false)),
            answers: &[
                (200, "The client, with its new client_secret", Some("Client")),
                MISSING,
                (409, "A public client has no secret", Some("Error")),
                BAD_BODY[0],
                BAD_BODY[1],
                BAD_BODY[2],
            ],
            route: web::post().to(clients::rotate),
        },
    ]
}

/// The security views: IP blocks and the audit log.
fn oversight_operations() -> Vec<Operation> {
    vec![
        Operation {
            method: "get",
            path: paths::BLOCKS,
            summary: "The active IP blocks, newest first",
            body: None,
            answers: &[(200, "The blocks", Some("BlockList"))],
            route: web::get().to(oversight::blocks),
        },
        Operation {
            method: "delete",
            path: paths::BLOCK,
            summary: "Lift an IP block",
            body: None,
            answers: &[(204, "Lifted", None), (404, "No active block has this id", Some("Error"))],
            route: web::delete().to(oversight::lift),
        },
        Operation {
            method: "get",
            path: paths::AUDIT,
            summary: "The audit log, newest first, filtered by kind, user, client, actor and time",
            body: None,
            answers: &[
                (200, "A page of entries", Some("AuditPage")),
                (422, "A filter that is not valid", Some("Error")),
            ],
            route: web::get().to(oversight::audit),
        },
    ]
}

/// Finding, creating, reading and changing users.
fn user_operations() -> Vec<Operation> {
    vec![
        Operation {
            method: "get",
            path: paths::USERS,
            summary: "Find users by id, or by part of an email address or phone number; a page at a time",
            body: None,
            answers: &[(200, "A page of users", Some("UserPage")), (422, "limit out of range", Some("Error"))],
            route: web::get().to(users::list),
        },
        Operation {
            method: "post",
            path: paths::USERS,
            summary: "Create a user",
            body: Some(("UserInput", true)),
            answers: &[
                (201, "The new user, with its Location and ETag", Some("User")),
                (409, "Another account holds the address or number", Some("Error")),
                BAD_BODY[0],
                BAD_BODY[1],
                BAD_BODY[2],
            ],
            route: web::post().to(users::create),
        },
        Operation {
            method: "get",
            path: paths::USER,
            summary: "Read a user",
            body: None,
            answers: &[FOUND_USER, NO_USER],
            route: web::get().to(users::get),
        },
        Operation {
            method: "patch",
            path: paths::USER,
            summary: "Change a user (If-Match required); null removes a member",
            body: Some(("UserInput", true)),
            answers: &[
                FOUND_USER,
                NO_USER,
                (409, "Another account holds the address or number", Some("Error")),
                (412, "Changed by someone else since the ETag sent", Some("Error")),
                (428, "If-Match is missing", Some("Error")),
                BAD_BODY[0],
                BAD_BODY[1],
                BAD_BODY[2],
            ],
            route: web::patch().to(users::patch),
        },
    ]
}

/// What an admin does to an account: erasure, blocks, sessions, history.
fn account_operations() -> Vec<Operation> {
    vec![
        Operation {
            method: "delete",
            path: paths::USER,
            summary: "Erase a user: personal data deleted, audit trail anonymised",
            body: None,
            answers: &[(204, "Erased", None), NO_USER],
            route: web::delete().to(lifecycle::erase),
        },
        Operation {
            method: "post",
            path: paths::USER_BLOCK,
            summary: "Block a user: end every session, revoke every grant, refuse sign-ins",
            body: Some(("BlockInput", false)),
            answers: &[FOUND_USER, NO_USER, BAD_BODY[0], BAD_BODY[1], BAD_BODY[2]],
            route: web::post().to(lifecycle::block),
        },
        Operation {
            method: "post",
            path: paths::USER_FACTORS_RESET,
            summary: "Remove a user's authenticator and recovery codes (the next sign-in sets one up)",
            body: None,
            answers: &[(204, "Removed, or there was none", None), NO_USER],
            route: web::post().to(lifecycle::reset_factors),
        },
        Operation {
            method: "post",
            path: paths::USER_UNBLOCK,
            summary: "Unblock a user",
            body: None,
            answers: &[FOUND_USER, NO_USER],
            route: web::post().to(lifecycle::unblock),
        },
        Operation {
            method: "get",
            path: paths::USER_SESSIONS,
            summary: "A user's live sessions, newest first",
            body: None,
            answers: &[(200, "The sessions", Some("SessionList")), NO_USER],
            route: web::get().to(sessions::list),
        },
        Operation {
            method: "get",
            path: paths::USER_EVENTS,
            summary: "A user's sign-ins, newest first, with step-up's reasons",
            body: None,
            answers: &[(200, "The sign-ins", Some("EventList")), NO_USER, (422, "limit out of range", Some("Error"))],
            route: web::get().to(sessions::events),
        },
        Operation {
            method: "delete",
            path: paths::SESSION,
            summary: "End a session and revoke the grants that end with it",
            body: None,
            answers: &[(204, "Ended", None), (404, "No live session has this id", Some("Error"))],
            route: web::delete().to(sessions::end),
        },
    ]
}

/// `GET /api/admin/v1/openapi.json`: documentation, open to anyone (it holds no data).
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(document())
}

/// The OpenAPI 3.1 document of [`operations`].
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in operations() {
        let path = paths.entry(op.path.replacen(paths::API, "", 1)).or_insert_with(|| json!({}));
        path[op.method] = operation(&op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Ostiary admin API",
            "version": "1",
            "description": "Manage Ostiary's users. Authenticate with a bearer access token from the client_credentials grant with scope admin.",
        },
        "servers": [{ "url": paths::API }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }, "schemas": super::schemas::all() },
    })
}

fn operation(op: &Operation) -> Value {
    // Every body is JSON but the export's lines; an import takes lines or an array.
    let schema = |name: &str| {
        let body = json!({ "schema": { "$ref": format!("#/components/schemas/{name}") } });
        match name {
            "ExportLines" => json!({ "application/x-ndjson": body }),
            "ImportInput" => json!({ "application/json": body, "application/x-ndjson": body }),
            _ => json!({ "application/json": body }),
        }
    };
    let mut responses = Map::new();
    for (status, description, body) in op.answers {
        let mut answer = json!({ "description": description });
        if let Some(name) = body {
            answer["content"] = schema(name);
        }
        responses.insert(status.to_string(), answer);
    }
    responses.insert("401".into(), json!({ "description": "No token, or not a live one", "content": schema("Error") }));
    responses
        .insert("403".into(), json!({ "description": "The token lacks the admin scope", "content": schema("Error") }));
    let id = format!("{}_{}", op.method, op.path.replacen(paths::API, "", 1).replace(['/', '{', '}'], "_"));
    let mut out = json!({ "summary": op.summary, "operationId": id.replace("__", "_"), "responses": responses });
    let parameters: Vec<Value> =
        op.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .chain((op.method == "patch").then(
                || json!({ "name": "If-Match", "in": "header", "required": true, "schema": { "type": "string" } }),
            ))
            .collect();
    if !parameters.is_empty() {
        out["parameters"] = json!(parameters);
    }
    if let Some((name, required)) = op.body {
        out["requestBody"] = json!({ "required": required, "content": schema(name) });
    }
    out
}

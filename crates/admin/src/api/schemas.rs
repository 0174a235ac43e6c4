//! The JSON schemas of the admin API's bodies (JSON Schema 2020-12, as OpenAPI 3.1 takes them).

use serde_json::{Map, Value, json};

/// Every schema the operations name.
pub fn all() -> Value {
    let mut all = Map::new();
    for part in [user_schemas(), list_schemas(), client_schemas(), transfer_schemas(), webhook_schemas()] {
        if let Value::Object(schemas) = part {
            all.extend(schemas);
        }
    }
    Value::Object(all)
}

fn user_schemas() -> Value {
    let text_or_null = json!({ "type": ["string", "null"] });
    let profile = json!({ "type": "object", "additionalProperties": true, "description": "OIDC Core §5.1 claims; address.* members for the address" });
    json!({
        "Error": {
            "type": "object",
            "required": ["error", "error_description"],
            "properties": {
                "error": { "type": "string" },
                "error_description": { "type": "string" },
                "field": { "type": "string", "description": "The member to blame, when one is" },
            },
        },
        "User": {
            "type": "object",
            "required": ["id", "email", "email_verified", "phone_number", "phone_verified", "is_admin", "blocked", "created_at", "updated_at", "version"],
            "properties": {
                "id": { "type": "string" },
                "email": text_or_null,
                "email_verified": { "type": "boolean" },
                "phone_number": text_or_null,
                "phone_verified": { "type": "boolean" },
                "is_admin": { "type": "boolean" },
                "blocked": { "type": "boolean" },
                "blocked_at": { "type": ["integer", "null"] },
                "profile": profile,
                "created_at": { "type": "integer" },
                "updated_at": { "type": "integer" },
                "version": { "type": "integer" },
            },
        },
        "UserInput": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "email": text_or_null,
                "email_verified": { "type": "boolean" },
                "phone_number": text_or_null,
                "phone_verified": { "type": "boolean" },
                "is_admin": { "type": "boolean" },
                "profile": profile,
                "id": {}, "created_at": {}, "updated_at": {}, "version": {}, "blocked": {}, "blocked_at": {},
            },
        },
        "BlockInput": {
            "type": "object",
            "additionalProperties": false,
            "properties": { "reason": { "type": "string", "maxLength": 500 } },
        },
    })
}

fn list_schemas() -> Value {
    let text_or_null = json!({ "type": ["string", "null"] });
    json!({
        "UserPage": {
            "type": "object",
            "required": ["users", "next_cursor"],
            "properties": {
                "users": { "type": "array", "items": { "$ref": "#/components/schemas/User" } },
                "next_cursor": text_or_null,
            },
        },
        "SessionList": {
            "type": "object",
            "required": ["sessions"],
            "properties": { "sessions": { "type": "array", "items": {
                "type": "object",
                "properties": {
                    "sid": { "type": "string" }, "created_at": { "type": "integer" }, "expires_at": { "type": "integer" },
                    "auth_time": { "type": "integer" }, "amr": { "type": "array", "items": { "type": "string" } }, "acr": { "type": "string" },
                },
            } } },
        },
        "PasskeyList": {
            "type": "object",
            "required": ["passkeys"],
            "properties": { "passkeys": { "type": "array", "items": {
                "type": "object",
                "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "created_at": { "type": "integer" },
                    "last_used_at": { "type": ["integer", "null"] }, "synced": { "type": "boolean" },
                    "backed_up": { "type": "boolean" }, "transports": { "type": "array", "items": { "type": "string" } },
                    "aaguid": { "type": ["string", "null"] },
                },
            } } },
        },
        "BlockList": {
            "type": "object",
            "required": ["blocks"],
            "properties": { "blocks": { "type": "array", "items": {
                "type": "object",
                "properties": {
                    "id": { "type": "string" }, "ip": { "type": "string" }, "all_accounts": { "type": "boolean" },
                    "reason": { "type": "string" }, "created_at": { "type": "integer" }, "expires_at": { "type": "integer" },
                },
            } } },
        },
        "AuditPage": {
            "type": "object",
            "required": ["entries", "next_cursor"],
            "properties": {
                "entries": { "type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string" }, "at": { "type": "integer" }, "kind": { "type": "string" },
                        "user_id": text_or_null, "client_id": text_or_null, "detail": { "type": "object" },
                    },
                } },
                "next_cursor": text_or_null,
            },
        },
        "EventList": {
            "type": "object",
            "required": ["events"],
            "properties": { "events": { "type": "array", "items": {
                "type": "object",
                "properties": {
                    "id": { "type": "string" }, "client_id": { "type": "string" }, "at": { "type": "integer" },
                    "ip": { "type": "string" }, "country": text_or_null, "device": { "type": "string" },
                    "amr": { "type": "array", "items": { "type": "string" } }, "acr": { "type": "string" },
                    "reasons": { "type": "array", "items": { "type": "string" } },
                },
            } } },
        },
    })
}

fn client_schemas() -> Value {
    json!({
        "Client": {
            "type": "object",
            "required": ["client_id", "name", "public", "redirect_uris", "settings", "disabled", "version"],
            "properties": {
                "client_id": { "type": "string" }, "name": { "type": "string" }, "public": { "type": "boolean" },
                "redirect_uris": { "type": "array", "items": { "type": "string" } },
                "post_logout_redirect_uris": { "type": "array", "items": { "type": "string" } },
                "id_token_alg": { "type": "string" }, "application_type": { "type": "string" },
                "settings": { "type": "object" }, "disabled": { "type": "boolean" },
                "previous_secret_expires_at": { "type": ["integer", "null"] },
                "created_at": { "type": "integer" }, "version": { "type": "integer" },
                "client_secret": { "type": "string", "description": "Only when it was just made" },
            },
        },
        "ClientList": {
            "type": "object",
            "required": ["clients"],
            "properties": { "clients": { "type": "array", "items": { "$ref": "#/components/schemas/Client" } } },
        },
        "ClientInput": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": false,
            "properties": {
                "name": { "type": "string" }, "public": { "type": "boolean" },
                "redirect_uris": { "type": "array", "items": { "type": "string" } },
                "post_logout_redirect_uris": { "type": "array", "items": { "type": "string" } },
                "id_token_alg": { "enum": ["RS256", "ES256", "EdDSA"] }, "application_type": { "enum": ["web", "native"] },
                "settings": { "type": "object" },
            },
        },
        "ClientPatch": {
            "type": "object",
            "properties": {
                "name": { "type": "string" },
                "redirect_uris": { "type": "array", "items": { "type": "string" } },
                "post_logout_redirect_uris": { "type": "array", "items": { "type": "string" } },
                "settings": { "type": "object" }, "disabled": { "type": "boolean" },
            },
        },
        "RotateInput": {
            "type": "object",
            "additionalProperties": false,
            "properties": { "grace_seconds": { "type": "integer", "minimum": 0, "maximum": 2592000 } },
        },
    })
}

fn transfer_schemas() -> Value {
    json!({
        "LinkInput": {
            "type": "object",
            "required": ["user_id"],
            "additionalProperties": false,
            "properties": { "user_id": { "type": "string" } },
        },
        "LinkList": {
            "type": "object",
            "required": ["links"],
            "properties": { "links": { "type": "array", "items": { "$ref": "#/components/schemas/User" } } },
        },
        "ExportLines": { "type": "string", "description": "One User object per line, in id order" },
        "ImportInput": {
            "description": "Users as JSON lines or a JSON array, each in this API's User format or Auth0's user export format (email, email_verified, phone_number, phone_verified, name, given_name, family_name, nickname, picture, …)",
        },
        "ImportReport": {
            "type": "object",
            "required": ["results", "created", "updated", "unchanged", "failed"],
            "properties": {
                "results": { "type": "array", "items": {
                    "type": "object",
                    "required": ["line", "outcome"],
                    "properties": {
                        "line": { "type": "integer" }, "outcome": { "enum": ["created", "updated", "unchanged", "failed"] },
                        "id": { "type": "string" }, "error": { "type": "string" },
                        "error_description": { "type": "string" }, "field": { "type": "string" },
                    },
                } },
                "created": { "type": "integer" }, "updated": { "type": "integer" },
                "unchanged": { "type": "integer" }, "failed": { "type": "integer" },
            },
        },
    })
}

fn webhook_schemas() -> Value {
    let text_or_null = json!({ "type": ["string", "null"] });
    let int_or_null = json!({ "type": ["integer", "null"] });
    json!({
        "Endpoint": {
            "type": "object",
            "required": ["name", "events", "failing_since", "disabled_at", "last_error", "last_success_at", "waiting"],
            "properties": {
                "name": { "type": "string" },
                "events": { "type": "array", "items": { "type": "string" }, "description": "Every event when empty" },
                "failing_since": int_or_null, "disabled_at": int_or_null, "last_error": text_or_null,
                "last_success_at": int_or_null, "waiting": { "type": "integer" },
            },
        },
        "EndpointList": {
            "type": "object",
            "required": ["endpoints"],
            "properties": { "endpoints": { "type": "array", "items": { "$ref": "#/components/schemas/Endpoint" } } },
        },
        "EventPage": {
            "type": "object",
            "required": ["events", "next_cursor"],
            "properties": {
                "events": { "type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string" }, "type": { "type": "string" }, "created_at": { "type": "integer" },
                        "payload": { "type": "object" },
                        "deliveries": { "type": "array", "items": {
                            "type": "object",
                            "properties": {
                                "endpoint": { "type": "string" }, "delivered_at": int_or_null,
                                "attempts": { "type": "integer" }, "next_attempt_at": { "type": "integer" },
                                "last_error": text_or_null,
                            },
                        } },
                    },
                } },
                "next_cursor": text_or_null,
            },
        },
        "ReplayInput": {
            "type": "object",
            "additionalProperties": false,
            "properties": { "endpoint": { "type": "string", "description": "Only this endpoint; every one that takes the event when left out" } },
        },
        "Replayed": {
            "type": "object",
            "required": ["event", "endpoints"],
            "properties": { "event": { "type": "string" }, "endpoints": { "type": "array", "items": { "type": "string" } } },
        },
    })
}

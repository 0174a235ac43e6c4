// Written by hand to match migrations/{sqlite,postgres}; both backends share it through `DbConnection`.

diesel::table! {
    users (id) {
        id -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        created_at -> BigInt,
        phone -> Nullable<Text>,
        phone_verified -> Bool,
        profile -> Text,
        updated_at -> BigInt,
        is_admin -> Bool,
        version -> BigInt,
        blocked_at -> Nullable<BigInt>,
        linked_to -> Nullable<Text>,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Binary>,
        is_public -> Bool,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        id_token_alg -> Text,
        created_at -> BigInt,
        application_type -> Text,
        settings -> Text,
        previous_secret_hash -> Nullable<Binary>,
        previous_secret_until -> Nullable<BigInt>,
        disabled_at -> Nullable<BigInt>,
        version -> BigInt,
        secret_sealed -> Nullable<Binary>,
        previous_secret_sealed -> Nullable<Binary>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        sealed_private -> Binary,
        public_jwk -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    interactions (id) {
        id -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        login_hint -> Nullable<Text>,
        request -> Text,
        browser_hash -> Binary,
        created_at -> BigInt,
        expires_at -> BigInt,
        result -> Nullable<Text>,
        completed_at -> Nullable<BigInt>,
        resumed_at -> Nullable<BigInt>,
        ui_locales -> Nullable<Text>,
        requested_acr -> Text,
        first_factor -> Nullable<Text>,
        denied -> Nullable<Text>,
        kind -> Text,
    }
}

diesel::table! {
    challenges (id) {
        id -> Text,
        interaction_id -> Text,
        channel -> Text,
        destination -> Text,
        code_hash -> Binary,
        link_hash -> Binary,
        attempts -> Integer,
        max_attempts -> Integer,
        created_at -> BigInt,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        superseded -> Bool,
        approved_at -> Nullable<BigInt>,
        client_id -> Text,
        origin -> Text,
        purpose -> Text,
        opened_elsewhere_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        channel -> Text,
        recipient -> Text,
        subject -> Text,
        text_body -> Nullable<Text>,
        html_body -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        last_error -> Nullable<Text>,
        provider -> Nullable<Text>,
        created_at -> BigInt,
        sent_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Binary,
        sid -> Text,
        user_id -> Text,
        amr -> Text,
        acr -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Binary,
        grant_id -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        user_id -> Text,
        sid -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        amr -> Text,
        acr -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        redeemed_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        auth_after -> Nullable<BigInt>,
        ends_with_session -> Bool,
        claims -> Nullable<Text>,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    tokens (jti) {
        jti -> Text,
        grant_id -> Text,
        client_id -> Text,
        user_id -> Text,
        kind -> Text,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Binary,
        grant_id -> Text,
        client_id -> Text,
        user_id -> Text,
        sid -> Text,
        scope -> Text,
        amr -> Text,
        acr -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        successor_hash -> Nullable<Binary>,
        claims -> Nullable<Text>,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    ip_blocks (id) {
        id -> Text,
        ip -> Text,
        account -> Text,
        reason -> Text,
        unblock_hash -> Nullable<Binary>,
        created_at -> BigInt,
        expires_at -> BigInt,
        lifted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    devices (user_id, id_hash) {
        user_id -> Text,
        id_hash -> Binary,
        description -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        blocked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    login_events (id) {
        id -> Text,
        user_id -> Text,
        client_id -> Text,
        created_at -> BigInt,
        ip -> Text,
        network -> Text,
        country -> Nullable<Text>,
        device_hash -> Binary,
        device -> Text,
        amr -> Text,
        acr -> Text,
        reasons -> Text,
        outcome -> Text,
        not_me_hash -> Nullable<Binary>,
        not_me_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    totp_factors (user_id) {
        user_id -> Text,
        sealed_secret -> Binary,
        created_at -> BigInt,
        confirmed_at -> Nullable<BigInt>,
        last_step -> Nullable<BigInt>,
        interaction_id -> Nullable<Text>,
    }
}

diesel::table! {
    recovery_codes (code_hash) {
        code_hash -> Binary,
        user_id -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        created_at -> BigInt,
        kind -> Text,
        user_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        detail -> Text,
        actor -> Nullable<Text>,
    }
}

diesel::table! {
    account_codes (user_id, purpose) {
        user_id -> Text,
        purpose -> Text,
        destination -> Text,
        code_hash -> Binary,
        failures -> Integer,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    contact_undos (token_hash) {
        token_hash -> Binary,
        user_id -> Text,
        field -> Text,
        old_value -> Text,
        new_value -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    passkey_users (user_id) {
        user_id -> Text,
        handle -> Text,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        credential_id -> Binary,
        credential -> Text,
        sign_count -> BigInt,
        backup_eligible -> Bool,
        backed_up -> Bool,
        transports -> Text,
        aaguid -> Nullable<Text>,
        name -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    passkey_ceremonies (ceremony_key) {
        ceremony_key -> Text,
        user_id -> Nullable<Text>,
        browser_hash -> Binary,
        state -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        event_type -> Text,
        user_id -> Nullable<Text>,
        payload -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    event_deliveries (event_id, endpoint) {
        event_id -> Text,
        endpoint -> Text,
        delivered_at -> Nullable<BigInt>,
        attempts -> Integer,
        retries -> Integer,
        next_attempt_at -> BigInt,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_endpoints (name) {
        name -> Text,
        failing_since -> Nullable<BigInt>,
        disabled_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        last_success_at -> Nullable<BigInt>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(events, event_deliveries);

diesel::table! {
    pushed_requests (reference_hash) {
        reference_hash -> Binary,
        client_id -> Text,
        params -> Text,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    client_assertions (client_id, jti_hash) {
        client_id -> Text,
        jti_hash -> Binary,
        expires_at -> BigInt,
    }
}

diesel::table! {
    logout_notices (jti) {
        jti -> Text,
        client_id -> Text,
        user_id -> Text,
        sid -> Text,
        created_at -> BigInt,
        next_attempt_at -> BigInt,
        attempts -> Integer,
        settled_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    device_codes (device_code_hash) {
        device_code_hash -> Binary,
        user_code_hash -> Binary,
        client_id -> Text,
        scope -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        poll_interval -> BigInt,
        polled_at -> Nullable<BigInt>,
        approved_at -> Nullable<BigInt>,
        denied_at -> Nullable<BigInt>,
        code_hash -> Nullable<Binary>,
    }
}

//! The passwordless API's way in (`domain::ports::InteractionStarter`): its caller is authenticated
//! as at the token endpoint, and each sign-in it starts gets an interaction like `/authorize`'s.

use crate::storage::NewInteraction;
use domain::ports::{ApiStart, BoxFuture, InteractionStarter, StartError};
use domain::{Client, ClientId, Interaction, InteractionId, InteractionKind};

use crate::AuthorizationServer;
use crate::authorize::{Checked, Prompt, Refused, check_request, plausible_ui_locales, start_interaction};
use crate::clients::{Credentials, check_client_authentication};
use crate::params::Params;

fn unavailable(what: &str, e: &dyn std::fmt::Display) -> StartError {
    tracing::error!(error = %e, "{what}");
    StartError::Unavailable
}

impl InteractionStarter for AuthorizationServer {
    fn api_client(
        &self,
        client_id: String,
        secret: Option<domain::Secret>,
    ) -> BoxFuture<'_, Result<Client, StartError>> {
        Box::pin(async move {
            let client = match ClientId::parse(&client_id) {
                Some(id) => self.store.client(&id).await.map_err(|e| unavailable("client lookup", &e))?,
                None => None,
            };
            let creds = Credentials { client_id, secret: secret.map(|s| s.expose().to_owned()), assertion: None };
            check_client_authentication(client.as_ref(), &creds, &self.hasher, self.clock.now())
                .map_err(|_| StartError::InvalidClient)?;
            let client = client.ok_or(StartError::InvalidClient)?;
            // The API draws its own sign-in screen, so no browser is bound to the sign-in: only
            // clients that were allowed to may use it (the OTP grant checks the same setting).
            if !client.settings.api_login {
                return Err(StartError::ApiLoginOff);
            }
            Ok(client)
        })
    }

    fn open(&self, client: ClientId, start: ApiStart) -> BoxFuture<'_, Result<Interaction, StartError>> {
        Box::pin(async move {
            let id = match start {
                ApiStart::Link { params } => self.open_link(client, params).await?,
                ApiStart::Code { ui_locales, ttl } => self.open_code(client, ui_locales, ttl).await?,
            };
            match self.store.interaction_with_request(&id).await {
                Ok(Some((interaction, _))) => Ok(interaction),
                Ok(None) => Err(unavailable("interaction lookup", &"the new interaction is gone")),
                Err(e) => Err(unavailable("interaction lookup", &e)),
            }
        })
    }
}

impl AuthorizationServer {
    /// `send=link` (`authParams`): the same checks as `/authorize`, then an interaction that no
    /// browser owns yet (the first one to open the link will). A session cannot be reused here
    /// (there is no browser), so `prompt=none` cannot be met.
    async fn open_link(
        &self,
        client: ClientId,
        mut params: Vec<(String, String)>,
    ) -> Result<InteractionId, StartError> {
        // The client is the authenticated one; a magic link always ends with a code (the caller
        // may say so itself, as Auth0's SDKs do).
        params.retain(|(k, v)| k != "client_id" && !(k == "response_type" && v == "code"));
        params.push(("client_id".into(), client.to_string()));
        params.push(("response_type".into(), "code".into()));
        let resolved = crate::request_object::resolve(self, Params::from_pairs(params)).await;
        let lang = domain::i18n::DEFAULT_LANGUAGE;
        let Checked { client, request, prompt, .. } = match check_request(self, &resolved, lang).await {
            Ok(checked) => checked,
            Err(Refused::Page(e)) => {
                let title_key = format!("{}_title", e.key());
                let title = self.catalog.text(lang, &title_key);
                return Err(StartError::InvalidRequest(format!("{} ({title})", e.detail())));
            }
            Err(Refused::Redirect(_, e)) => {
                return Err(StartError::InvalidRequest(format!("{}: {}", e.error, e.description)));
            }
        };
        if prompt == Prompt::None {
            return Err(StartError::InvalidRequest(
                "login_required: prompt=none cannot be met by a new sign-in".into(),
            ));
        }
        start_interaction(self, &client, request, &resolved.params, InteractionKind::ApiLink, None, None)
            .await
            .map_err(|e| unavailable("interaction insert", &e.description))
    }

    /// `send=code`: an interaction that is never resumed, only its code checked by the OTP grant;
    /// it has no authorization request and no redirect URI.
    async fn open_code(
        &self,
        client: ClientId,
        ui_locales: Option<String>,
        ttl: i64,
    ) -> Result<InteractionId, StartError> {
        let now = self.clock.now();
        let id = InteractionId::generate();
        let new = NewInteraction {
            id: id.clone(),
            kind: InteractionKind::ApiCode,
            client_id: client,
            redirect_uri: None,
            login_hint: None,
            ui_locales: ui_locales.filter(|v| plausible_ui_locales(v)),
            requested_acr: Vec::new(),
            first_factor: None,
            request: None,
            browser_hash: None,
            created_at: now,
            expires_at: now + ttl,
        };
        self.store.insert_interaction(new).await.map_err(|e| unavailable("interaction insert", &e))?;
        Ok(id)
    }
}

//! The passkey ceremonies the login pages and step-up share, built from the issuer.

use std::sync::Arc;

use anyhow::anyhow;

use crate::config::Settings;

/// The passkey ceremonies, for an issuer with a host name. Browsers refuse an IP address as the
/// relying party's id (WebAuthn §5.1.3 and the HTML "valid domain"), so under one passkeys are
/// not offered, and the log says how to have them.
pub(crate) fn passkeys_for(
    settings: &Settings,
    store: &store::Store,
    clock: &Arc<dyn domain::Clock>,
) -> anyhow::Result<Option<Arc<passkeys::Passkeys>>> {
    let issuer = settings.server.issuer.to_string();
    let host = url::Url::parse(&issuer).ok().and_then(|u| u.host().map(|h| matches!(h, url::Host::Domain(_))));
    if host != Some(true) {
        tracing::info!(
            "passkeys are off: the issuer {issuer} is an IP address, which browsers refuse as a passkey's \
             relying party; use a host name (such as http://localhost:PORT) to offer them"
        );
        return Ok(None);
    }
    let product = &settings.passwordless.product_name;
    let passkeys = passkeys::Passkeys::new(&issuer, product, Arc::new(store.clone()), Arc::clone(clock))
        .map_err(|e| anyhow!("server.issuer: {e}"))?;
    Ok(Some(Arc::new(passkeys)))
}

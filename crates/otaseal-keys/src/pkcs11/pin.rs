//! Where the user PIN comes from.

use std::io::IsTerminal;

use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::{PIN_ENV, Pkcs11Error, Pkcs11Uri};

/// Which PIN sources besides the URI may be used.
#[derive(Debug, Clone, Copy)]
pub struct PinPolicy {
    /// Read `OTASEAL_PKCS11_PIN`.
    pub env: bool,
    /// Ask on the terminal when stdin is one.
    pub prompt: bool,
}

impl Default for PinPolicy {
    fn default() -> PinPolicy {
        PinPolicy {
            env: true,
            prompt: true,
        }
    }
}

/// The PIN for `token`: URI `pin-value`, URI `pin-source` file,
/// `OTASEAL_PKCS11_PIN`, then a prompt when stdin is a terminal. Never
/// prompts without a terminal ([`Pkcs11Error::NoPin`]).
pub(super) fn obtain(
    uri: &Pkcs11Uri,
    policy: &PinPolicy,
    token: &str,
) -> Result<AuthPin, Pkcs11Error> {
    if let Some(v) = &uri.pin_value {
        return Ok(AuthPin::from(v.as_str()));
    }
    if let Some(path) = &uri.pin_source {
        let data =
            Zeroizing::new(
                crate::read_small_file(path).map_err(|e| Pkcs11Error::PinSource {
                    path: path.clone(),
                    reason: e.to_string(),
                })?,
            );
        let text = std::str::from_utf8(&data).map_err(|_| Pkcs11Error::PinSource {
            path: path.clone(),
            reason: "not UTF-8 text".into(),
        })?;
        // One line; the trailing newline an editor or `echo` adds is not part of it.
        let pin = text.strip_suffix('\n').unwrap_or(text);
        let pin = pin.strip_suffix('\r').unwrap_or(pin);
        if pin.is_empty() || pin.contains('\n') {
            return Err(Pkcs11Error::PinSource {
                path: path.clone(),
                reason: "expected the PIN on one line".into(),
            });
        }
        return Ok(AuthPin::from(pin));
    }
    if policy.env
        && let Ok(v) = std::env::var(PIN_ENV)
    {
        let v = Zeroizing::new(v);
        return Ok(AuthPin::from(v.as_str()));
    }
    if policy.prompt && std::io::stdin().is_terminal() {
        let pin = Zeroizing::new(
            rpassword::prompt_password(format!("PIN for token {token:?}: ")).map_err(|e| {
                Pkcs11Error::PinSource {
                    path: "/dev/tty".into(),
                    reason: e.to_string(),
                }
            })?,
        );
        return Ok(AuthPin::from(pin.as_str()));
    }
    Err(Pkcs11Error::NoPin(token.to_string()))
}

//! RFC 7512 PKCS#11 URIs (`pkcs11:token=release;object=fw-p256?pin-source=pin.txt`).
//!
//! Written here rather than taken from a crate: `cryptoki` has no URI
//! support; `pkcs11-uri` (0.1, "work in progress") brings in the older
//! `pkcs11` binding next to `cryptoki`, and `pk11-uri-parser` (0.1) returns
//! values still percent-encoded (the decoding would be ours anyway) and
//! pulls in `regex`. The grammar is small: path
//! attributes separated by `;`, query attributes after `?` separated by
//! `&`, every value percent-encoded. Unknown standard attributes are
//! refused (fail closed); vendor attributes (`x-...`) are ignored.

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

/// A parsed PKCS#11 URI: which module, token and object, and where the PIN
/// comes from.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: the token label.
    pub token: Option<String>,
    /// `serial`: the token serial number.
    pub serial: Option<String>,
    /// `manufacturer`: the token manufacturer.
    pub manufacturer: Option<String>,
    /// `model`: the token model.
    pub model: Option<String>,
    /// `slot-id`: the slot number.
    pub slot_id: Option<u64>,
    /// `object`: the object label (CKA_LABEL).
    pub object: Option<String>,
    /// `id`: the object id (CKA_ID), raw bytes.
    pub id: Option<Vec<u8>>,
    /// `type`: `private`, `public`, `cert`, `secret-key` or `data`.
    pub object_type: Option<String>,
    /// `module-path`: the PKCS#11 module (shared library) to load.
    pub module_path: Option<PathBuf>,
    /// `module-name`: a module name (informational; otaseal needs a path).
    pub module_name: Option<String>,
    /// `pin-source`: a file holding the PIN (`file:` URIs and plain paths).
    pub pin_source: Option<PathBuf>,
    /// `pin-value`: the PIN itself (works, but the caller warns).
    pub pin_value: Option<Zeroizing<String>>,
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Uri")
            .field("token", &self.token)
            .field("object", &self.object)
            .field("id", &self.id)
            .field("type", &self.object_type)
            .field("module_path", &self.module_path)
            .field("pin_source", &self.pin_source)
            .field("pin_value", &self.pin_value.as_ref().map(|_| "<hidden>"))
            .finish_non_exhaustive()
    }
}

/// A URI that does not parse, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError(pub String);

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PKCS#11 URI: {}", self.0)
    }
}

impl std::error::Error for UriError {}

fn err(m: impl Into<String>) -> UriError {
    UriError(m.into())
}

/// Decodes `%XX` escapes (RFC 3986); other bytes are taken as they are.
fn percent_decode(value: &str) -> Result<Vec<u8>, UriError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or_else(|| err(format!("truncated percent escape in {value:?}")))?;
            let hex = std::str::from_utf8(hex).map_err(|_| err("bad percent escape"))?;
            let b = u8::from_str_radix(hex, 16)
                .map_err(|_| err(format!("bad percent escape %{hex} in {value:?}")))?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn text(name: &str, value: &str) -> Result<String, UriError> {
    String::from_utf8(percent_decode(value)?)
        .map_err(|_| err(format!("{name} is not UTF-8 after percent-decoding")))
}

/// Percent-encodes a label for display in a URI (everything but RFC 3986
/// unreserved characters).
pub fn percent_encode(value: &[u8]) -> String {
    let mut out = String::new();
    for &b in value {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Pkcs11Uri {
    /// Whether `text` is meant as a PKCS#11 URI (starts with `pkcs11:`).
    pub fn is_uri(text: &str) -> bool {
        text.get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("pkcs11:"))
    }

    /// Parses an RFC 7512 URI.
    pub fn parse(uri: &str) -> Result<Pkcs11Uri, UriError> {
        if !Pkcs11Uri::is_uri(uri) {
            return Err(err(format!("{uri:?} does not start with pkcs11:")));
        }
        let rest = &uri[7..];
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut out = Pkcs11Uri::default();
        let mut seen = Vec::new();
        let mut attrs: Vec<(&str, bool)> = path
            .split(';')
            .filter(|a| !a.is_empty())
            .map(|a| (a, false))
            .collect();
        if let Some(q) = query {
            attrs.extend(q.split('&').filter(|a| !a.is_empty()).map(|a| (a, true)));
        }
        for (attr, in_query) in attrs {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| err(format!("attribute {attr:?} has no '='")))?;
            if seen.contains(&name) {
                return Err(err(format!("attribute {name} given twice")));
            }
            seen.push(name);
            let path_attr = matches!(
                name,
                "token"
                    | "serial"
                    | "manufacturer"
                    | "model"
                    | "slot-id"
                    | "slot-description"
                    | "slot-manufacturer"
                    | "library-description"
                    | "library-manufacturer"
                    | "library-version"
                    | "object"
                    | "id"
                    | "type"
            );
            if path_attr && in_query {
                return Err(err(format!("{name} belongs in the path, before '?'")));
            }
            if !path_attr && !in_query && !name.starts_with("x-") {
                return Err(err(format!(
                    "{name} is not a path attribute (query attributes go after '?')"
                )));
            }
            match name {
                "token" => out.token = Some(text(name, value)?),
                "serial" => out.serial = Some(text(name, value)?),
                "manufacturer" => out.manufacturer = Some(text(name, value)?),
                "model" => out.model = Some(text(name, value)?),
                "slot-id" => {
                    out.slot_id = Some(
                        text(name, value)?
                            .parse()
                            .map_err(|_| err(format!("slot-id {value:?} is not a number")))?,
                    )
                }
                "object" => out.object = Some(text(name, value)?),
                "id" => out.id = Some(percent_decode(value)?),
                "type" => {
                    let t = text(name, value)?;
                    if !matches!(
                        t.as_str(),
                        "private" | "public" | "cert" | "secret-key" | "data"
                    ) {
                        return Err(err(format!(
                            "type={t} (expected private, public, cert, secret-key or data)"
                        )));
                    }
                    out.object_type = Some(t);
                }
                "module-path" => out.module_path = Some(PathBuf::from(text(name, value)?)),
                "module-name" => out.module_name = Some(text(name, value)?),
                "pin-source" => {
                    let src = text(name, value)?;
                    let path = src.strip_prefix("file:").unwrap_or(&src);
                    if src.starts_with('|') {
                        return Err(err(
                            "pin-source commands (|...) are not run; give a file".to_string()
                        ));
                    }
                    out.pin_source = Some(PathBuf::from(path));
                }
                "pin-value" => out.pin_value = Some(Zeroizing::new(text(name, value)?)),
                // Descriptive slot and library attributes narrow nothing here.
                "slot-description"
                | "slot-manufacturer"
                | "library-description"
                | "library-manufacturer"
                | "library-version" => {}
                n if n.starts_with("x-") => {}
                other => {
                    return Err(err(format!(
                        "unknown attribute {other} (otaseal understands token, serial, \
                         manufacturer, model, slot-id, object, id, type, module-path, \
                         module-name, pin-source, pin-value)"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// The URI naming a token and object (no PIN, no module), for messages.
    pub fn display_key(token: &str, label: Option<&str>, id: Option<&[u8]>) -> String {
        let mut s = format!("pkcs11:token={}", percent_encode(token.as_bytes()));
        if let Some(l) = label {
            s.push_str(&format!(";object={}", percent_encode(l.as_bytes())));
        }
        if let Some(id) = id {
            s.push_str(";id=");
            for b in id {
                s.push_str(&format!("%{b:02X}"));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_object_and_id() {
        let u =
            Pkcs11Uri::parse("pkcs11:token=release;object=fw-p256;id=%01%a2;type=private").unwrap();
        assert_eq!(u.token.as_deref(), Some("release"));
        assert_eq!(u.object.as_deref(), Some("fw-p256"));
        assert_eq!(u.id.as_deref(), Some(&[0x01, 0xa2][..]));
        assert_eq!(u.object_type.as_deref(), Some("private"));
        assert!(u.module_path.is_none() && u.pin_source.is_none() && u.pin_value.is_none());
    }

    #[test]
    fn percent_encoding() {
        let u = Pkcs11Uri::parse("pkcs11:token=My%20Token%3B%25;object=a%2Cb%3Dc").unwrap();
        assert_eq!(u.token.as_deref(), Some("My Token;%"));
        assert_eq!(u.object.as_deref(), Some("a,b=c"));
        assert_eq!(percent_encode(b"My Token;%"), "My%20Token%3B%25");
        for bad in ["pkcs11:token=%4", "pkcs11:token=%zz", "pkcs11:token=%ff%fe"] {
            assert!(Pkcs11Uri::parse(bad).is_err(), "{bad}");
        }
        // Raw bytes in id need not be UTF-8.
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:id=%ff%fe").unwrap().id.unwrap(),
            vec![0xff, 0xfe]
        );
    }

    #[test]
    fn query_attributes() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=t?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin%20file",
        )
        .unwrap();
        assert_eq!(
            u.module_path.as_deref(),
            Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(
            u.pin_source.as_deref(),
            Some(std::path::Path::new("/run/pin file"))
        );
        let u = Pkcs11Uri::parse("pkcs11:object=k?pin-value=12%2634").unwrap();
        assert_eq!(u.pin_value.as_ref().map(|p| p.as_str()), Some("12&34"));
        assert!(!format!("{u:?}").contains("12&34"), "Debug hides the PIN");
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for bad in [
            "pkcs12:token=a",
            "pkcs11:token",
            "pkcs11:token=a;token=b",
            "pkcs11:colour=red",
            "pkcs11:type=key",
            "pkcs11:module-path=/x.so",
            "pkcs11:?token=a",
            "pkcs11:?pin-source=|cat pin",
            "pkcs11:slot-id=x",
        ] {
            assert!(Pkcs11Uri::parse(bad).is_err(), "{bad}");
        }
        // Vendor attributes are ignored.
        assert!(Pkcs11Uri::parse("pkcs11:token=a;x-vendor=1?x-other=2").is_ok());
        assert!(Pkcs11Uri::is_uri("PKCS11:token=a"));
    }
}

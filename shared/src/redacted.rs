//! Redacted credentials: newtypes over [`secrecy::SecretString`] for every credential the
//! gateway handles, so none of them can reach a log line or an error body by accident.
//!
//! `Debug` prints `[redacted]`; there is no `Display`. Reading the value takes an
//! explicit `expose()` call, which is easy to find in review.

use secrecy::{ExposeSecret, SecretString};

macro_rules! secret_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::from(value.into()))
            }

            /// The value itself. Call only where it leaves for TikTok or the cipher.
            pub fn expose(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.expose() == other.expose()
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }
    };
}

secret_newtype!(
    /// The TikTok app's client secret.
    ClientSecret
);
secret_newtype!(
    /// A TikTok access token (a user's, or the app's client-credentials token).
    AccessToken
);
secret_newtype!(
    /// A TikTok refresh token. It rotates: each refresh returns a new one.
    RefreshToken
);
secret_newtype!(
    /// A one-time authorization code from TikTok's redirect.
    AuthCode
);
secret_newtype!(
    /// The OAuth `state` value that binds a callback to the login that started it.
    OAuthState
);
secret_newtype!(
    /// A PKCE code verifier.
    CodeVerifier
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let values = [
            format!("{:?}", ClientSecret::new("cs-very-secret")),
            format!("{:?}", AccessToken::new("act.very-secret")),
            format!("{:?}", RefreshToken::new("rft.very-secret")),
            format!("{:?}", AuthCode::new("code-very-secret")),
            format!("{:?}", OAuthState::new("state-very-secret")),
            format!("{:?}", CodeVerifier::new("verifier-very-secret")),
        ];
        for shown in values {
            assert!(!shown.contains("very-secret"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
    }
}

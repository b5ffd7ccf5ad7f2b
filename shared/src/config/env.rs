//! Reading one setting: present, required, a URL, a number, a flag, a
//! duration; each failure names the variable.

use std::time::Duration;

use url::Url;

use super::ConfigError;

/// The environment, as a lookup of one variable by name.
pub(super) struct Env<'a>(pub(super) &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    pub(super) fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    pub(super) fn url(
        &self,
        name: &'static str,
        default: Option<&str>,
    ) -> Result<Url, ConfigError> {
        let raw = match (self.get(name), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_owned(),
            (None, None) => return Err(ConfigError::Missing(name)),
        };
        let url = Url::parse(&raw).map_err(|e| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(ConfigError::Invalid {
                name,
                reason: "must be an http(s) URL".into(),
            });
        }
        Ok(url)
    }

    /// A TikTok endpoint: https, except on a loopback host (the local stack's
    /// emulator, tests), so the client secret and tokens never cross a network
    /// in the clear.
    pub(super) fn tiktok_url(&self, name: &'static str, default: &str) -> Result<Url, ConfigError> {
        let url = self.url(name, Some(default))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if url.scheme() != "https" && !loopback {
            return Err(ConfigError::Invalid {
                name,
                reason: "must be an https URL (http only to a loopback address)".into(),
            });
        }
        Ok(url)
    }

    /// TikTok requires the redirect URI to carry no query string and no fragment.
    pub(super) fn redirect_uri(&self, name: &'static str) -> Result<Url, ConfigError> {
        let url = self.url(name, None)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::Invalid {
                name,
                reason: "must have no query string and no fragment".into(),
            });
        }
        Ok(url)
    }

    pub(super) fn number<T: std::str::FromStr + TryFrom<u32>>(
        &self,
        name: &'static str,
        default: u32,
    ) -> Result<T, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid { name, reason };
        match self.get(name) {
            Some(v) => v
                .parse::<T>()
                .map_err(|_| invalid(format!("`{v}` is not a positive whole number"))),
            None => T::try_from(default).map_err(|_| invalid("bad default".into())),
        }
    }

    pub(super) fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        self.flag_or(name, false)
    }

    pub(super) fn flag_or(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ConfigError::Invalid {
                name,
                reason: format!("expected true or false, got `{other}`"),
            }),
        }
    }

    pub(super) fn millis(&self, name: &'static str, default: u32) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(self.number::<u64>(name, default)?))
    }

    pub(super) fn secs(&self, name: &'static str, default: u32) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.number::<u64>(name, default)?))
    }
}

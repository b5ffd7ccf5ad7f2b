//! The AWS SDK's HTTP client and SDK clients built on first use.

use std::ops::Deref;
use std::sync::OnceLock;

use aws_config::SdkConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine;

/// The HTTP client for the AWS SDK: the SDK's own (hyper, rustls with aws-lc),
/// trusting Mozilla's root certificates compiled into the binary rather than
/// reading and parsing the image's certificate files, which took about 3 ms of
/// every cold start (BENCHMARKS.md). Built when the SDK first asks it for a
/// connection: turning the roots into a trust store took 0.3 ms of every
/// start-up, which a request answered without AWS (a 400 or a 401) never needs.
pub fn http_client() -> SharedHttpClient {
    SharedHttpClient::new(LazyHttpClient::default())
}

/// Builds [`https_client`] on the SDK's first request for a connector.
#[derive(Debug, Default)]
struct LazyHttpClient(OnceLock<SharedHttpClient>);

impl HttpClient for LazyHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0
            .get_or_init(https_client)
            .http_connector(settings, components)
    }
}

fn https_client() -> SharedHttpClient {
    let mut trust = TrustStore::empty().with_native_roots(false);
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        trust.add_pem_certificate(pem(der));
    }
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Only an unusable trust store fails here: fall back to the SDK's default.
        Err(_) => builder.build_https(),
    }
}

fn pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n")
}

/// An AWS SDK client built the first time it is used. Building one makes the SDK
/// load the platform's root certificates (about 3 ms of a cold start, see
/// BENCHMARKS.md), which a request answered without AWS (a 400 or a 401) never
/// needs; a request that does need AWS pays it once, as it would have at start-up.
#[derive(Clone)]
pub struct LazyClient<C>(Inner<C>);

#[derive(Clone)]
enum Inner<C> {
    Ready(C),
    Lazy(Box<Pending<C>>),
}

#[derive(Clone)]
struct Pending<C> {
    config: SdkConfig,
    make: fn(&SdkConfig) -> C,
    client: OnceLock<C>,
}

impl<C> LazyClient<C> {
    /// A client `make` builds from `config` when it is first used (pass the
    /// SDK's `Client::new`).
    pub fn new(config: &SdkConfig, make: fn(&SdkConfig) -> C) -> Self {
        Self(Inner::Lazy(Box::new(Pending {
            config: config.clone(),
            make,
            client: OnceLock::new(),
        })))
    }

    /// A client built already.
    pub fn ready(client: C) -> Self {
        Self(Inner::Ready(client))
    }
}

impl<C> Deref for LazyClient<C> {
    type Target = C;

    fn deref(&self) -> &C {
        match &self.0 {
            Inner::Ready(client) => client,
            Inner::Lazy(pending) => pending
                .client
                .get_or_init(|| (pending.make)(&pending.config)),
        }
    }
}

impl<C> std::fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let built = match &self.0 {
            Inner::Ready(_) => true,
            Inner::Lazy(pending) => pending.client.get().is_some(),
        };
        f.debug_struct("LazyClient").field("built", &built).finish()
    }
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn the_sdk_trusts_every_mozilla_root_as_the_sdk_reads_pem() {
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
        assert!(roots.len() > 100, "{} roots", roots.len());
        for der in roots {
            // How aws-smithy-http-client reads a trust store's PEM.
            let parsed: Vec<CertificateDer<'_>> =
                CertificateDer::pem_slice_iter(super::pem(der).as_bytes())
                    .collect::<Result<_, _>>()
                    .unwrap();
            assert_eq!(parsed, std::slice::from_ref(der));
        }
    }
}

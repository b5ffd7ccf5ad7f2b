//! Login Kit against a wiremock TikTok: the authorization URL, and the
//! form-encoded token calls (code exchange, refresh, client credentials, revoke)
//! with their success and error bodies.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use tiktok_gateway::tiktok::Pkce;
use tiktok_gateway::{
    AccessToken, AuthCode, CodeVerifier, OAuthState, RefreshToken, UpstreamError,
};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::*;

const FORM: &str = "application/x-www-form-urlencoded";

/// A token endpoint that answers `status` with `body`, once, and only to a
/// form-encoded POST holding exactly `form`.
async fn token_endpoint(server: &MockServer, form: &[(&str, &str)], status: u16, body: String) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header("content-type", FORM))
        .and(form_is(form))
        .respond_with(ResponseTemplate::new(status).set_body_raw(body, "application/json"))
        .expect(1)
        .mount(server)
        .await;
}

fn code_form(code: &str) -> [(&'static str, String); 5] {
    [
        ("client_key", CLIENT_KEY.to_owned()),
        ("client_secret", CLIENT_SECRET.to_owned()),
        ("code", code.to_owned()),
        ("grant_type", "authorization_code".to_owned()),
        ("redirect_uri", REDIRECT_URI.to_owned()),
    ]
}

fn borrowed<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

// ---- authorize_url ----------------------------------------------------------

#[tokio::test]
async fn authorize_url_without_pkce_carries_exactly_the_documented_query() {
    let server = MockServer::start().await;
    let client = client(&server);

    let url = client.authorize_url(CLIENT_KEY, &OAuthState::new("st-8f2a&x=1"), None);

    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{}{AUTHORIZE_PATH}", server.uri())
    );
    let query = query_map(&url);
    let expected: std::collections::BTreeMap<String, String> = [
        ("client_key", CLIENT_KEY),
        ("scope", "user.info.basic,research.data.basic"),
        ("redirect_uri", REDIRECT_URI),
        ("state", "st-8f2a&x=1"),
        ("response_type", "code"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(query, expected, "no code_challenge without PKCE");
}

#[tokio::test]
async fn authorize_url_with_pkce_adds_the_s256_challenge_of_the_verifier() {
    let server = MockServer::start().await;
    let client = client(&server);
    // RFC 7636, appendix B.
    let pkce = Pkce::from_verifier(CodeVerifier::new(
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    ));

    let url = client.authorize_url(CLIENT_KEY, &OAuthState::new("st-1"), Some(&pkce));

    let query = query_map(&url);
    assert_eq!(
        query["code_challenge"],
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["client_key"], CLIENT_KEY);
    assert_eq!(query["redirect_uri"], REDIRECT_URI);
    assert_eq!(query["state"], "st-1");
    assert_eq!(query["response_type"], "code");
    assert_eq!(query.len(), 7);
}

#[test]
fn generated_pkce_challenge_is_base64url_sha256_of_its_verifier() {
    let pkce = Pkce::generate();
    let verifier = pkce.verifier.expose();
    // RFC 7636: 43 to 128 unreserved characters.
    assert!((43..=128).contains(&verifier.len()), "{}", verifier.len());
    assert!(verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
    assert_eq!(
        pkce.challenge,
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    );
    assert_ne!(Pkce::generate().verifier.expose(), verifier);
}

// ---- exchange_code ----------------------------------------------------------

#[tokio::test]
async fn exchange_code_posts_the_documented_form_and_decodes_the_grant() {
    let server = MockServer::start().await;
    let form = code_form("auth-code-123");
    token_endpoint(
        &server,
        &borrowed(&form),
        200,
        fixture("token_success.json"),
    )
    .await;

    let grant = client(&server)
        .exchange_code(
            &app(),
            &AuthCode::new("auth-code-123"),
            None,
            far_deadline(),
        )
        .await
        .unwrap();

    assert_eq!(
        grant.open_id.as_deref(),
        Some("723f24d7-e717-40f8-a2b6-cb8464cd23b4")
    );
    assert_eq!(grant.scopes, ["user.info.basic", "research.data.basic"]);
    assert_eq!(
        grant.access_token,
        AccessToken::new("act.1d1021d2aee3d41fee2d2add43456badMFZnrhFhfWotu3Ecuiuka27L56lr!2403")
    );
    assert_eq!(grant.expires_in, 86_400);
    assert_eq!(
        grant.refresh_token,
        Some(RefreshToken::new(
            "rft.713bfb0aa3b4e8c4e1fd8a1d5a5de4cb0lrDPvkfaFsBrhhpf9ncL2lRWiy!2424"
        ))
    );
    assert_eq!(grant.refresh_expires_in, Some(31_536_000));
}

#[tokio::test]
async fn exchange_code_with_pkce_adds_the_code_verifier() {
    let server = MockServer::start().await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let owned = code_form("auth-code-pkce");
    let mut form = borrowed(&owned);
    form.push(("code_verifier", verifier));
    token_endpoint(&server, &form, 200, fixture("token_success.json")).await;

    let grant = client(&server)
        .exchange_code(
            &app(),
            &AuthCode::new("auth-code-pkce"),
            Some(&CodeVerifier::new(verifier)),
            far_deadline(),
        )
        .await
        .unwrap();

    assert_eq!(grant.expires_in, 86_400);
}

#[tokio::test]
async fn lifetimes_given_as_strings_are_still_read() {
    let server = MockServer::start().await;
    let body = r#"{"access_token":"act.s","expires_in":"7200","refresh_token":"rft.s",
        "refresh_expires_in":"15552000","open_id":"o","scope":" a , b ,","token_type":"Bearer"}"#;
    token_endpoint(&server, &borrowed(&code_form("c")), 200, body.into()).await;

    let grant = client(&server)
        .exchange_code(&app(), &AuthCode::new("c"), None, far_deadline())
        .await
        .unwrap();

    assert_eq!(grant.expires_in, 7_200);
    assert_eq!(grant.refresh_expires_in, Some(15_552_000));
    assert_eq!(grant.scopes, ["a", "b"]);
}

// ---- refresh, client_token, revoke -----------------------------------------

#[tokio::test]
async fn refresh_posts_the_refresh_form_and_returns_the_new_rotated_refresh_token() {
    let server = MockServer::start().await;
    let old = "rft.OLD-713bfb0aa3b4e8c4e1fd8a1d5a5de4cb0lrDPvkf!2424";
    token_endpoint(
        &server,
        &[
            ("client_key", CLIENT_KEY),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", old),
        ],
        200,
        fixture("token_refresh_success.json"),
    )
    .await;

    let grant = client(&server)
        .refresh(&app(), &RefreshToken::new(old), far_deadline())
        .await
        .unwrap();

    let new = grant
        .refresh_token
        .expect("a refresh returns a refresh token");
    assert_eq!(
        new.expose(),
        "rft.NEW0c4d1f2a7b9e3d5c8a6f4b2e0d9c7a5ROTATEDaBcDeFgHiJkLm!2424"
    );
    assert_ne!(new.expose(), old);
    assert_eq!(
        grant.access_token.expose(),
        "act.9f8e7d6c5b4a39281706f5e4d3c2b1a0ZyXwVuTsRqPoNmLkJiHgFe!2403"
    );
    assert_eq!(grant.expires_in, 7_200);
    assert_eq!(grant.refresh_expires_in, Some(15_552_000));
}

#[tokio::test]
async fn client_token_posts_client_credentials_and_grants_no_refresh_token() {
    let server = MockServer::start().await;
    token_endpoint(
        &server,
        &[
            ("client_key", CLIENT_KEY),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "client_credentials"),
        ],
        200,
        fixture("token_client_credentials.json"),
    )
    .await;

    let grant = client(&server)
        .client_token(&app(), far_deadline())
        .await
        .unwrap();

    assert_eq!(
        grant.access_token.expose(),
        "clt.2c4a8e6f0b1d3f5a7c9e1b3d5f7a9c1eAppTokenNoRefresh0123!6143"
    );
    assert_eq!(grant.expires_in, 7_199);
    assert!(grant.refresh_token.is_none());
    assert_eq!(grant.refresh_expires_in, None);
    assert_eq!(grant.open_id, None);
    assert!(grant.scopes.is_empty());
}

#[tokio::test]
async fn revoke_posts_the_token_form_and_accepts_an_empty_object() {
    let server = MockServer::start().await;
    let token = "act.to-be-revoked!2403";
    Mock::given(method("POST"))
        .and(path(REVOKE_PATH))
        .and(header("content-type", FORM))
        .and(form_is(&[
            ("client_key", CLIENT_KEY),
            ("client_secret", CLIENT_SECRET),
            ("token", token),
        ]))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("revoke_success.json"), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;

    client(&server)
        .revoke(&app(), &AccessToken::new(token), far_deadline())
        .await
        .unwrap();
}

#[tokio::test]
async fn revoke_error_body_is_an_oauth_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(REVOKE_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            fixture("token_error_invalid_client.json"),
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .revoke(&app(), &AccessToken::new("act.x"), far_deadline())
        .await
        .unwrap_err();

    match error {
        UpstreamError::OAuth { status, error, .. } => {
            assert_eq!(status, 401);
            assert_eq!(error, "invalid_client");
        }
        other => panic!("expected OAuth, got {other:?}"),
    }
}

// ---- token errors -------------------------------------------------------------

async fn invalid_grant_with_status(status: u16) {
    let server = MockServer::start().await;
    token_endpoint(
        &server,
        &borrowed(&code_form("used-code")),
        status,
        fixture("token_error_invalid_grant.json"),
    )
    .await;

    let error = client(&server)
        .exchange_code(&app(), &AuthCode::new("used-code"), None, far_deadline())
        .await
        .unwrap_err();

    match &error {
        UpstreamError::InvalidGrant {
            description,
            log_id,
        } => {
            assert_eq!(description, "Authorization code is expired.");
            assert_eq!(
                log_id.as_deref(),
                Some("20230525120534E5C7F13A2F6AB4F8A0C1")
            );
        }
        other => panic!("HTTP {status}: expected InvalidGrant, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert_eq!(error.log_id(), Some("20230525120534E5C7F13A2F6AB4F8A0C1"));
    // expect(1) on drop: not retried.
}

#[tokio::test]
async fn invalid_grant_on_http_400_is_invalid_grant() {
    invalid_grant_with_status(400).await;
}

#[tokio::test]
async fn invalid_grant_on_http_200_is_invalid_grant() {
    invalid_grant_with_status(200).await;
}

#[tokio::test]
async fn refresh_with_a_rotated_token_is_invalid_grant() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            fixture("token_error_invalid_grant.json"),
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .refresh(&app(), &RefreshToken::new("rft.rotated"), far_deadline())
        .await
        .unwrap_err();

    assert!(
        matches!(error, UpstreamError::InvalidGrant { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn other_oauth_error_keeps_error_description_status_and_log_id() {
    let server = MockServer::start().await;
    token_endpoint(
        &server,
        &[
            ("client_key", CLIENT_KEY),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "client_credentials"),
        ],
        401,
        fixture("token_error_invalid_client.json"),
    )
    .await;

    let error = client(&server)
        .client_token(&app(), far_deadline())
        .await
        .unwrap_err();

    match &error {
        UpstreamError::OAuth {
            status,
            error,
            description,
            log_id,
        } => {
            assert_eq!(*status, 401);
            assert_eq!(error, "invalid_client");
            assert_eq!(description, "Client key or secret is incorrect.");
            assert_eq!(
                log_id.as_deref(),
                Some("202305251206129C3D0B7E4A2F1C6D8E90")
            );
        }
        other => panic!("expected OAuth, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert!(!format!("{error} {error:?}").contains(CLIENT_SECRET));
}

#[tokio::test]
async fn oauth_error_on_http_200_is_still_an_error() {
    let server = MockServer::start().await;
    token_endpoint(
        &server,
        &borrowed(&code_form("c")),
        200,
        fixture("token_error_invalid_client.json"),
    )
    .await;

    let error = client(&server)
        .exchange_code(&app(), &AuthCode::new("c"), None, far_deadline())
        .await
        .unwrap_err();

    assert!(
        matches!(&error, UpstreamError::OAuth { status: 200, error, .. } if error == "invalid_client"),
        "{error:?}"
    );
}

/// The token and refresh token of `body` appear nowhere in what the caller can print.
fn assert_hides_tokens(error: &UpstreamError, secrets: &[&str]) {
    let shown = format!(
        "{error} || {error:?} || {:?}",
        std::error::Error::source(error)
    );
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} leaked into {shown}");
    }
}

#[tokio::test]
async fn malformed_token_success_is_a_decode_error_that_hides_the_tokens() {
    let server = MockServer::start().await;
    // An access token and a refresh token but no expires_in.
    let body = fixture("token_malformed_success.json");
    token_endpoint(&server, &borrowed(&code_form("c")), 200, body.clone()).await;

    let error = client(&server)
        .exchange_code(&app(), &AuthCode::new("c"), None, far_deadline())
        .await
        .unwrap_err();

    match &error {
        UpstreamError::Decode {
            status, body: kept, ..
        } => {
            assert_eq!(*status, 200);
            assert!(kept.contains(&body.len().to_string()), "{kept}");
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert_hides_tokens(
        &error,
        &[
            "LEAKCHECK",
            "act.LEAKCHECKa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8!2403",
            "rft.LEAKCHECKf0e1d2c3b4a5968778695a4b3c2d1e0f!2424",
            CLIENT_SECRET,
        ],
    );
}

#[tokio::test]
async fn truncated_token_body_is_a_decode_error_that_hides_the_token() {
    let server = MockServer::start().await;
    token_endpoint(
        &server,
        &borrowed(&code_form("c")),
        200,
        fixture("token_truncated.txt"),
    )
    .await;

    let error = client(&server)
        .exchange_code(&app(), &AuthCode::new("c"), None, far_deadline())
        .await
        .unwrap_err();

    assert!(
        matches!(error, UpstreamError::Decode { status: 200, .. }),
        "{error:?}"
    );
    assert_hides_tokens(&error, &["LEAKCHECK"]);
}

#[tokio::test]
async fn token_endpoint_error_status_without_oauth_body_hides_the_body() {
    let server = MockServer::start().await;
    let body = r#"{"message":"bad gateway config","access_token":"act.LEAKCHECKstatus!2403"}"#;
    token_endpoint(&server, &borrowed(&code_form("c")), 403, body.into()).await;

    let error = client(&server)
        .exchange_code(&app(), &AuthCode::new("c"), None, far_deadline())
        .await
        .unwrap_err();

    assert!(
        matches!(error, UpstreamError::Status { status: 403, .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert_hides_tokens(&error, &["LEAKCHECK"]);
}

#[test]
fn token_grant_debug_never_shows_the_tokens() {
    let grant: tiktok_gateway::tiktok::TokenGrant = tiktok_gateway::tiktok::TokenGrant {
        open_id: Some("o".into()),
        scopes: vec![],
        access_token: AccessToken::new("act.LEAKCHECK"),
        expires_in: 1,
        refresh_token: Some(RefreshToken::new("rft.LEAKCHECK")),
        refresh_expires_in: Some(2),
    };
    assert!(!format!("{grant:?}").contains("LEAKCHECK"));
    assert!(!format!("{:?}", app()).contains(CLIENT_SECRET));
}

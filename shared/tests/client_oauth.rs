//! Login Kit against a wiremock TikTok: the authorization URL, and the
//! form-encoded token calls (code exchange, refresh, client credentials, revoke)
//! with their success and error bodies.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use tiktok_gateway::tiktok::{Pkce, TokenGrant};
use tiktok_gateway::{
    AccessToken, AuthCode, CodeVerifier, OAuthState, RefreshToken, UpstreamError,
};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockBuilder, MockServer};

use common::*;

const FORM: &str = "application/x-www-form-urlencoded";

/// A form-encoded POST to `route` holding exactly `form`.
fn form_post(route: &str, form: &[(&str, &str)]) -> MockBuilder {
    Mock::given(method("POST"))
        .and(path(route))
        .and(header("content-type", FORM))
        .and(form_is(form))
}

/// The token endpoint, for a form-encoded POST holding exactly `form`.
fn token_call(form: &[(&str, &str)]) -> MockBuilder {
    form_post(TOKEN_PATH, form)
}

/// The code exchange's form for `code` (no PKCE).
fn code_form(code: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("client_key", CLIENT_KEY),
        ("client_secret", CLIENT_SECRET),
        ("code", code),
        ("grant_type", "authorization_code"),
        ("redirect_uri", REDIRECT_URI),
    ]
}

const CLIENT_CREDENTIALS_FORM: [(&str, &str); 3] = [
    ("client_key", CLIENT_KEY),
    ("client_secret", CLIENT_SECRET),
    ("grant_type", "client_credentials"),
];

/// The token endpoint answers `status` with `body`, once, to the code exchange
/// of `code`; the client exchanges `code`.
async fn exchange_answered(
    code: &str,
    status: u16,
    body: String,
) -> Result<TokenGrant, UpstreamError> {
    let server = serve_once(token_call(&code_form(code)), json(status, body)).await;
    exchange_code(&server, code).await
}

/// The token endpoint answers `status` with `body`, once, to a client
/// credentials grant; the client asks for the app's token.
async fn client_token_answered(status: u16, body: String) -> Result<TokenGrant, UpstreamError> {
    let server = serve_once(token_call(&CLIENT_CREDENTIALS_FORM), json(status, body)).await;
    client(&server).client_token(&app(), far_deadline()).await
}

// ---- authorize_url ----------------------------------------------------------

#[tokio::test]
async fn authorize_url_without_pkce_carries_exactly_the_documented_query() {
    let server = MockServer::start().await;
    let client = client(&server);

    let url = client.authorize_url(
        CLIENT_KEY,
        &OAuthState::new("st-8f2a&x=1"),
        None,
        &url::Url::parse(REDIRECT_URI).unwrap(),
    );

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

    let url = client.authorize_url(
        CLIENT_KEY,
        &OAuthState::new("st-1"),
        Some(&pkce),
        &url::Url::parse(REDIRECT_URI).unwrap(),
    );

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
    let success = fixture("token_success.json");

    let grant = exchange_answered("auth-code-123", 200, success)
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
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let mut form = code_form("auth-code-pkce");
    form.push(("code_verifier", verifier));
    let server = serve_once(token_call(&form), json(200, fixture("token_success.json"))).await;

    let grant = client(&server)
        .exchange_code(
            &app(),
            &AuthCode::new("auth-code-pkce"),
            Some(&CodeVerifier::new(verifier)),
            &url::Url::parse(REDIRECT_URI).unwrap(),
            far_deadline(),
        )
        .await
        .unwrap();

    assert_eq!(grant.expires_in, 86_400);
}

#[tokio::test]
async fn exchange_code_sends_the_redirect_uri_it_is_given_not_the_configured_one() {
    // A login that derived its callback URL from the API's domain.
    let derived = "https://abc123xyz9.execute-api.us-east-1.amazonaws.com/auth/tiktok/callback";
    let mut form = code_form("auth-code-derived");
    form.retain(|(name, _)| *name != "redirect_uri");
    form.push(("redirect_uri", derived));
    let server = serve_once(token_call(&form), json(200, fixture("token_success.json"))).await;

    let grant = client(&server)
        .exchange_code(
            &app(),
            &AuthCode::new("auth-code-derived"),
            None,
            &url::Url::parse(derived).unwrap(),
            far_deadline(),
        )
        .await
        .unwrap();

    assert_eq!(grant.expires_in, 86_400);
}

#[tokio::test]
async fn lifetimes_given_as_strings_are_still_read() {
    let body = r#"{"access_token":"act.s","expires_in":"7200","refresh_token":"rft.s",
        "refresh_expires_in":"15552000","open_id":"o","scope":" a , b ,","token_type":"Bearer"}"#;

    let grant = exchange_answered("c", 200, body.into()).await.unwrap();

    assert_eq!(grant.expires_in, 7_200);
    assert_eq!(grant.refresh_expires_in, Some(15_552_000));
    assert_eq!(grant.scopes, ["a", "b"]);
}

// ---- refresh, client_token, revoke -----------------------------------------

#[tokio::test]
async fn refresh_posts_the_refresh_form_and_returns_the_new_rotated_refresh_token() {
    let old = "rft.OLD-713bfb0aa3b4e8c4e1fd8a1d5a5de4cb0lrDPvkf!2424";
    let refresh = token_call(&[
        ("client_key", CLIENT_KEY),
        ("client_secret", CLIENT_SECRET),
        ("grant_type", "refresh_token"),
        ("refresh_token", old),
    ]);
    let server = serve_once(refresh, json(200, fixture("token_refresh_success.json"))).await;

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
    let app_token = fixture("token_client_credentials.json");

    let grant = client_token_answered(200, app_token).await.unwrap();

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
    let token = "act.to-be-revoked!2403";
    let revoke = form_post(
        REVOKE_PATH,
        &[
            ("client_key", CLIENT_KEY),
            ("client_secret", CLIENT_SECRET),
            ("token", token),
        ],
    );
    let server = serve_once(revoke, json(200, fixture("revoke_success.json"))).await;

    let revoked = client(&server)
        .revoke(&app(), &AccessToken::new(token), far_deadline())
        .await;

    assert!(revoked.is_ok(), "{revoked:?}");
}

#[tokio::test]
async fn revoke_error_body_is_an_oauth_error() {
    let revoke = Mock::given(method("POST")).and(path(REVOKE_PATH));
    let invalid_client = json(401, fixture("token_error_invalid_client.json"));
    let server = serve_once(revoke, invalid_client).await;

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
    let invalid_grant = fixture("token_error_invalid_grant.json");

    // Once: exchange_answered() serves one answer and checks that only one was asked for.
    let error = exchange_answered("used-code", status, invalid_grant)
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
    let token_endpoint = Mock::given(method("POST")).and(path(TOKEN_PATH));
    let invalid_grant = json(400, fixture("token_error_invalid_grant.json"));
    let server = serve_once(token_endpoint, invalid_grant).await;

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
    let invalid_client = fixture("token_error_invalid_client.json");

    let error = client_token_answered(401, invalid_client)
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
    let invalid_client = fixture("token_error_invalid_client.json");

    let error = exchange_answered("c", 200, invalid_client)
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
    // An access token and a refresh token but no expires_in.
    let body = fixture("token_malformed_success.json");

    let error = exchange_answered("c", 200, body.clone()).await.unwrap_err();

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
    let truncated = fixture("token_truncated.txt");

    let error = exchange_answered("c", 200, truncated).await.unwrap_err();

    assert!(
        matches!(error, UpstreamError::Decode { status: 200, .. }),
        "{error:?}"
    );
    assert_hides_tokens(&error, &["LEAKCHECK"]);
}

#[tokio::test]
async fn token_endpoint_error_status_without_oauth_body_hides_the_body() {
    let body = r#"{"message":"bad gateway config","access_token":"act.LEAKCHECKstatus!2403"}"#;

    let error = exchange_answered("c", 403, body.into()).await.unwrap_err();

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

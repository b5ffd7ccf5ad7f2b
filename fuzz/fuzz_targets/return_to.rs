//! Any `returnTo`: accepted only when it is an http(s) URL on an allowed origin.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let allowed = vec!["https://app.dshipit.com".to_owned()];
    if let Ok(accepted) = login_redirect::allowed_return_to(raw, &allowed) {
        let url = url::Url::parse(&accepted).expect("an accepted returnTo is a URL");
        assert_eq!(
            url.origin().ascii_serialization(),
            "https://app.dshipit.com",
            "{raw:?}"
        );
    }
});

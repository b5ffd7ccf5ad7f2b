//! `scripts/scan-secrets` (CI's credential scan) finds the credential shapes
//! issue 20 named, planted in a scratch directory: TikTok Shop `app_secret` and
//! `app_key` assignments, `TTP_` tokens and lowercase-hex secrets. The fakes are
//! assembled at run time so this file holds none of them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the scan over `dir` (every file in it): its exit status and findings.
fn scan(dir: &Path) -> (bool, String) {
    let output = Command::new("python3")
        .arg(root().join("scripts/scan-secrets"))
        .arg(dir)
        .output()
        .expect("python3 runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(test_support::unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_credential_scan_catches_app_secrets_app_keys_ttp_tokens_and_hex_secrets() {
    let hex = "3f9a0c7b2e51d846".repeat(2) + "a1b2c3d4";
    let ttp = ["TTP", "_", "pLVKvQAAAADa8nP0", "s3cRk2Yw9hQe7XbTuvDN"].concat();
    let planted = [
        (
            "shop.env",
            format!(
                "{}={}\n",
                ["APP", "_SECRET"].concat(),
                "s3cr3tV4lue9Qx7Lm2Kp"
            ),
        ),
        (
            "secret.json",
            format!("{{\"{}\": \"{}\"}}\n", ["app", "_secret"].concat(), hex),
        ),
        (
            "config.yaml",
            format!("{}: \"{}\"\n", ["app", "_key"].concat(), "6d2k9q1m4p7xz"),
        ),
        ("token.txt", format!("x-tts-access-token: {ttp}\n")),
        ("notes.md", format!("the signing secret is {hex}\n")),
    ];
    for (file, text) in &planted {
        let dir = scratch("scan");
        std::fs::write(dir.join(file), text).unwrap();
        let (clean, findings) = scan(&dir);
        assert!(!clean, "{file} not caught: {text}");
        assert!(findings.contains(file), "{file}: {findings}");
        assert!(
            !findings.contains(text.trim()),
            "a finding never shows the value: {findings}"
        );
    }
    // Fake-looking test values are not findings.
    let dir = scratch("scan-clean");
    std::fs::write(
        dir.join("fixture.rs"),
        "const APP_KEY: &str = \"6abc1def2ghi\";\nlet secret = \"ck-test\";\n",
    )
    .unwrap();
    let (clean, findings) = scan(&dir);
    assert!(clean, "{findings}");
}

//! The item codec: attributes read and written, and the tokens sealed with the
//! application's keys, each bound to its item's key and field.

use super::*;

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("missing string attribute {name}")))
}

pub(super) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("missing number attribute {name}")))
}

pub(super) fn open(
    ring: &Keyring,
    item: &Item,
    name: &str,
    context: &str,
) -> Result<String, StoreError> {
    ring.open(get_s(item, name)?, context)
        .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

/// The associated data of field `field` of the item whose `pk` is `pk`.
pub(super) fn context(pk: &str, field: &str) -> String {
    format!("{pk}/{field}")
}

pub(super) const APP_CONTEXT: &str = "APP/access_token";

/// The attributes that hold `tokens` on the item whose `pk` is `pk` (a
/// connection or a pending grant), both tokens sealed to `<pk>/<field>`. A
/// grant without a seller account has no `account` attribute.
pub(super) fn tokens_item(ring: &Keyring, pk: &str, tokens: &Tokens) -> Result<Item, StoreError> {
    let seal = |token: &str, field: &str| s(ring.seal(token, &context(pk, field)));
    let mut item = HashMap::from([
        ("open_id".to_owned(), s(&tokens.open_id)),
        (
            "scopes".to_owned(),
            AttributeValue::L(tokens.scopes.iter().map(s).collect()),
        ),
        (
            "access_token".to_owned(),
            seal(tokens.access_token.expose(), "access_token"),
        ),
        (
            "refresh_token".to_owned(),
            seal(tokens.refresh_token.expose(), "refresh_token"),
        ),
        ("access_expires_at".to_owned(), n(tokens.access_expires_at)),
        (
            "refresh_expires_at".to_owned(),
            n(tokens.refresh_expires_at),
        ),
        ("refreshed_at".to_owned(), n(tokens.refreshed_at)),
    ]);
    if let Some(account) = &tokens.account {
        let json =
            serde_json::to_string(account).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        item.insert("account".to_owned(), s(json));
    }
    Ok(item)
}

/// Opens the two tokens of the item whose `pk` is `pk` ([`tokens_item`]).
/// `legacy_pk`: also accept the context connections were sealed with before
/// contexts named the item type (`<sub>/<field>`).
pub(super) fn open_tokens(
    ring: &Keyring,
    item: &Item,
    pk: &str,
    legacy_pk: Option<&str>,
) -> Result<(AccessToken, RefreshToken), CryptoError> {
    let open = |field: &str| {
        let sealed = get_s(item, field).map_err(|_| CryptoError::Corrupt)?;
        match (ring.open(sealed, &context(pk, field)), legacy_pk) {
            (Err(CryptoError::Corrupt), Some(legacy)) => ring.open(sealed, &context(legacy, field)),
            (opened, _) => opened,
        }
    };
    Ok((
        AccessToken::new(open("access_token")?),
        RefreshToken::new(open("refresh_token")?),
    ))
}

/// The tokens [`tokens_item`] wrote, with their opened access and refresh token.
pub(super) fn tokens_from_item(
    item: &Item,
    access_token: AccessToken,
    refresh_token: RefreshToken,
) -> Result<Tokens, StoreError> {
    let scopes = match item.get("scopes") {
        Some(AttributeValue::L(list)) => {
            list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
        }
        _ => Vec::new(),
    };
    Ok(Tokens {
        open_id: get_s(item, "open_id")?.to_owned(),
        scopes,
        access_token,
        refresh_token,
        access_expires_at: get_n(item, "access_expires_at")?,
        refresh_expires_at: get_n(item, "refresh_expires_at")?,
        refreshed_at: get_n(item, "refreshed_at")?,
        // A connection without one holds an empty string (see `token_values`).
        account: match item.get("account").and_then(|v| v.as_s().ok()) {
            Some(json) if !json.is_empty() => Some(
                serde_json::from_str(json)
                    .map_err(|e| StoreError::Corrupt(format!("account: {e}")))?,
            ),
            _ => None,
        },
    })
}

/// Whether a connection of user `user_id` may still be opened under the
/// context connections were sealed with before contexts named the item type
/// (`<sub>/<field>`). Not when that context could be another item's: every
/// item key but a connection's old one has a `#` (`USER#x`, `GRANT#h`,
/// `LOGIN#h`, ...) or is the app token's (`APP`, formerly `app`), so a `sub`
/// with a `#` or spelling `app` in any case never falls back (its legacy
/// ciphertext would not open: such a user connects again).
pub(super) fn legacy_context_allowed(user_id: &str) -> bool {
    !user_id.contains('#') && !user_id.eq_ignore_ascii_case("app")
}

pub(super) fn connection_from(ring: &Keyring, item: &Item) -> Result<Connection, StoreError> {
    let user_id = get_s(item, "user_id")?.to_owned();
    let mut status = ConnectionStatus::parse(get_s(item, "status")?)
        .ok_or_else(|| StoreError::Corrupt("unknown status".into()))?;
    // Connections sealed before contexts named the item type open under
    // `<sub>/<field>`. Every refresh rewrites a connection in the new form.
    let legacy_pk = legacy_context_allowed(&user_id).then_some(user_id.as_str());
    let ended = !item.contains_key("refresh_token");
    let opened = if ended {
        // A seller's deauthorization removed the tokens.
        Ok((
            AccessToken::new(String::new()),
            RefreshToken::new(String::new()),
        ))
    } else {
        open_tokens(ring, item, &user_pk(&user_id), legacy_pk)
    };
    let (access, refresh) = match opened {
        Ok(pair) => pair,
        // Sealed under a key that has since been removed from the secret: the
        // tokens are gone for good, the user must connect again.
        Err(CryptoError::UnknownKey(key_id)) => {
            tracing::warn!(
                user_id,
                key_id,
                "connection sealed under a removed token key"
            );
            status = ConnectionStatus::ReconnectRequired;
            (
                AccessToken::new(String::new()),
                RefreshToken::new(String::new()),
            )
        }
        Err(e) => return Err(StoreError::Corrupt(format!("connection tokens: {e}"))),
    };
    let mut tokens = tokens_from_item(item, access, refresh)?;
    // The expiry notice's attribute, newer than the account's copy.
    if let (Some(account), Some(_)) = (
        tokens.account.as_mut(),
        item.get("authorization_expires_at"),
    ) {
        account.authorization_expires_at = Some(get_n(item, "authorization_expires_at")?);
    }
    if ended {
        status = ConnectionStatus::ReconnectRequired;
    }
    Ok(Connection {
        tokens,
        status,
        version: get_n(item, "version")?,
        last_used_at: match item.get("last_used_at") {
            Some(_) => get_n(item, "last_used_at")?,
            None => get_n(item, "refreshed_at")?,
        },
        user_id,
    })
}

/// `SET` clauses and values shared by a new grant and a refresh: every
/// attribute of [`tokens_item`] as `<name> = :<name>`, the user, the status
/// (active) and the due shard, and `:one`.
pub(super) fn token_values(
    ring: &Keyring,
    user_id: &str,
    tokens: &Tokens,
    shard: AttributeValue,
) -> Result<(String, Item), StoreError> {
    let mut attributes = tokens_item(ring, &user_pk(user_id), tokens)?;
    // Written even without an account, so a reconnect clears an earlier one.
    attributes
        .entry("account".to_owned())
        .or_insert_with(|| s(""));
    attributes.insert("user_id".to_owned(), s(user_id));
    attributes.insert("due_shard".to_owned(), shard);
    let mut names: Vec<&String> = attributes.keys().collect();
    names.sort();
    let assignments: Vec<String> = names
        .iter()
        .map(|name| format!("{name} = :{name}"))
        .collect();
    let set = format!("SET {}, #status = :active", assignments.join(", "));
    let mut values: Item = attributes
        .into_iter()
        .map(|(name, value)| (format!(":{name}"), value))
        .collect();
    values.insert(":active".to_owned(), s(ConnectionStatus::Active.as_str()));
    values.insert(":one".to_owned(), n(1));
    Ok((set, values))
}

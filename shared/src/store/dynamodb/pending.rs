//! Single-use items of the login: pending logins and pending grants, and the
//! webhook deliveries already handled.

use super::*;

#[async_trait]
impl PendingAuth for DynamoStore {
    async fn put_login(&self, state_hash: &str, login: &PendingLogin) -> Result<(), StoreError> {
        let pk = login_pk(state_hash);
        let mut item = key(&pk, "LOGIN");
        item.insert("user_id".into(), s(&login.user_id));
        if let Some(return_to) = &login.return_to {
            item.insert("return_to".into(), s(return_to));
        }
        if let Some(redirect_uri) = &login.redirect_uri {
            item.insert("redirect_uri".into(), s(redirect_uri));
        }
        if let Some(verifier) = &login.code_verifier {
            let ring = self.keyring().await?;
            let sealed = ring.seal(verifier.expose(), &context(&pk, "code_verifier"));
            item.insert("code_verifier".into(), s(sealed));
        }
        self.put(expiring(item, login.expires_at)).await
    }

    async fn take_login(
        &self,
        state_hash: &str,
        now: i64,
    ) -> Result<Option<PendingLogin>, StoreError> {
        let pk = login_pk(state_hash);
        let Some((item, expires_at)) = self.take_single_use(key(&pk, "LOGIN"), now).await? else {
            return Ok(None);
        };
        let code_verifier = match item.contains_key("code_verifier") {
            true => Some(CodeVerifier::new(open(
                &self.keyring().await?,
                &item,
                "code_verifier",
                &context(&pk, "code_verifier"),
            )?)),
            false => None,
        };
        Ok(Some(PendingLogin {
            user_id: get_s(&item, "user_id")?.to_owned(),
            return_to: item.get("return_to").and_then(|v| v.as_s().ok()).cloned(),
            redirect_uri: item
                .get("redirect_uri")
                .and_then(|v| v.as_s().ok())
                .cloned(),
            code_verifier,
            expires_at,
        }))
    }

    async fn put_grant(
        &self,
        completion_hash: &str,
        grant: &PendingGrant,
    ) -> Result<(), StoreError> {
        let pk = grant_pk(completion_hash);
        let mut item = tokens_item(&self.keyring().await?, &pk, &grant.tokens)?;
        item.extend(key(&pk, "GRANT"));
        item.insert("user_id".into(), s(&grant.user_id));
        self.put(expiring(item, grant.expires_at)).await
    }

    async fn take_grant(
        &self,
        completion_hash: &str,
        now: i64,
    ) -> Result<Option<PendingGrant>, StoreError> {
        // The keys before the delete: if they cannot be had, the grant stays.
        let ring = self.keyring().await?;
        let pk = grant_pk(completion_hash);
        let Some((item, expires_at)) = self.take_single_use(key(&pk, "GRANT"), now).await? else {
            return Ok(None);
        };
        let (access, refresh) = open_tokens(&ring, &item, &pk, None)
            .map_err(|e| StoreError::Corrupt(format!("grant tokens: {e}")))?;
        Ok(Some(PendingGrant {
            user_id: get_s(&item, "user_id")?.to_owned(),
            tokens: tokens_from_item(&item, access, refresh)?,
            expires_at,
        }))
    }
}

#[async_trait]
impl WebhookDeliveries for DynamoStore {
    async fn claim_delivery(
        &self,
        id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        // An update creates the item when there is none: one conditional write.
        let written = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(delivery_key(id)))
            .update_expression("SET expires_at = :e, #ttl = :e")
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":e", n(expires_at))
            .expression_attribute_values(":now", n(now))
            .send()
            .await
            .map_err(conflict_or_unavailable);
        applied(written)
    }

    async fn release_delivery(&self, id: &str, now: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(delivery_key(id)))
            .update_expression("SET expires_at = :e, #ttl = :e")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":e", n(now))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

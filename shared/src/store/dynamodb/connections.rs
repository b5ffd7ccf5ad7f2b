//! Connections: their activity, tokens and status, and the due indexes the
//! refresher reads.

use super::*;

#[async_trait]
impl ConnectionActivity for DynamoStore {
    async fn record_use(&self, user_id: &str, now: i64, since: i64) -> Result<bool, StoreError> {
        // One conditional write, no read: the request already read the item.
        let written = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .update_expression("SET last_used_at = :now, #status = :active, due_shard = :shard")
            .condition_expression(
                "#status = :dormant OR (#status = :active AND \
                 (attribute_not_exists(last_used_at) OR last_used_at < :since))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":since", n(since))
            .expression_attribute_values(":active", s(ConnectionStatus::Active.as_str()))
            .expression_attribute_values(":dormant", s(ConnectionStatus::Dormant.as_str()))
            .expression_attribute_values(":shard", self.shard_value(user_id))
            .send()
            .await
            .map_err(conflict_or_unavailable);
        applied(written)
    }

    async fn mark_dormant(
        &self,
        user_id: &str,
        expected_version: u64,
        used_since: i64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .update_expression("SET #status = :dormant, #v = #v + :one REMOVE due_shard")
            .condition_expression(
                "#v = :expected AND #status = :active AND \
                 (attribute_not_exists(last_used_at) OR last_used_at < :since)",
            )
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":dormant", s(ConnectionStatus::Dormant.as_str()))
            .expression_attribute_values(":active", s(ConnectionStatus::Active.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expected", n(expected_version))
            .expression_attribute_values(":since", n(used_since))
            .send()
            .await
            .map_err(conflict_or_unavailable)?;
        Ok(())
    }

    async fn claim_refresh(
        &self,
        user_id: &str,
        expected_version: u64,
        now: i64,
        until: i64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .update_expression(
                "SET refresh_claim_version = :expected, refresh_claim_until = :until",
            )
            .condition_expression(
                "#v = :expected AND #status = :active AND \
                 (attribute_not_exists(refresh_claim_until) OR \
                  refresh_claim_version <> :expected OR refresh_claim_until <= :now)",
            )
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s(ConnectionStatus::Active.as_str()))
            .expression_attribute_values(":expected", n(expected_version))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":until", n(until))
            .send()
            .await
            .map_err(conflict_or_unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl RefreshLease for DynamoStore {
    async fn acquire_refresh_lease(
        &self,
        user_id: &str,
        version: u64,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        // On the connection item itself: no other key to grant, and a
        // version bump (the winner's rotation) ends the lease by itself.
        let written = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .update_expression(
                "SET lease_holder = :holder, lease_until = :until, lease_version = :version",
            )
            .condition_expression(
                "#v = :version AND (attribute_not_exists(lease_until) OR \
                 lease_until <= :now OR lease_version <> :version)",
            )
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":holder", s(holder))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":version", n(version))
            .expression_attribute_values(":now", n(now))
            .send()
            .await
            .map_err(conflict_or_unavailable);
        applied(written)
    }

    async fn release_refresh_lease(&self, user_id: &str, holder: &str) -> Result<(), StoreError> {
        let released = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .update_expression("REMOVE lease_holder, lease_until, lease_version")
            .condition_expression("lease_holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await
            .map_err(conflict_or_unavailable);
        applied(released).map(|_| ())
    }
}

#[async_trait]
impl Connections for DynamoStore {
    async fn get_connection(&self, user_id: &str) -> Result<Option<Connection>, StoreError> {
        match self.get(user_key(user_id), true).await? {
            Some(item) => Ok(Some(connection_from(&self.keyring().await?, &item)?)),
            None => Ok(None),
        }
    }

    async fn put_connection(
        &self,
        user_id: &str,
        tokens: &Tokens,
    ) -> Result<Connection, StoreError> {
        let connection = self.write_connection(user_id, tokens, None).await?;
        // A seller's shops point back at the user, for TikTok Shop's webhooks
        // (which name a shop, not a seller). After the connection: a missing
        // pointer only means a webhook for that shop finds nobody.
        for shop in tokens.account.iter().flat_map(|a| &a.shops) {
            self.client
                .update_item()
                .table_name(&self.layout.table)
                .set_key(Some(seller_shop_key(&shop.id, user_id)))
                .update_expression("SET user_id = :user")
                .expression_attribute_values(":user", s(user_id))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(connection)
    }

    async fn update_tokens(
        &self,
        user_id: &str,
        expected_version: u64,
        tokens: &Tokens,
    ) -> Result<Connection, StoreError> {
        self.write_connection(user_id, tokens, Some(expected_version))
            .await
    }

    async fn mark_reconnect_required(
        &self,
        user_id: &str,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .update_expression("SET #status = :status, #v = #v + :one REMOVE due_shard")
            .condition_expression("#v = :expected")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(ConnectionStatus::ReconnectRequired.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expected", n(expected_version))
            .send()
            .await
            .map_err(conflict_or_unavailable)?;
        Ok(())
    }

    async fn record_authorization_expiry(
        &self,
        user_id: &str,
        shop_id: &str,
        expires_at: i64,
        sent_at: i64,
    ) -> Result<bool, StoreError> {
        // Its own attribute (read over the account's copy): the account and
        // the tokens are left as they are, so nothing else moves.
        let written = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .update_expression("SET authorization_expires_at = :at")
            .condition_expression(
                "#status = :active AND refreshed_at <= :sent AND contains(account, :shop)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":at", n(expires_at))
            .expression_attribute_values(":active", s(ConnectionStatus::Active.as_str()))
            .expression_attribute_values(":sent", n(sent_at))
            .expression_attribute_values(":shop", s(shop_needle(shop_id)?))
            .send()
            .await
            .map_err(conflict_or_unavailable);
        applied(written)
    }

    async fn end_seller_authorization(
        &self,
        user_id: &str,
        shop_id: &str,
        sent_at: i64,
    ) -> Result<bool, StoreError> {
        let written = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .update_expression(
                "SET #status = :reconnect, access_expires_at = :zero, #v = #v + :one \
                 REMOVE access_token, refresh_token, due_shard",
            )
            .condition_expression(
                "attribute_exists(refresh_token) AND refreshed_at <= :sent \
                 AND contains(account, :shop)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(
                ":reconnect",
                s(ConnectionStatus::ReconnectRequired.as_str()),
            )
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":sent", n(sent_at))
            .expression_attribute_values(":shop", s(shop_needle(shop_id)?))
            .send()
            .await
            .map_err(conflict_or_unavailable);
        applied(written)
    }

    async fn delete_connection(&self, user_id: &str) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn users_of_shop(&self, shop_id: &str) -> Result<Vec<String>, StoreError> {
        // One pointer per shop and user (and, from before, one per shop).
        let mut users = std::collections::BTreeSet::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.layout.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(seller_shop_pk(shop_id)))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items.unwrap_or_default() {
                users.insert(get_s(&item, "user_id")?.to_owned());
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(users.into_iter().collect()),
            }
        }
    }
}

#[async_trait]
impl DueIndex for DynamoStore {
    fn due_shards(&self) -> u32 {
        self.layout.due_shards.max(1)
    }

    async fn find_due(&self, shard: u32, window: DueWindow) -> Result<Vec<Due>, StoreError> {
        // Both indexes at once: a cold refresher waits for one round trip, not two.
        let (access, refresh) = futures::future::try_join(
            self.query_due(
                ACCESS_DUE_INDEX,
                "access_expires_at",
                shard,
                window.access_from,
                window.access_before,
            ),
            self.query_due(
                REFRESH_DUE_INDEX,
                "refresh_expires_at",
                shard,
                i64::MIN,
                window.refresh_before,
            ),
        )
        .await?;
        Ok(due_by_user(access.into_iter().chain(refresh)))
    }
}

/// What the stored `account` JSON holds when it covers shop `shop_id`
/// (`"id":"<shop id>"`; a quote inside any other value is escaped, so only a
/// shop's `id` field can match).
fn shop_needle(shop_id: &str) -> Result<String, StoreError> {
    let quoted = serde_json::to_string(shop_id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(format!("\"id\":{quoted}"))
}

//! The per-user daily budget of upstream calls.

use super::*;

#[async_trait]
impl UpstreamBudget for DynamoStore {
    async fn spend_upstream_call(
        &self,
        user_id: &str,
        day: i64,
        limit: u32,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(budget_key(user_id, day)))
            .update_expression("ADD calls :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(calls) OR calls < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(expires_at))
            .expression_attribute_values(":limit", n(limit))
            .send()
            .await
            .map_err(conflict_or_unavailable);
        applied(counted)
    }

    async fn spend_app_upstream_call(
        &self,
        day: i64,
        limit: u32,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(app_budget_key(day)))
            .update_expression("ADD calls :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(calls) OR calls < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(expires_at))
            .expression_attribute_values(":limit", n(limit))
            .send()
            .await
            .map_err(conflict_or_unavailable);
        applied(counted)
    }
}

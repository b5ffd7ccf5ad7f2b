//! The daily counts of upstream calls: each user's budget and the app's quota.

use super::*;

fn key_of(budget: Budget<'_>, day: i64) -> Item {
    match budget {
        Budget::User(user_id) => budget_key(user_id, day),
        Budget::App => app_budget_key(day),
    }
}

#[async_trait]
impl UpstreamBudget for DynamoStore {
    async fn spend_upstream_calls(
        &self,
        budget: Budget<'_>,
        day: i64,
        calls: u32,
        limit: u32,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        // At most `limit` once these are counted: at most `limit - calls` before.
        let Some(most_before) = limit.checked_sub(calls) else {
            return Ok(false);
        };
        let counted = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(key_of(budget, day)))
            .update_expression("ADD calls :calls SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(calls) OR calls <= :most")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":calls", n(calls))
            .expression_attribute_values(":ttl", n(expires_at))
            .expression_attribute_values(":most", n(most_before))
            .send()
            .await
            .map_err(conflict_or_unavailable);
        applied(counted)
    }

    async fn return_upstream_calls(
        &self,
        budget: Budget<'_>,
        day: i64,
        calls: u32,
    ) -> Result<(), StoreError> {
        let returned = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(key_of(budget, day)))
            .update_expression("ADD calls :minus")
            // Never creates a counter (one that expired stays gone).
            .condition_expression("calls >= :calls")
            .expression_attribute_values(":minus", n(-i64::from(calls)))
            .expression_attribute_values(":calls", n(calls))
            .send()
            .await
            .map_err(conflict_or_unavailable);
        applied(returned).map(drop)
    }
}

//! The app's client-credentials token, shared by every container.

use super::*;

#[async_trait]
impl AppTokens for DynamoStore {
    async fn get_app_token(&self) -> Result<Option<AppToken>, StoreError> {
        let Some(item) = self.get(app_key(), true).await? else {
            return Ok(None);
        };
        let ring = self.keyring().await?;
        let version = get_n(&item, "version")?;
        match open(&ring, &item, "access_token", APP_CONTEXT) {
            Ok(token) => Ok(Some(AppToken {
                access_token: AccessToken::new(token),
                expires_at: get_n(&item, "expires_at")?,
                version,
            })),
            // Sealed under a removed key, an older context, or not the app's:
            // unusable, so it is replaced (compare-and-set on its version) like
            // an expired one.
            Err(error) => {
                tracing::warn!(%error, "the stored app token does not open; fetching a new one");
                Ok(Some(AppToken {
                    access_token: AccessToken::new(String::new()),
                    expires_at: 0,
                    version,
                }))
            }
        }
    }

    async fn put_app_token(
        &self,
        access_token: &AccessToken,
        expires_at: i64,
        expected_version: Option<u64>,
    ) -> Result<AppToken, StoreError> {
        let ring = self.keyring().await?;
        let version = expected_version.unwrap_or(0) + 1;
        let mut item = app_key();
        item.insert(
            "access_token".into(),
            s(ring.seal(access_token.expose(), APP_CONTEXT)),
        );
        item.insert("expires_at".into(), n(expires_at));
        item.insert("version".into(), n(version));
        let request = self
            .client
            .put_item()
            .table_name(&self.layout.table)
            .set_item(Some(item))
            .expression_attribute_names("#v", "version");
        let request = match expected_version {
            Some(expected) => request
                .condition_expression("#v = :expected")
                .expression_attribute_values(":expected", n(expected)),
            None => request.condition_expression("attribute_not_exists(#v)"),
        };
        request.send().await.map_err(conflict_or_unavailable)?;
        Ok(AppToken {
            access_token: access_token.clone(),
            expires_at,
            version,
        })
    }
}

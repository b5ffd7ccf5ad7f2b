//! Products and product details cached for product lookups.

use super::*;

#[async_trait]
impl ProductCache for DynamoStore {
    async fn cache_products(
        &self,
        shop_id: &TikTokId,
        products: &[Product],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        // DynamoDB refuses a batch that holds one key twice, and a listing read
        // over several pages can repeat a product: keep each product's last
        // copy, as one write per product would.
        let last_copy: HashMap<&TikTokId, usize> = products
            .iter()
            .enumerate()
            .map(|(i, p)| (&p.product_id, i))
            .collect();
        let unique: Vec<&Product> = products
            .iter()
            .enumerate()
            .filter(|(i, p)| last_copy.get(&p.product_id) == Some(i))
            .map(|(_, p)| p)
            .collect();
        for chunk in unique.chunks(25) {
            let mut writes = Vec::with_capacity(chunk.len());
            for product in chunk {
                let mut item = shop_item_key(shop_id, "PRODUCT", &product.product_id);
                let json = serde_json::to_string(product)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                item.insert("product".into(), s(json));
                let put = PutRequest::builder()
                    .set_item(Some(expiring(item, expires_at)))
                    .build()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                writes.push(WriteRequest::builder().put_request(put).build());
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.layout.table, writes)
                .send()
                .await
                .map_err(unavailable)?;
            let left = output
                .unprocessed_items
                .map_or(0, |u| u.values().map(Vec::len).sum::<usize>());
            if left > 0 {
                tracing::warn!(left, "product cache: some writes were not processed");
            }
        }
        Ok(())
    }

    async fn cached_product(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        now: i64,
    ) -> Result<Option<Product>, StoreError> {
        let key = shop_item_key(shop_id, "PRODUCT", product_id);
        let Some(item) = self.get_unexpired(key, now, false).await? else {
            return Ok(None);
        };
        serde_json::from_str(get_s(&item, "product")?)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("cached product: {e}")))
    }

    async fn cache_detail(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        json: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut item = shop_item_key(shop_id, "DETAIL", product_id);
        item.insert("product".into(), s(json));
        self.put(expiring(item, expires_at)).await
    }

    async fn cached_detail(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let key = shop_item_key(shop_id, "DETAIL", product_id);
        let Some(item) = self.get_unexpired(key, now, false).await? else {
            return Ok(None);
        };
        Ok(Some(get_s(&item, "product")?.to_owned()))
    }
}

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

#[async_trait]
impl ProductLookup for DynamoStore {
    /// One strongly consistent BatchGetItem of the connection and the entry.
    async fn connection_and_cached(
        &self,
        user_id: &str,
        entry: &CacheEntry,
        now: i64,
    ) -> Result<(Option<Connection>, Option<String>), StoreError> {
        let kind = match entry.kind {
            CachedKind::Product => "PRODUCT",
            CachedKind::Detail => "DETAIL",
        };
        let user = user_key(user_id);
        let cached = shop_item_key(&entry.shop_id, kind, &entry.product_id);
        let keys = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
            .keys(user.clone())
            .keys(cached.clone())
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut wanted = HashMap::from([(self.layout.table.clone(), keys)]);
        let mut items: Vec<Item> = Vec::new();
        // DynamoDB may leave keys unprocessed under load: ask again for those.
        for _ in 0..3 {
            let output = self
                .client
                .batch_get_item()
                .set_request_items(Some(wanted))
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(
                output
                    .responses
                    .and_then(|mut r| r.remove(&self.layout.table))
                    .unwrap_or_default(),
            );
            match output.unprocessed_keys.filter(|u| !u.is_empty()) {
                Some(left) => wanted = left,
                None => {
                    wanted = HashMap::new();
                    break;
                }
            }
        }
        if !wanted.is_empty() {
            return Err(StoreError::Unavailable(
                "DynamoDB left keys of a product lookup unprocessed".into(),
            ));
        }
        let is = |item: &Item, key: &Item| key.iter().all(|(k, v)| item.get(k) == Some(v));
        let connection = match items.iter().find(|item| is(item, &user)) {
            Some(item) => Some(connection_from(&self.keyring().await?, item)?),
            None => None,
        };
        let cached = items
            .iter()
            .find(|item| is(item, &cached))
            .filter(|item| get_n::<i64>(item, "expires_at").is_ok_and(|at| at > now))
            .and_then(|item| get_s(item, "product").ok().map(str::to_owned));
        Ok((connection, cached))
    }
}

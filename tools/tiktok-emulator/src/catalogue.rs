//! The emulator's TikTok Shop: a deterministic catalogue (the same shops,
//! products and reviews on every run), built once.

use serde_json::{json, Value};

/// One shop.
pub struct Shop {
    /// 64-bit id above 2^53.
    pub id: u64,
    /// Name.
    pub name: &'static str,
    /// Rating 0–5.
    pub rating: f64,
    /// Reviews of the shop.
    pub review_count: u64,
    /// Items sold.
    pub sold: u64,
    /// Performance score.
    pub performance: u64,
    /// Its products.
    pub products: Vec<Product>,
}

/// One product.
pub struct Product {
    /// 64-bit id above 2^53.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Prices as TikTok writes them (sale first, original second).
    pub price: Vec<String>,
    /// Units sold.
    pub sold: u64,
    /// 1–5 star counts.
    pub ratings: [u64; 5],
    /// Its reviews.
    pub reviews: Vec<Review>,
}

/// One review.
pub struct Review {
    /// Text.
    pub text: String,
    /// Reviewer.
    pub display_name: String,
    /// Likes.
    pub likes: u64,
    /// Unix seconds.
    pub create_time: u64,
    /// 1–5.
    pub rating: u64,
}

/// The shop the README and the end-to-end test use.
pub const SUNNY_HOME_GOODS: u64 = 7_494_754_040_961_993_092;

const SHOPS: &[(u64, &str, &[&str])] = &[
    (
        SUNNY_HOME_GOODS,
        "Sunny Home Goods",
        &[
            "Ceramic Mug",
            "Bamboo Cutting Board",
            "Linen Tea Towel",
            "Stoneware Bowl",
            "Glass Storage Jar",
            "Enamel Mug",
        ],
    ),
    (
        7_494_754_040_961_993_193,
        "Tech Haven",
        &[
            "Wireless Earbuds",
            "USB-C Charger",
            "Phone Stand",
            "Bluetooth Speaker",
            "Laptop Sleeve",
        ],
    ),
    (
        7_494_754_040_961_993_294,
        "Maple & Oak Outfitters",
        &[
            "Wool Beanie",
            "Canvas Backpack",
            "Leather Belt",
            "Hiking Socks",
            "Travel Mug",
        ],
    ),
    (
        7_494_754_040_961_993_395,
        "Kyoto Stationery",
        &[
            "Fountain Pen",
            "Washi Tape",
            "Dot Grid Notebook",
            "Brush Pen",
            "Desk Organizer",
        ],
    ),
    (
        7_494_754_040_961_993_496,
        "Berlin Bike Parts",
        &[
            "Bike Light",
            "Chain Lube",
            "Saddle Bag",
            "Bottle Cage",
            "Mini Pump",
        ],
    ),
    (
        7_494_754_040_961_993_597,
        "Lagos Beauty Lab",
        &[
            "Shea Butter",
            "Matte Lipstick",
            "Face Serum",
            "Hair Oil",
            "Clay Mask",
        ],
    ),
];

const COLOURS: &[&str] = &[
    "Sand", "Sage", "Charcoal", "Coral", "Ivory", "Navy", "Mustard", "Plum",
];
const NAMES: &[&str] = &[
    "Ada", "Bola", "Chen", "Dana", "Emre", "Femi", "Greta", "Hiro", "Ines", "Jonas",
];
const REVIEW_TEXTS: &[&str] = &[
    "Exactly as pictured, arrived quickly.",
    "Good value for the price.",
    "Colour is a bit different from the photo.",
    "Would buy again — great quality!",
    "Packaging was damaged but the item is fine.",
    "Not what I expected.",
];

/// A small deterministic generator (64-bit LCG), so every run sees the same shop.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Prices in the formats TikTok and sellers write: amount+code, with a space,
/// thousands separators, a symbol, no decimals, sale + original, unparseable.
fn price(rng: &mut Lcg, n: u64) -> Vec<String> {
    let cents = 199 + rng.below(20_000);
    let amount = format!("{}.{:02}", cents / 100, cents % 100);
    match n % 9 {
        0 | 1 => vec![format!("{amount}USD")],
        2 => vec![format!("{amount} EUR")],
        3 => vec![format!("¥{}", cents / 10)],
        4 => vec![format!("{amount} GBP")],
        5 => vec![format!("{}JPY", cents * 10)],
        6 => {
            let original = cents + 100 + rng.below(2_000);
            vec![
                format!("{amount}USD"),
                format!("{}.{:02}USD", original / 100, original % 100),
            ]
        }
        7 => {
            let big = 100_000 + rng.below(900_000);
            vec![format!("{},{:03}.00 EUR", big / 1000, big % 1000)]
        }
        _ if n % 27 == 8 => vec!["N/A".to_owned()],
        _ => vec![format!("{amount}USD")],
    }
}

/// Builds the catalogue.
pub fn build() -> Vec<Shop> {
    let mut rng = Lcg(0x5eed_cafe_f00d);
    let mut next_product = 1_729_000_000_000_000_001u64;
    SHOPS
        .iter()
        .enumerate()
        .map(|(s, (id, name, kinds))| {
            let count = 30 + rng.below(51) as usize; // 30–80 products
            let products = (0..count)
                .map(|i| {
                    let kind = kinds[i % kinds.len()];
                    let colour = COLOURS[(i / kinds.len() + s) % COLOURS.len()];
                    let id = next_product;
                    next_product += 1 + rng.below(3);
                    let rated = i % 7 != 3; // some products have no ratings at all
                    let ratings = if rated {
                        [
                            rng.below(5),
                            rng.below(8),
                            rng.below(20),
                            rng.below(60),
                            rng.below(150),
                        ]
                    } else {
                        [0; 5]
                    };
                    let reviews = (0..rng.below(26))
                        .map(|r| Review {
                            text: REVIEW_TEXTS[(r + i as u64) as usize % REVIEW_TEXTS.len()]
                                .to_owned(),
                            display_name: NAMES[(r as usize + i) % NAMES.len()].to_owned(),
                            likes: rng.below(40),
                            create_time: 1_760_000_000 + rng.below(10_000_000),
                            rating: 1 + rng.below(5),
                        })
                        .collect();
                    Product {
                        id,
                        name: format!("{colour} {kind}"),
                        description: format!(
                            "A {} {} from {name}.",
                            colour.to_lowercase(),
                            kind.to_lowercase()
                        ),
                        price: price(&mut rng, i as u64 + s as u64),
                        sold: rng.below(5_000),
                        ratings,
                        reviews,
                    }
                })
                .collect();
            Shop {
                id: *id,
                name,
                rating: 3.5 + rng.below(15) as f64 / 10.0,
                review_count: rng.below(20_000),
                sold: 1_000 + rng.below(200_000),
                performance: 60 + rng.below(40),
                products,
            }
        })
        .collect()
}

/// A field TikTok lets a caller ask for on an endpoint, and how the emulator
/// writes it. One table per endpoint names what may be asked for and what is
/// answered, written from TIKTOK_API.md independently of the gateway's own
/// field lists (the emulator checks what the gateway asks for).
pub type Field<T> = (&'static str, fn(&T) -> Value);

/// The shop endpoint's fields.
pub const SHOP_FIELDS: &[Field<Shop>] = &[
    ("shop_id", |s| json!(s.id)),
    ("shop_name", |s| json!(s.name)),
    ("shop_rating", |s| json!(s.rating)),
    ("shop_review_count", |s| json!(s.review_count)),
    ("item_sold_count", |s| json!(s.sold)),
    ("shop_performance_value", |s| json!(s.performance)),
];

/// The product endpoint's fields.
pub const PRODUCT_FIELDS: &[Field<Product>] = &[
    ("product_id", |p| json!(p.id)),
    ("product_name", |p| json!(p.name)),
    ("product_description", |p| json!(p.description)),
    ("product_price", |p| json!(p.price)),
    ("product_sold_count", |p| json!(p.sold)),
    ("product_review_count", |p| json!(p.reviews.len())),
    ("product_rating", |p| json!(p.rating())),
    ("product_rating_1_count", |p| json!(p.ratings[0])),
    ("product_rating_2_count", |p| json!(p.ratings[1])),
    ("product_rating_3_count", |p| json!(p.ratings[2])),
    ("product_rating_4_count", |p| json!(p.ratings[3])),
    ("product_rating_5_count", |p| json!(p.ratings[4])),
];

/// A review with the product it is about.
pub type ReviewOf<'a> = (&'a Product, &'a Review);

/// The review endpoint's fields.
#[allow(clippy::type_complexity)]
pub const REVIEW_FIELDS: &[(&str, fn(&ReviewOf<'_>) -> Value)] = &[
    ("product_name", |(p, _)| json!(p.name)),
    ("review_text", |(_, r)| json!(r.text)),
    ("display_name", |(_, r)| json!(r.display_name)),
    ("review_like_count", |(_, r)| json!(r.likes)),
    ("create_time", |(_, r)| json!(r.create_time)),
    ("review_rating", |(_, r)| json!(r.rating)),
];

/// The names in a field table: what a caller may ask for.
pub fn field_names<F>(fields: &[(&'static str, F)]) -> Vec<&'static str> {
    fields.iter().map(|(name, _)| *name).collect()
}

/// `item` with only the `wanted` fields of `fields`.
fn pick<T, F: Fn(&T) -> Value>(fields: &[(&str, F)], item: &T, wanted: &[String]) -> Value {
    Value::Object(
        fields
            .iter()
            .filter(|(name, _)| wanted.iter().any(|w| w == name))
            .map(|(name, value)| ((*name).to_owned(), value(item)))
            .collect(),
    )
}

impl Shop {
    /// The shop with only `fields`.
    pub fn to_json(&self, fields: &[String]) -> Value {
        pick(SHOP_FIELDS, self, fields)
    }
}

impl Product {
    /// The count-weighted average rating, one decimal; 0 without ratings.
    fn rating(&self) -> f64 {
        let total: u64 = self.ratings.iter().sum();
        let weighted: u64 = self
            .ratings
            .iter()
            .enumerate()
            .map(|(i, c)| (i as u64 + 1) * c)
            .sum();
        if total == 0 {
            0.0
        } else {
            (weighted as f64 / total as f64 * 10.0).round() / 10.0
        }
    }

    /// The product with only `fields`.
    pub fn to_json(&self, fields: &[String]) -> Value {
        pick(PRODUCT_FIELDS, self, fields)
    }
}

impl Review {
    /// The review with only `fields`.
    pub fn to_json(&self, product: &Product, fields: &[String]) -> Value {
        pick(REVIEW_FIELDS, &(product, self), fields)
    }
}

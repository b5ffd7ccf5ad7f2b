//! The search loop both providers share: neither API filters by keyword, so a
//! search reads the shop's listing page by page within the page budget, keeps
//! the products that match, and says where the next search continues. What a
//! page is, how it is asked for and how a position is written in `nextCursor`
//! stay with each provider.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tokio::time::Instant;

use super::Session;
use crate::error::Error;

/// A place in an upstream listing: a page, and how many of its items were
/// already read there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Position<P> {
    /// Where the page starts, as the upstream API names it.
    pub page: P,
    /// Items of that page already read.
    pub skip: usize,
}

impl<P> Position<P> {
    /// The start of `page`.
    pub fn at(page: P) -> Self {
        Self { page, skip: 0 }
    }
}

/// One upstream listing page.
pub(super) struct UpstreamPage<T, P> {
    /// Its items, in listing order.
    pub items: Vec<T>,
    /// The page after it; `None` at the end of the listing.
    pub next: Option<P>,
}

/// A listing the search reads: one upstream call per page.
pub(super) trait Listing {
    /// What a page lists.
    type Item;
    /// Where a page starts (a page number, a page token).
    type Page: Clone;

    /// The page at `page`; `Ok(None)` when the upstream ends the listing there.
    async fn page(
        &self,
        conn: &mut (dyn Session + '_),
        page: &Self::Page,
        deadline: Instant,
    ) -> Result<Option<UpstreamPage<Self::Item, Self::Page>>, Error>;
}

/// How much a search reads and keeps.
pub(super) struct Wanted<F> {
    /// Matches wanted.
    pub count: usize,
    /// `true`: stop at the `count`-th match, mid-page if need be (the next
    /// search resumes within that page); `false`: keep whole pages, checking
    /// the count after each.
    pub exact: bool,
    /// Upstream pages to read at most.
    pub pages: u32,
    /// Whether an item matches.
    pub matches: F,
}

/// What a search found, and where the listing goes on (`None` at its end).
pub(super) struct Found<T, P> {
    /// The matches, in listing order.
    pub items: Vec<T>,
    /// Where the next search continues.
    pub next: Option<Position<P>>,
}

/// Reads `listing` from `start` until `wanted` is met, the listing ends or
/// `wanted.pages` pages have been read.
pub(super) async fn search<L: Listing>(
    listing: &L,
    conn: &mut (dyn Session + '_),
    start: Position<L::Page>,
    wanted: Wanted<impl Fn(&L::Item) -> bool>,
    deadline: Instant,
) -> Result<Found<L::Item, L::Page>, Error> {
    let mut at = start;
    let mut items = Vec::new();
    let mut pages_read = 0;
    loop {
        let Some(page) = listing.page(conn, &at.page, deadline).await? else {
            return Ok(Found { items, next: None });
        };
        pages_read += 1;
        let read = page.items.len();
        for (index, item) in page.items.into_iter().enumerate().skip(at.skip) {
            if !(wanted.matches)(&item) {
                continue;
            }
            items.push(item);
            if wanted.exact && items.len() >= wanted.count {
                let next = if index + 1 < read {
                    Some(Position {
                        page: at.page,
                        skip: index + 1,
                    })
                } else {
                    page.next.map(Position::at)
                };
                return Ok(Found { items, next });
            }
        }
        let Some(next) = page.next.map(Position::at) else {
            return Ok(Found { items, next: None });
        };
        if items.len() >= wanted.count || pages_read >= wanted.pages {
            return Ok(Found {
                items,
                next: Some(next),
            });
        }
        at = next;
    }
}

/// A `nextCursor` over an upstream that pages by token: `<skip>:<page token>`,
/// base64url (the first page has no token).
pub(super) fn encode_token_cursor(cursor: &Position<Option<String>>) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        cursor.skip,
        cursor.page.as_deref().unwrap_or_default()
    ))
}

/// A cursor [`encode_token_cursor`] wrote, whose skip is at most `max_skip`,
/// or `None`.
pub(super) fn decode_token_cursor(raw: &str, max_skip: usize) -> Option<Position<Option<String>>> {
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (skip, token) = text.split_once(':')?;
    let skip: usize = skip.parse().ok()?;
    if skip > max_skip || token.len() > 2048 {
        return None;
    }
    Some(Position {
        page: (!token.is_empty()).then(|| token.to_owned()),
        skip,
    })
}

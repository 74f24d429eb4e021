//! Reading a stream's history from a position, page by page, as an async [`Stream`].

use std::sync::Arc;

use futures_util::Stream;

use super::ClientError;
use crate::event::Position;
use crate::store::{Direction, EventStore, Read, StoredEvent};

/// Events per store read while walking a history.
const PAGE: usize = 1_000;

/// Every event of `stream` after `from` (all of them with `None`), oldest first, until the
/// end of the stream as it is when the walk reaches it. Reads one page at a time, so a long
/// history is never held in memory at once.
pub(super) fn history(
    store: Arc<dyn EventStore>,
    stream: String,
    from: Option<Position>,
    subject: Option<String>,
) -> impl Stream<Item = Result<StoredEvent, ClientError>> + Send + 'static {
    struct Walk {
        store: Arc<dyn EventStore>,
        stream: String,
        subject: Option<String>,
        cursor: Option<Position>,
        page: std::vec::IntoIter<StoredEvent>,
        done: bool,
    }
    let walk = Walk {
        store,
        stream,
        subject,
        cursor: from,
        page: Vec::new().into_iter(),
        done: false,
    };
    futures_util::stream::unfold(walk, |mut walk| async move {
        loop {
            if let Some(stored) = walk.page.next() {
                return Some((Ok(stored), walk));
            }
            if walk.done {
                return None;
            }
            let read = Read {
                from: walk.cursor,
                direction: Direction::Forward,
                limit: PAGE,
                subject: walk.subject.clone(),
            };
            match walk.store.read(&walk.stream, read).await {
                Ok(page) => {
                    walk.done = page.len() < PAGE;
                    walk.cursor = page.last().map(|s| s.position).or(walk.cursor);
                    walk.page = page.into_iter();
                }
                Err(error) => {
                    // One error ends the walk: the caller resumes from the last position seen.
                    walk.done = true;
                    return Some((Err(error.into()), walk));
                }
            }
        }
    })
}

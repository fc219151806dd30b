//! `/_mock/journal`: read the request journal (filtered by endpoint, path, time, sequence number
//! and credential; newest `limit` entries) and clear it.

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::{R, ok};
use crate::clock::wall_millis;
use crate::state::AppState;

/// `GET /_mock/journal` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JournalQuery {
    /// Only this named endpoint.
    #[serde(default)]
    endpoint: Option<String>,
    /// Only paths starting with this.
    #[serde(default)]
    path: Option<String>,
    /// Only entries at or after this wall-clock time (ms since the epoch).
    #[serde(default)]
    since_ms: Option<u64>,
    /// Only entries with a sequence number at or after this.
    #[serde(default)]
    since_seq: Option<u64>,
    /// Only this credential mode.
    #[serde(default)]
    credential: Option<String>,
    /// At most this many (the newest); default 1000.
    #[serde(default)]
    limit: Option<usize>,
}

/// One page of the journal, serialized straight from the store (no copy of the entries).
#[derive(serde::Serialize)]
struct JournalPage<'a> {
    entries: Vec<&'a crate::store::JournalEntry>,
    next_seq: u64,
    now_ms: u64,
}

pub(super) async fn journal(State(st): State<AppState>, Query(q): Query<JournalQuery>) -> R {
    let store = st.store();
    let mut entries: Vec<_> = store
        .journal()
        .filter(|e| q.endpoint.as_deref().is_none_or(|x| e.endpoint == x))
        .filter(|e| q.path.as_deref().is_none_or(|p| e.path.starts_with(p)))
        .filter(|e| q.since_ms.is_none_or(|t| e.time_ms >= t))
        .filter(|e| q.since_seq.is_none_or(|s| e.seq >= s))
        .filter(|e| q.credential.as_deref().is_none_or(|c| e.credential == c))
        .collect();
    let limit = q.limit.unwrap_or(1000);
    if entries.len() > limit {
        entries.drain(..entries.len() - limit);
    }
    let page = JournalPage {
        entries,
        next_seq: store.next_seq(),
        now_ms: wall_millis(),
    };
    Ok(axum::Json(page).into_response())
}

pub(super) async fn clear_journal(State(st): State<AppState>) -> R {
    let mut store = st.store();
    let n = store.clear_journal();
    ok(json!({ "cleared": n, "next_seq": store.next_seq() }))
}

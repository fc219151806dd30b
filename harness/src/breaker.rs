//! The run's circuit breaker: a server that dies (or starts hanging) mid-run turns the remaining
//! scenarios into one verdict — "the server stopped answering at scenario X" — instead of one
//! timeout per request of every scenario left.
//!
//! Every exchange with the server under test reports to it ([`Breaker::observe`]). After
//! [`TRIP_AFTER`] exchanges in a row that got no answer because the server is gone (refused,
//! reset, connect or headers timeout — not a slow body, not an HTTP error), or at once after a
//! headers timeout (that request already waited the scenarios' whole headers bound), it
//! re-checks once with a request of its own: an answer of any HTTP status resets the count (those were requests
//! the server could not handle, the scenarios' own failures); no answer trips it. The re-check
//! waits at most [`http::PREFLIGHT_HEADERS`] for the headers (a server that left three requests
//! in a row unanswered gets 10 s to answer a ping, not the scenarios' longer bound). Once
//! tripped, every request fails at once without being sent ([`Breaker::stopped`]), and the ones
//! still waiting for an answer give up at once ([`Breaker::tripped`]).

use std::sync::Mutex;

use crate::http::{self, NoAnswer, Timeouts};

/// Consecutive "server gone" exchanges before the re-check.
pub const TRIP_AFTER: u32 = 3;

/// Why and where the server stopped answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// The scenario (or "the probe") whose request was the first of the failing streak.
    pub at: String,
    /// What the re-check got (one line).
    pub why: String,
}

#[derive(Debug, Default)]
struct State {
    /// Exchanges in a row without an answer.
    streak: u32,
    /// Who sent the first of them.
    first: Option<String>,
    /// Set once tripped; never cleared (a run does not resume against a dead server).
    stopped: Option<Stopped>,
}

/// One per run (shared by every scenario's client).
#[derive(Debug)]
pub struct Breaker {
    /// The MCP endpoint the re-check asks.
    url: String,
    /// The re-check's bounds (the run's).
    timeouts: Timeouts,
    state: Mutex<State>,
    /// One re-check at a time; the others wait for its verdict.
    recheck: tokio::sync::Mutex<()>,
    /// `true` once tripped: wakes the requests still in flight.
    tripped: tokio::sync::watch::Sender<bool>,
}

impl Breaker {
    /// A breaker for the server at `url`; the re-check has the run's `timeouts`, its headers
    /// bound at most [`http::PREFLIGHT_HEADERS`].
    pub fn new(url: &str, timeouts: Timeouts) -> Breaker {
        Breaker {
            url: url.to_string(),
            timeouts: timeouts.for_preflight(false),
            state: Mutex::new(State::default()),
            recheck: tokio::sync::Mutex::new(()),
            tripped: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Resolves once the breaker trips (never, if it does not): a request in flight races its
    /// answer against this and gives up when the run has stopped.
    pub async fn tripped(&self) {
        let mut rx = self.tripped.subscribe();
        // Err only if the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|t| *t).await;
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tripped?
    pub fn stopped(&self) -> Option<Stopped> {
        self.state().stopped.clone()
    }

    /// The one line a tripped breaker stands for.
    pub fn message(&self) -> Option<String> {
        self.stopped().map(|s| stopped_line(&self.url, &s))
    }

    /// Record how an exchange sent by `who` ended: `None` = an HTTP answer came.
    pub async fn observe(&self, who: &str, failure: Option<&NoAnswer>) {
        let due = {
            let mut st = self.state();
            if st.stopped.is_some() {
                return;
            }
            match failure {
                Some(f) if f.server_gone() => {
                    st.streak += 1;
                    if st.first.is_none() {
                        st.first = Some(who.to_string());
                    }
                    st.streak >= TRIP_AFTER || matches!(f, NoAnswer::HeadersTimeout(_))
                }
                _ => {
                    st.streak = 0;
                    st.first = None;
                    false
                }
            }
        };
        if due {
            self.recheck().await;
        }
    }

    async fn recheck(&self) {
        let _one = self.recheck.lock().await;
        {
            let st = self.state();
            if st.stopped.is_some() || st.streak == 0 {
                return; // another re-check decided meanwhile
            }
        }
        let req = http::client(&self.timeouts)
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        let answer = http::send(req, &self.timeouts).await;
        let mut st = self.state();
        match answer {
            Ok(_) => {
                st.streak = 0;
                st.first = None;
            }
            Err(e) => {
                st.stopped = Some(Stopped {
                    at: st.first.clone().unwrap_or_else(|| "?".into()),
                    why: e.describe(),
                });
                drop(st);
                self.tripped.send_replace(true);
            }
        }
    }
}

/// `http://…/mcp: the server stopped answering at scenario "X" (no response within 10 s — …)`.
pub fn stopped_line(url: &str, s: &Stopped) -> String {
    let at = if s.at == PROBE {
        "during the probe, before any scenario".to_string()
    } else {
        format!("at scenario \"{}\"", s.at)
    };
    format!(
        "{url}: the server stopped answering {at}: {} (the remaining scenarios were not run)",
        s.why
    )
}

/// The name the probe's requests go by.
pub const PROBE: &str = "the probe";

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn gone() -> NoAnswer {
        NoAnswer::Refused("connection refused".into())
    }

    #[tokio::test]
    async fn trips_after_a_streak_and_a_failed_recheck_and_names_the_first_scenario() {
        // Nothing listens on this port (bound, then dropped).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let url = format!("http://127.0.0.1:{port}/mcp");
        let b = Breaker::new(&url, Timeouts::uniform(Duration::from_secs(2)));
        b.observe("A", Some(&gone())).await;
        b.observe("B", None).await;
        assert!(b.stopped().is_none());
        b.observe("C", Some(&gone())).await;
        b.observe("D", Some(&gone())).await;
        assert!(b.stopped().is_none(), "two in a row is not a streak yet");
        // A body timeout is no sign the server is gone.
        b.observe(
            "E",
            Some(&NoAnswer::NotHttp("x".into())), // not counted, and breaks the streak
        )
        .await;
        b.observe("F", Some(&gone())).await;
        b.observe("G", Some(&gone())).await;
        b.observe("H", Some(&gone())).await;
        let s = b.stopped().expect("tripped");
        assert_eq!(s.at, "F");
        let line = b.message().unwrap_or_default();
        assert!(
            line.starts_with(&url) && line.contains("at scenario \"F\""),
            "{line}"
        );
    }

    /// A server that answers every request 401: alive.
    async fn answering_401() -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", l.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            while let Ok((mut s, _)) = l.accept().await {
                let mut b = [0u8; 4096];
                let _ = s.read(&mut b).await;
                let _ = s
                    .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        url
    }

    #[tokio::test]
    async fn a_server_that_answers_the_recheck_keeps_the_run_going() {
        let url = answering_401().await;
        let b = Breaker::new(&url, Timeouts::uniform(Duration::from_secs(2)));
        for who in ["A", "B", "C", "D"] {
            b.observe(who, Some(&gone())).await;
        }
        assert!(b.stopped().is_none(), "the re-check got an answer");
    }

    #[tokio::test]
    async fn one_headers_timeout_against_a_hanging_server_trips_and_wakes_waiting_requests() {
        // Accepts, reads, never answers.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", l.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let b = std::sync::Arc::new(Breaker::new(
            &url,
            Timeouts::uniform(Duration::from_millis(300)),
        ));
        let waiting = {
            let b = b.clone();
            tokio::spawn(async move { b.tripped().await })
        };
        b.observe(
            "A",
            Some(&NoAnswer::HeadersTimeout(Duration::from_millis(300))),
        )
        .await;
        let s = b.stopped().expect("tripped after one headers timeout");
        assert_eq!(s.at, "A");
        assert!(s.why.contains("no response within"), "{}", s.why);
        // A request still in flight hears of it (bounded: a hang here fails the test).
        tokio::time::timeout(Duration::from_secs(60), waiting)
            .await
            .expect("tripped() resolves once the breaker trips")
            .expect("the waiting task ended");
    }

    #[tokio::test]
    async fn a_headers_timeout_the_recheck_answers_does_not_trip() {
        let url = answering_401().await;
        let b = Breaker::new(&url, Timeouts::uniform(Duration::from_secs(2)));
        b.observe(
            "A",
            Some(&NoAnswer::HeadersTimeout(Duration::from_secs(30))),
        )
        .await;
        assert!(
            b.stopped().is_none(),
            "one slow request of a live server is that scenario's failure"
        );
    }
}

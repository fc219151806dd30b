#!/usr/bin/env bash
# Load check of mock-as (release build): 64 concurrent clients, each on its own keep-alive
# connection, send mixed traffic for 20 s — discovery, JWKS, client_credentials token,
# introspection, connection-token fetch with a user's MCP token. Passes when every response is a
# 200 with the expected body and the journal accounts for every request (next_seq advanced by
# the number answered, retained entries contiguous, all 200/ok). Prints p50/p99 per kind.
#
#   bash ci/load.sh [--clients N] [--seconds S] [--only KIND]
#
# mock-as is the release build (the README's `cargo run --release -p mock-as`, so CI builds it
# once); the load client is built in the dev profile, which reuses what `cargo test` built —
# the check is that every answer is right under load, and the p50/p99 it prints are of a
# release server driven by a debug client (ci/bench.sh measures with both optimised).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release -q -p mock-as </dev/null
cargo bench -q --profile dev -p harness --bench load -- "$@" </dev/null

//! The requirement tags every scenario carries: items 1-53 of the checklist in
//! shared/reference/mcp-server-auth.md §7 and Descope's connection model C1-C8 (README
//! "Reference server"). A test checks that each has at least one scenario.

/// Every requirement tag the feature files must cover.
pub fn all_requirements() -> Vec<String> {
    let mut v: Vec<String> = (1..=53).map(|n| format!("req-{n}")).collect();
    v.extend((1..=8).map(|n| format!("req-C{n}")));
    v
}

/// The requirement tags present in the feature files under `dir`, with their levels.
pub fn tags_in(dir: &std::path::Path) -> std::io::Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "feature"))
    {
        let text = std::fs::read_to_string(&p)?;
        let mut pending: Vec<String> = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('@') {
                pending.extend(
                    line.split_whitespace()
                        .map(|t| t.trim_start_matches('@').to_string()),
                );
            } else if line.starts_with("Scenario") {
                if let Some(req) = pending.iter().find(|t| t.starts_with("req-")) {
                    out.push((req.clone(), pending.clone()));
                }
                pending.clear();
            } else if !line.is_empty() && !line.starts_with('#') {
                pending.clear();
            }
        }
    }
    Ok(out)
}

//! The documentation holds together: every relative link in every README (and the other
//! Markdown under the repository) resolves — the file exists and, with a `#fragment`, one of its
//! headings has that anchor; no file cites a path outside the repository, nor names a Markdown
//! file the repository does not have; and
//! `harness/REQUIREMENTS.md` is what `harness::checklist::requirements_markdown` generates
//! (`MCP_AUTHCHECK_WRITE_DOCS=1` rewrites it).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Directories never walked: build output, installed packages, caches.
fn skipped(name: &str) -> bool {
    matches!(
        name,
        "target" | "node_modules" | ".venv" | "venv" | "__pycache__" | ".git"
    )
}

/// Files under `dir` whose name ends with one of `exts`.
fn walk(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            if !skipped(&name) {
                walk(&p, exts, out);
            }
        } else if exts.iter().any(|x| name.ends_with(x)) {
            out.push(p);
        }
    }
}

/// The repository's own files with these extensions (the top-level entries only, as the layout
/// fixes them).
fn repo_files(exts: &[&str]) -> Vec<PathBuf> {
    let r = root();
    let mut out = Vec::new();
    for top in [
        "README.md",
        "mock-as",
        "harness",
        "fixtures",
        "features",
        "ci",
        ".ci",
        "Cargo.toml",
    ] {
        let p = r.join(top);
        if p.is_dir() {
            walk(&p, exts, &mut out);
        } else if exts.iter().any(|x| {
            top.ends_with(x)
                || p.extension()
                    .is_some_and(|e| x.ends_with(&*e.to_string_lossy()))
        }) && p.exists()
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped (hyphens and underscores
/// kept), spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code fences), with GitHub's `-1`, `-2`
/// suffixes for repeats.
fn anchors(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence || !line.starts_with('#') {
            continue;
        }
        let h = line.trim_start_matches('#');
        if !h.starts_with(' ') {
            continue;
        }
        let s = slug(h);
        let n = seen.iter().filter(|x| **x == s).count();
        out.push(if n == 0 {
            s.clone()
        } else {
            format!("{s}-{n}")
        });
        seen.push(s);
    }
    out
}

/// The Markdown links `[text](target)` of a file, outside code fences and inline code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        // Drop inline code spans.
        let mut plain = String::new();
        let mut code = false;
        for c in line.chars() {
            if c == '`' {
                code = !code;
            } else if !code {
                plain.push(c);
            }
        }
        let mut rest = plain.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(j) = after.find(')') else { break };
            out.push(after[..j].trim().to_string());
            rest = &after[j..];
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_documentation_resolves() {
    let mut broken = Vec::new();
    let docs = repo_files(&[".md"]);
    assert!(docs.len() >= 5, "found the READMEs: {docs:?}");
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for l in links(&text) {
            if l.starts_with("http://") || l.starts_with("https://") || l.starts_with("mailto:") {
                continue;
            }
            let (path, frag) = match l.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (l.as_str(), None),
            };
            let target = if path.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(path)
            };
            if !target.exists() {
                broken.push(format!("{}: {l} (no such file)", doc.display()));
                continue;
            }
            if let Some(f) = frag
                && target.extension().is_some_and(|e| e == "md")
                && !anchors(&std::fs::read_to_string(&target).unwrap()).contains(&f.to_string())
            {
                broken.push(format!("{}: {l} (no heading #{f})", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn no_file_cites_a_path_outside_the_repository() {
    let mut bad = Vec::new();
    for f in repo_files(&[
        ".rs", ".md", ".toml", ".sh", ".feature", ".py", ".mjs", ".js", ".ts", ".yml", ".yaml",
    ]) {
        // This file names the pattern it looks for.
        if f.ends_with("harness/tests/docs.rs") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if line.contains("shared/reference") || line.contains("../shared/") {
                bad.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "citations of files outside the repository (cite harness/REQUIREMENTS.md or the spec's URL):\n{}",
        bad.join("\n")
    );
}

/// The Markdown file names a text mentions (`DESCOPE.md`, `harness/REQUIREMENTS.md`): runs of
/// path characters ending in `.md`, URLs left out.
fn md_mentions(line: &str) -> Vec<String> {
    let path_char = |c: char| c.is_ascii_alphanumeric() || "_./:-".contains(c);
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut from = 0;
    while let Some(i) = line[from..].find(".md") {
        let end = from + i + 3;
        from = end;
        if b.get(end)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            continue;
        }
        let start = line[..end - 3]
            .char_indices()
            .rev()
            .take_while(|(_, c)| path_char(*c))
            .last()
            .map_or(end - 3, |(j, _)| j);
        let word = line[start..end].trim_start_matches([':', '.', '/']);
        if word.len() > 3 && !word.contains("://") {
            out.push(word.to_string());
        }
    }
    out
}

/// Markdown files the tools write (reports, the benchmark table), not files of the repository.
const WRITTEN: [&str; 4] = ["summary.md", "step-summary.md", "perf.md", "interop.md"];

#[test]
fn every_markdown_file_a_file_mentions_is_in_the_repository() {
    let names: std::collections::HashSet<String> = repo_files(&[".md"])
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .collect();
    let mut bad = Vec::new();
    for f in repo_files(&[
        ".rs", ".md", ".toml", ".sh", ".feature", ".py", ".mjs", ".cjs", ".js", ".ts", ".yml",
        ".yaml", ".txt",
    ]) {
        // This file's own tests name made-up files.
        if f.ends_with("harness/tests/docs.rs") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for m in md_mentions(line) {
                let base = m.rsplit('/').next().unwrap_or(&m);
                if !names.contains(base) && !WRITTEN.contains(&base) {
                    bad.push(format!("{}:{}: {m}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "mentions of Markdown files that are not in the repository (cite mock-as/DESCOPE.md, \
         harness/REQUIREMENTS.md or a public URL):\n{}",
        bad.join("\n")
    );
}

#[test]
fn md_mentions_finds_file_names_and_skips_urls() {
    assert_eq!(
        md_mentions("see mock-as/DESCOPE.md §4.1 and (README.md#x), not https://x.io/a/B.md"),
        vec!["mock-as/DESCOPE.md", "README.md"]
    );
    assert!(md_mentions("a .md file; x.mdx").is_empty());
}

#[test]
fn the_requirements_file_is_generated_from_the_checklist() {
    let features = root().join("features");
    let want = harness::checklist::requirements_markdown(&features).unwrap();
    let path = root().join("harness/REQUIREMENTS.md");
    if std::env::var_os("MCP_AUTHCHECK_WRITE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "harness/REQUIREMENTS.md is not what the checklist generates; run \
         MCP_AUTHCHECK_WRITE_DOCS=1 cargo test -p harness --test docs"
    );
    // Every item has a line with its text, a level and a source.
    for req in harness::checklist::all_requirements() {
        let n = req.trim_start_matches("req-");
        let line = want
            .lines()
            .find(|l| l.starts_with(&format!("| {n} |")))
            .unwrap_or_else(|| panic!("{req} has no line"));
        assert!(
            line.contains("MUST") || line.contains("SHOULD") || line.contains("MAY"),
            "{line}"
        );
        assert!(line.contains("]("), "{req} names no source: {line}");
    }
}

#[test]
fn anchors_and_links_are_read_as_github_does() {
    assert_eq!(slug(" Point it at your server"), "point-it-at-your-server");
    assert_eq!(
        slug(" Control API (`/_mock/`, mock-only)"),
        "control-api-_mock-mock-only"
    );
    let a = anchors("# A\n## B\n```\n# not\n```\n## B\n");
    assert!(a.contains(&"b-1".to_string()) && !a.contains(&"not".to_string()));
    assert_eq!(
        links("see [x](a.md#b) and `[y](nope)` and [z](https://e)"),
        vec!["a.md#b", "https://e"]
    );
}

//! Every checklist item (1-53) and every Descope connection item (C1-C10) has a scenario, and
//! every scenario carries exactly one requirement tag, a level and a revision.
#![allow(clippy::unwrap_used)]

use harness::checklist::{all_requirements, tags_in};
use harness::runner::features_dir;

#[test]
fn every_requirement_has_a_scenario() {
    let found = tags_in(&features_dir()).unwrap();
    let missing: Vec<String> = all_requirements()
        .into_iter()
        .filter(|r| !found.iter().any(|(t, _)| t == r))
        .collect();
    assert!(
        missing.is_empty(),
        "requirements without a scenario: {missing:?}"
    );
}

#[test]
fn every_scenario_is_tagged_completely() {
    for (req, tags) in tags_in(&features_dir()).unwrap() {
        let reqs = tags.iter().filter(|t| t.starts_with("req-")).count();
        assert_eq!(
            reqs, 1,
            "{req}: exactly one requirement tag per scenario, got {tags:?}"
        );
        let levels = tags
            .iter()
            .filter(|t| matches!(t.as_str(), "must" | "should" | "may"))
            .count();
        assert_eq!(
            levels, 1,
            "{req}: exactly one of @must/@should/@may, got {tags:?}"
        );
        assert!(
            tags.iter()
                .any(|t| t.starts_with("since-") || t.starts_with("until-")),
            "{req}: needs @since-<rev> or @until-<rev>, got {tags:?}"
        );
        assert!(
            all_requirements().contains(&req),
            "{req} is not a checklist item"
        );
    }
}

#[test]
fn every_requirement_has_a_text() {
    use harness::checklist::{ITEM_TEXT, item_text};
    for req in all_requirements() {
        assert!(item_text(&req).is_some(), "{req} has no ITEM_TEXT line");
    }
    assert_eq!(
        ITEM_TEXT.len(),
        all_requirements().len(),
        "one text per item"
    );
}

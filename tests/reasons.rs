//! The reason codes: every code the edge can write is listed in the README, the table there is
//! generated from [`Reason::ALL`] (so it cannot drift), and every code is used by the crate.
//!
//! Regenerate the README table: `UPDATE_README=1 cargo test --test reasons`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use edge_auth::reason::{readme_table, Reason};

const BEGIN: &str = "<!-- reasons:begin (generated from src/reason.rs: UPDATE_README=1 cargo test --test reasons) -->\n";
const END: &str = "<!-- reasons:end -->";

fn readme_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

#[test]
fn the_readme_lists_every_reason_code() {
    let path = readme_path();
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(BEGIN)
        .expect("README has the reasons:begin marker")
        + BEGIN.len();
    let end = start
        + readme[start..]
            .find(END)
            .expect("README has the reasons:end marker");
    let want = readme_table();
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{}{}", &readme[..start], want, &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        want,
        "README's reason table is not what src/reason.rs says: run UPDATE_README=1 cargo test --test reasons"
    );
    // And independently of the generator: each code appears as a table cell.
    for r in Reason::ALL {
        assert!(
            readme[start..end].contains(&format!("| `{}` |", r.as_str())),
            "{r} is not in the README's table"
        );
    }
}

#[test]
fn every_reason_is_used_by_the_crate() {
    // A code in the table that nothing produces would document a refusal that cannot happen.
    let mut sources = String::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("reason.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                // Only the code before a file's unit tests.
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                sources.push_str(code);
            }
        }
    }
    let unused: Vec<String> = Reason::ALL
        .iter()
        .filter(|r| !sources.contains(&format!("Reason::{r:?}")))
        .map(|r| format!("Reason::{r:?} ({r})"))
        .collect();
    assert!(
        unused.is_empty(),
        "never produced outside tests: {unused:?}"
    );
}

#[test]
fn codes_are_unique() {
    let mut codes: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    let n = codes.len();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), n, "two reasons share a code");
    assert!(n >= 100, "{n} codes: the list lost some");
}

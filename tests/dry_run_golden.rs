//! The plan a `up --dry-run -o json` prints, held against golden files for the default
//! cluster, `--cluster-id 10`, `--label foo`, IPv6 and dual-stack. The files were written
//! by the release before the settings/cluster/cli restructuring (issue 16), and the plan
//! of a one-master cluster must not move when features are added around it: a change
//! here is a change every script reading the plan sees.
//!
//! To accept a deliberate change: `DIND_UPDATE_GOLDEN=1 cargo test --test dry_run_golden`
//! and review the diff.

mod support;

use std::path::PathBuf;

const CASES: &[(&str, &[&str])] = &[
    ("default", &[]),
    ("id10", &["--cluster-id", "10"]),
    ("label-foo", &["--label", "foo"]),
    ("ipv6", &["--ip-mode", "ipv6"]),
    ("dual", &["--ip-mode", "dual-stack"]),
];

fn golden(case: &str) -> PathBuf {
    support::workspace().join(format!("tests/golden/dry-run/{case}.json"))
}

#[test]
fn dry_run_plans_match_the_golden_files_in_both_plugins() {
    let update = std::env::var("DIND_UPDATE_GOLDEN").as_deref() == Ok("1");
    let mut differing = Vec::new();
    for (case, extra) in CASES {
        for plugin in ["kubectl-dind", "docker-dind"] {
            let mut args = vec!["up", "--dry-run", "-o", "json"];
            args.extend_from_slice(extra);
            let printed = support::run_ok(plugin, &args, &[]);
            if update {
                std::fs::write(golden(case), &printed).expect("golden file is writable");
                continue;
            }
            let expected = std::fs::read_to_string(golden(case)).expect("golden file exists");
            if printed != expected {
                differing.push(format!("{plugin} {case}:\n{printed}"));
            }
        }
    }
    assert!(
        differing.is_empty(),
        "dry-run plans differ from tests/golden/dry-run:\n{}",
        differing.join("\n")
    );
}

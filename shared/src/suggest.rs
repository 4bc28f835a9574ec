//! "Did you mean …?": the known names closest to one a user mistyped (a node name, a
//! config-file key), by edit distance.

/// The candidates nearest to `typed` (fewest single-character insertions, deletions
/// and substitutions), when they are near enough to be a typo: at most a third of the
/// typed name's length, and at least 1. Several equally near ones are all given, in
/// the order of `candidates`.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (typed.chars().count() / 3).max(1);
    let scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (distance(typed, c), c))
        .filter(|(d, _)| *d <= limit)
        .collect();
    let best = scored.iter().map(|(d, _)| *d).min();
    scored
        .into_iter()
        .filter(|(d, _)| Some(*d) == best)
        .map(|(_, c)| c)
        .collect()
}

/// Levenshtein distance, over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        let table = [
            ("", "", 0),
            ("abc", "abc", 0),
            ("ip-mod", "ip-mode", 1),
            ("kube-node-3", "kube-node-2", 1),
            ("kitten", "sitting", 3),
            ("", "abc", 3),
        ];
        for (a, b, d) in table {
            assert_eq!(distance(a, b), d, "{a} {b}");
            assert_eq!(distance(b, a), d, "{b} {a}");
        }
    }

    #[test]
    fn only_near_names_are_suggested() {
        let nodes = ["kube-master", "kube-node-1", "kube-node-2"];
        let table: [(&str, &[&str]); 5] = [
            ("kube-node-3", &["kube-node-1", "kube-node-2"]),
            ("kube-node2", &["kube-node-2"]),
            ("kube-mster", &["kube-master"]),
            ("registry", &[]),
            ("ip-mod", &[]),
        ];
        for (typed, expected) in table {
            assert_eq!(closest(typed, nodes), expected, "{typed}");
        }
        assert_eq!(
            closest("ip-mod", ["ip-mode", "image", "nodes"]),
            ["ip-mode"]
        );
    }
}

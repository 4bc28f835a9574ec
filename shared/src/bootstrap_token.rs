//! The bootstrap token a cluster's workers join with: random for every cluster, so no
//! one who can reach an API server can join it with a token read in the sources.
//!
//! kubeadm's form is `[a-z0-9]{6}.[a-z0-9]{16}`: a public ID and a secret
//! (kubernetes staging/src/k8s.io/cluster-bootstrap/token/api/types.go,
//! `BootstrapTokenPattern`). The value
//! reaches nodes only inside the kubeadm configuration file, never in argv, labels or
//! logs: `Debug` hides it.

use anyhow::anyhow;
use std::fmt;

/// The characters kubeadm allows in a token.
const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A bootstrap token, `<id>.<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken(String);

impl BootstrapToken {
    /// A fresh token from the operating system's random source.
    pub fn random() -> anyhow::Result<BootstrapToken> {
        let mut token = String::with_capacity(23);
        let mut bytes = [0u8; 64];
        while token.len() < 23 {
            getrandom::fill(&mut bytes)
                .map_err(|e| anyhow!("reading random bytes for a bootstrap token: {e}"))?;
            // 252 = 7 * 36: taking only bytes below it keeps every character equally likely.
            for byte in bytes.iter().filter(|b| **b < 252) {
                if token.len() == 6 {
                    token.push('.');
                }
                if token.len() == 23 {
                    break;
                }
                token.push(char::from(ALPHABET[usize::from(*byte % 36)]));
            }
        }
        Ok(BootstrapToken(token))
    }

    /// A token printed by `kubeadm token create`, if it has kubeadm's form.
    pub fn parse(text: &str) -> Option<BootstrapToken> {
        let (id, secret) = text.split_once('.')?;
        let valid = |part: &str, len: usize| {
            part.len() == len
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        (valid(id, 6) && valid(secret, 16)).then(|| BootstrapToken(text.to_string()))
    }

    /// The whole token, for the kubeadm configuration file only.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BootstrapToken(<hidden>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_have_kubeadms_form_and_differ() {
        let tokens: Vec<BootstrapToken> =
            (0..50).map(|_| BootstrapToken::random().unwrap()).collect();
        for token in &tokens {
            assert_eq!(BootstrapToken::parse(token.secret()).as_ref(), Some(token));
            assert!(!format!("{token:?}").contains(token.secret()));
        }
        let distinct: std::collections::BTreeSet<&str> =
            tokens.iter().map(|t| t.secret()).collect();
        assert_eq!(distinct.len(), tokens.len());
    }

    #[test]
    fn parsing() {
        let table = [
            ("x1y2z3.a1b2c3d4e5f6g7h8", true),
            ("ABCDEF.0123456789abcdef", false),
            ("abcdef0123456789abcdef", false),
            ("abcde.0123456789abcdef", false),
            ("x1y2z3.a1b2c3d4e5f6g7h8\n", false),
            ("", false),
        ];
        for (text, ok) in table {
            assert_eq!(BootstrapToken::parse(text).is_some(), ok, "{text:?}");
        }
    }
}

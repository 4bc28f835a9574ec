//! How commands print: data on stdout as text, YAML or JSON (`-o`), and text tables.

use anyhow::Context;
use clap::ValueEnum;
use std::io::Write;

/// Output formats for data on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Text,
    Yaml,
    Json,
}

/// Prints `value` on stdout in the chosen format; `text` renders the text form.
pub fn print<T: serde::Serialize>(
    value: &T,
    output: Output,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let rendered = match output {
        Output::Text => text(),
        Output::Yaml => serde_yaml::to_string(value).context("rendering YAML")?,
        Output::Json => serde_json::to_string_pretty(value).context("rendering JSON")? + "\n",
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(rendered.as_bytes())
        .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")
}

/// Left-aligned columns separated by two spaces; cells of any length.
pub fn render_table(rows: &[Vec<String>]) -> String {
    crate::text_table::align(rows, "  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let rows = vec![
            vec!["A".to_string(), "BB".to_string()],
            vec!["CCC".to_string(), "D".to_string()],
        ];
        assert_eq!(render_table(&rows), "A    BB\nCCC  D\n");
    }
}

//! Text tables: left-aligned columns, as `settings`, `nodes` and the dump's listings
//! print them. Cells of any length are padded by hand: `format!("{:<width$}")` panics
//! on widths past 65,535, and a setting or an Event message can be that long.

/// The rows with every column as wide as its widest cell, columns separated by `gap`,
/// each line without trailing blanks and ending in a newline.
pub fn align(rows: &[Vec<String>], gap: &str) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str(gap);
            }
            line.push_str(cell);
            let pad = widths[i].saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(table: &[&[&str]]) -> Vec<Vec<String>> {
        table
            .iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn columns_line_up() {
        let table: &[(&[&[&str]], &str, &str)] = &[
            (&[], "  ", ""),
            (&[&["a", "b"]], "  ", "a  b\n"),
            (
                &[&["NAME", "VALUE"], &["x", "long value"], &["ééé", ""]],
                "  ",
                "NAME  VALUE\nx     long value\nééé\n",
            ),
            (&[&["a", "b", "c"], &["aaa"]], "   ", "a     b   c\naaa\n"),
        ];
        for (input, gap, want) in table {
            assert_eq!(align(&rows(input), gap), *want, "{input:?}");
        }
    }

    #[test]
    fn cells_longer_than_a_format_width_do_not_panic() {
        let long = "x".repeat(70_000);
        let text = align(&rows(&[&["NAME", "VALUE"], &[&long, "v"]]), "  ");
        assert_eq!(text.lines().nth(1).map(str::len), Some(70_000 + 2 + 1));
        assert!(text.starts_with(&format!("NAME{}  VALUE\n", " ".repeat(70_000 - 4))));
    }
}

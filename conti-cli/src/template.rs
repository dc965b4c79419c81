//! Docker's `--format` templates, the subset people write: `{{.Field}}`, `{{.Label "key"}}`,
//! `{{json .}}`, `{{json .Field}}`, literal text, `\t` and `\n`, and a `table` prefix that adds
//! a header row and aligns the columns at the tabs as docker's tabwriter does. Anything else
//! (pipelines, `range`, `if`, functions) is refused by name rather than printed wrong.

use std::fmt::Write as _;

/// A parsed `--format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// `table …`: a header row, then columns aligned.
    table: bool,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
    /// `{{json .}}` (`None`: the whole object) or `{{json .Field}}`.
    Json(Option<Field>),
}

/// What an action reads from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `.Name`.
    Named(String),
    /// `.Label "key"`.
    Label(String),
}

/// One object a template is applied to (a container of `ps`).
pub trait Row {
    /// The value of a field the template was checked against.
    fn field(&self, name: &str) -> String;
    /// The value of a label; empty when it has none.
    fn label(&self, key: &str) -> String;
    /// `{{json .}}`: every field, under docker's names.
    fn json(&self) -> serde_json::Value;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("template: :1:{column}: {message}")]
pub struct TemplateError {
    /// Byte offset of the action's content in the template, as Go counts it.
    column: usize,
    message: String,
}

impl Template {
    /// Parses `text`; every field must be one of `fields` (`what` names the rows in errors,
    /// as Go names the type: `can't evaluate field Foo in type container`).
    pub fn parse(text: &str, fields: &[&str], what: &str) -> Result<Template, TemplateError> {
        let text = text.trim().replace("\\t", "\t").replace("\\n", "\n");
        let (table, body) = match text.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                (true, rest.trim_start())
            }
            _ => (false, text.as_str()),
        };
        // `--format json`: docker's shorthand for one JSON object per line.
        let body = if body == "json" { "{{json .}}" } else { body };
        let mut parts = Vec::new();
        let mut rest = body;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            // Go counts from the action's content, in the template without `table`.
            let column = (body.len() - rest.len()) + start + 2;
            let Some(end) = rest[start..].find("}}") else {
                return Err(TemplateError {
                    column,
                    message: "unclosed action".into(),
                });
            };
            let action = &rest[start + 2..start + end];
            parts.push(parse_action(action, column, fields, what)?);
            rest = &rest[start + end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { table, parts })
    }

    /// Whether the template reads `name` (a costly field is fetched only then).
    pub fn uses(&self, name: &str) -> bool {
        self.parts.iter().any(|part| match part {
            Part::Field(Field::Named(field)) | Part::Json(Some(Field::Named(field))) => {
                field == name
            }
            Part::Json(None) => true,
            _ => false,
        })
    }

    /// The output for `rows`, a line each; with `table`, a header row first (`header` names
    /// each field's column) and the columns aligned.
    pub fn render<R: Row>(&self, rows: &[R], header: &dyn Fn(&Field) -> String) -> String {
        let mut text = String::new();
        if self.table {
            text.push_str(&self.render_with(header, String::new));
            text.push('\n');
        }
        for row in rows {
            let line = self.render_with(|field| value(row, field), || row.json().to_string());
            text.push_str(&line);
            text.push('\n');
        }
        if self.table { align(&text) } else { text }
    }

    fn render_with(&self, field: impl Fn(&Field) -> String, whole: impl Fn() -> String) -> String {
        let mut line = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => line.push_str(text),
                Part::Field(f) => line.push_str(&field(f)),
                Part::Json(None) => line.push_str(&whole()),
                Part::Json(Some(f)) => {
                    let _ = write!(line, "{}", serde_json::Value::String(field(f)));
                }
            }
        }
        line
    }
}

fn value(row: &impl Row, field: &Field) -> String {
    match field {
        Field::Named(name) => row.field(name),
        Field::Label(key) => row.label(key),
    }
}

/// One `{{…}}`: `.Field`, `.Label "key"`, `json .` or `json .Field`.
fn parse_action(
    action: &str,
    column: usize,
    fields: &[&str],
    what: &str,
) -> Result<Part, TemplateError> {
    let error = |message: String| TemplateError { column, message };
    let words: Vec<&str> = action.split_whitespace().collect();
    let field = |word: &str| -> Result<Field, TemplateError> {
        let Some(name) = word.strip_prefix('.') else {
            return Err(error(format!(
                "unsupported action {{{{{action}}}}}: Conti's templates take .Field, \
                 .Label \"key\" and json"
            )));
        };
        if fields.contains(&name) {
            Ok(Field::Named(name.to_string()))
        } else {
            Err(error(format!(
                "executing \"\" at <{word}>: can't evaluate field {name} in type {what}"
            )))
        }
    };
    match words.as_slice() {
        ["json", "."] => Ok(Part::Json(None)),
        ["json", word] => Ok(Part::Json(Some(field(word)?))),
        [".Label", key] => {
            let key = key
                .strip_prefix('"')
                .and_then(|k| k.strip_suffix('"'))
                .ok_or_else(|| error(format!(".Label takes a quoted key, not {key}")))?;
            Ok(Part::Field(Field::Label(key.to_string())))
        }
        [word] => Ok(Part::Field(field(word)?)),
        _ => Err(error(format!(
            "unsupported action {{{{{action}}}}}: Conti's templates take .Field, \
             .Label \"key\" and json"
        ))),
    }
}

/// Columns at the tabs, as docker's tabwriter (minimum width 20, padding 3): every cell but a
/// line's last is padded to its column's width.
fn align(text: &str) -> String {
    const MIN_WIDTH: usize = 20;
    const PADDING: usize = 3;
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|line| line.split('\t').collect())
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        for (column, cell) in cells.iter().enumerate().take(cells.len() - 1) {
            let width = (cell.chars().count() + PADDING).max(MIN_WIDTH);
            match widths.get_mut(column) {
                Some(known) => *known = (*known).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut aligned = String::new();
    for cells in &lines {
        let mut line = String::new();
        for (column, cell) in cells.iter().enumerate() {
            line.push_str(cell);
            if column + 1 < cells.len() {
                let pad = widths[column] - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        aligned.push_str(line.trim_end());
        aligned.push('\n');
    }
    aligned
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    struct Box {
        id: &'static str,
        name: &'static str,
        labels: BTreeMap<&'static str, &'static str>,
    }

    impl Row for Box {
        fn field(&self, name: &str) -> String {
            match name {
                "ID" => self.id.to_string(),
                "Names" => self.name.to_string(),
                _ => String::new(),
            }
        }

        fn label(&self, key: &str) -> String {
            self.labels.get(key).map_or("", |v| v).to_string()
        }

        fn json(&self) -> serde_json::Value {
            serde_json::json!({ "ID": self.id, "Names": self.name })
        }
    }

    const FIELDS: [&str; 3] = ["ID", "Names", "Status"];

    fn rows() -> Vec<Box> {
        vec![
            Box {
                id: "0f3c2a9e5b1d",
                name: "web",
                labels: [("tier", "front")].into(),
            },
            Box {
                id: "9a7f12345678",
                name: "a-much-longer-name-here",
                labels: BTreeMap::new(),
            },
        ]
    }

    fn header(field: &Field) -> String {
        match field {
            Field::Named(name) if name == "ID" => "CONTAINER ID".into(),
            Field::Named(name) => name.to_uppercase(),
            Field::Label(key) => key.to_uppercase(),
        }
    }

    fn render(text: &str) -> String {
        Template::parse(text, &FIELDS, "container")
            .unwrap()
            .render(&rows(), &header)
    }

    #[test]
    fn fields_labels_and_literal_text() {
        assert_eq!(
            render("{{.ID}}: {{ .Names }} [{{.Label \"tier\"}}]"),
            "0f3c2a9e5b1d: web [front]\n9a7f12345678: a-much-longer-name-here []\n"
        );
        assert_eq!(
            render("{{.Names}}\\t{{.ID}}").lines().next(),
            Some("web\t0f3c2a9e5b1d")
        );
        assert_eq!(render("plain"), "plain\nplain\n");
    }

    #[test]
    fn json_is_the_whole_object_or_a_quoted_field() {
        let text = render("{{json .}}");
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["Names"], "web");
        assert_eq!(render("json"), text);
        assert_eq!(render("{{json .Names}}").lines().next(), Some("\"web\""));
    }

    #[test]
    fn tables_have_a_header_and_aligned_columns() {
        assert_eq!(
            render("table {{.ID}}\\t{{.Names}}\\t{{.Label \"tier\"}}"),
            "CONTAINER ID        NAMES                     TIER\n\
             0f3c2a9e5b1d        web                       front\n\
             9a7f12345678        a-much-longer-name-here\n"
        );
        // `tablet` is no table.
        assert!(
            !Template::parse("tablet", &FIELDS, "container")
                .unwrap()
                .table
        );
    }

    #[test]
    fn unknown_fields_and_actions_are_errors_like_gos() {
        let error = |text: &str| {
            Template::parse(text, &FIELDS, "container")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error("{{.Foo}}"),
            "template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type container"
        );
        assert_eq!(
            error("table {{.ID}} {{.Nope}}"),
            "template: :1:10: executing \"\" at <.Nope>: can't evaluate field Nope in type container"
        );
        assert!(error("{{range .Names}}").contains("unsupported action"));
        assert!(error("{{.Names | upper}}").contains("unsupported action"));
        assert!(error("{{.ID").contains("unclosed action"));
        assert!(error("{{.Label tier}}").contains("quoted key"));
    }

    #[test]
    fn uses_says_which_fields_are_read() {
        let template = Template::parse("{{.ID}}", &FIELDS, "container").unwrap();
        assert!(template.uses("ID") && !template.uses("Status"));
        let whole = Template::parse("{{json .}}", &FIELDS, "container").unwrap();
        assert!(whole.uses("Status"));
    }
}

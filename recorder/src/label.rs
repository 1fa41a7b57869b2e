//! Endpoint labels: `--label-rule REGEX=LABEL` rules, and the default `METHOD /templated/path`
//! that turns item ids (numbers, UUIDs, hex digests, `SKU-100045`-like codes, opaque tokens)
//! into `:id`. Shared by normalisation and auth detection (which labels logins the same way).

use regex::Regex;
pub use ringload_http1::url::is_id_like;

use crate::error::RecordError;

/// `--label-rule REGEX=LABEL`: matched against `METHOD path?query`; `$1`... expand captures.
#[derive(Debug, Clone)]
pub struct LabelRule {
    pub regex: Regex,
    pub label: String,
}

impl std::str::FromStr for LabelRule {
    type Err = RecordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (re, label) = s.rsplit_once('=').ok_or_else(|| {
            RecordError::Option(format!("--label-rule {s:?}: expected REGEX=LABEL"))
        })?;
        let regex = compile_regex("--label-rule", re)?;
        Ok(LabelRule {
            regex,
            label: label.to_string(),
        })
    }
}

/// Compile a regular expression given to `flag`; an error is one line (the regex crate draws
/// the expression and a caret on several): the problem and the character it is at.
pub fn compile_regex(flag: &str, re: &str) -> Result<Regex, RecordError> {
    Regex::new(re).map_err(|e| {
        let why = match &e {
            regex::Error::Syntax(text) => {
                let problem = text
                    .lines()
                    .rev()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or("invalid syntax");
                // The caret line: four spaces of indent, then spaces up to the caret.
                let at = text
                    .lines()
                    .find(|l| l.trim_start().starts_with('^'))
                    .and_then(|l| l.find('^'))
                    .map(|i| format!(" at character {}", i.saturating_sub(4) + 1))
                    .unwrap_or_default();
                format!("{problem}{at}")
            }
            regex::Error::CompiledTooBig(n) => {
                format!("the compiled expression would be larger than {n} bytes")
            }
            other => other.to_string().replace('\n', " "),
        };
        RecordError::Option(format!("{flag} {re:?}: {why}"))
    })
}

/// The endpoint label: the first matching `--label-rule`, else `METHOD /templated/path`.
pub fn label_for(method: &str, target: &str, rules: &[LabelRule]) -> String {
    let subject = format!("{method} {target}");
    for r in rules {
        if let Some(caps) = r.regex.captures(&subject) {
            let mut out = String::new();
            caps.expand(&r.label, &mut out);
            return out;
        }
    }
    let path = target.split('?').next().unwrap_or(target);
    let mut label = String::with_capacity(method.len() + path.len() + 1);
    label.push_str(method);
    label.push(' ');
    if path.is_empty() {
        label.push('/');
    }
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            label.push('/');
        }
        label.push_str(if is_id_like(seg) { ":id" } else { seg });
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_template_ids() {
        let l = |m, p| label_for(m, p, &[]);
        assert_eq!(
            l("GET", "/api/v1/products/SKU-100045"),
            "GET /api/v1/products/:id"
        );
        assert_eq!(
            l("GET", "/api/v1/products?category=home&page=1"),
            "GET /api/v1/products"
        );
        assert_eq!(l("GET", "/users/42/orders/7"), "GET /users/:id/orders/:id");
        assert_eq!(
            l("DELETE", "/o/3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
            "DELETE /o/:id"
        );
        assert_eq!(l("GET", "/blob/deadbeefcafe1234"), "GET /blob/:id");
        assert_eq!(l("GET", "/api/v1/health"), "GET /api/v1/health");
        assert_eq!(l("GET", "/"), "GET /");
        assert_eq!(l("GET", "/v2/apps"), "GET /v2/apps");
        assert!(!is_id_like("v1"));
        assert!(!is_id_like("checkout"));
        assert!(!is_id_like("cafe"));
    }

    #[test]
    fn label_rules_win_and_expand() {
        let r: LabelRule = r"^GET /api/v1/(\w+)\?.*auth=1=GET $1 (auth)"
            .parse()
            .unwrap();
        assert_eq!(
            label_for("GET", "/api/v1/products?auth=1", &[r]),
            "GET products (auth)"
        );
        assert!("(=x".parse::<LabelRule>().is_err());
    }
}

//! A configuration problem with where it was found: the key path in the document
//! (`visor.policies.edge.handlers.modules.dns`), and when known the file and line. Every
//! way in (config files, environment, flags, admin API bodies, reloads) reports all of its
//! problems at once as a list of these before anything starts.

/// One configuration problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file it came from, when it came from one.
    pub file: Option<String>,
    /// The line of the key in that file, when it could be found.
    pub line: Option<usize>,
    /// Dotted key path (`visor.policies.edge`); empty for the document itself.
    pub path: String,
    /// What is wrong (pktvisor's text where pktvisor has one).
    pub message: String,
}

impl ConfigError {
    /// A problem at `path`.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            line: None,
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same problem, found in `file` (at `line` when known).
    pub fn in_file(mut self, file: &str, line: Option<usize>) -> Self {
        self.file = Some(file.to_string());
        self.line = line;
        self
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            _ => {}
        }
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Several problems, one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The line (1-based) of the key at `path` in block-style YAML `text`: each path part is
/// looked for as `part:` at a deeper indentation than its parent, in order. None when the
/// document is written otherwise (flow style, anchors) and the key cannot be found.
pub fn locate(text: &str, path: &[&str]) -> Option<usize> {
    let mut start = 0usize;
    let mut parent_indent: Option<usize> = None;
    let lines: Vec<&str> = text.lines().collect();
    let mut found = None;
    for part in path {
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if parent_indent.is_some_and(|p| indent <= p) {
                break;
            }
            let key = trimmed.trim_start_matches("- ");
            let matches = key
                .strip_prefix(part)
                .is_some_and(|rest| rest.starts_with(':'))
                || key
                    .strip_prefix(&format!("\"{part}\""))
                    .is_some_and(|rest| rest.starts_with(':'));
            if matches {
                hit = Some((i, indent));
                break;
            }
        }
        let Some((i, indent)) = hit else {
            // a key written inline on its parent's line (`a: {b: 1}`) is on that line
            let parent = found?;
            let line: &str = lines.get(parent - 1).copied()?;
            let inline = [
                format!("{{{part}:"),
                format!(", {part}:"),
                format!("{{ {part}:"),
            ];
            return inline
                .iter()
                .any(|p| line.contains(p.as_str()))
                .then_some(parent);
        };
        found = Some(i + 1);
        start = i + 1;
        parent_indent = Some(indent);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_locate() {
        let text = "visor:\n  taps:\n    a: {input_type: pcap}\n  policies:\n    edge:\n      kind: collection\n      handlers:\n        modules:\n          dns: {type: dns}\n";
        assert_eq!(
            locate(
                text,
                &["visor", "policies", "edge", "handlers", "modules", "dns"]
            ),
            Some(9)
        );
        assert_eq!(locate(text, &["visor", "taps", "a"]), Some(3));
        assert_eq!(locate(text, &["visor", "policies", "nope"]), None);
        assert_eq!(locate(text, &["visor", "taps", "a", "input_type"]), Some(3));
        assert_eq!(locate(text, &["visor", "taps", "a", "config"]), None);
        let e = ConfigError::at("visor.policies.edge", "bad").in_file("a.yaml", Some(5));
        assert_eq!(e.to_string(), "a.yaml:5: visor.policies.edge: bad");
        assert_eq!(ConfigError::at("", "empty data").to_string(), "empty data");
    }
}

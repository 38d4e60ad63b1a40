//! kubectl's JSONPath templates, for `-o jsonpath=TEMPLATE`.
//!
//! The syntax and output of `kubectl get -o jsonpath=…` (client-go's `util/jsonpath`), on the
//! JSON of an object or a list:
//!
//! - text outside braces is printed as is; `{"\n"}` and `{'\t'}` print quoted text (Go escapes);
//! - `{.metadata.name}`, `{['metadata']['name']}`, `{$.kind}` (the `$` and `@` are optional),
//!   `{.metadata.labels.app\.kubernetes\.io/name}` (`\.` for a dot in a key);
//! - `{.items[0]}`, `{.items[-1]}`, `{.items[1:3]}`, `{.items[::2]}`, `{.items[*]}`, `{.spec.*}`;
//! - `{..name}`: every `name` at any depth;
//! - `{.items[0,2]}`, `{.items[*]['metadata.name', 'kind']}`: unions;
//! - `{.status.conditions[?(@.type=="Ready")].status}`: filters with `==`, `!=`, `<`, `>`, `<=`,
//!   `>=`, or `[?(@.reason)]` for "has the field";
//! - `{range .items[*]}{.metadata.name}{"\n"}{end}`: a loop, nestable.
//!
//! The results of one expression are printed separated by spaces: strings as they are, numbers
//! and booleans as text, objects and arrays as compact JSON, `null` as `<nil>`. A missing key
//! prints nothing (kubectl's default `--allow-missing-template-keys=true`); an index out of
//! range or a filter on something that is not an array is an error.
//!
//! ```
//! use kn_vsphere::jsonpath::Template;
//!
//! let list = serde_json::json!({"items": [
//!     {"metadata": {"name": "vc-01"}, "spec": {"address": "https://vc1"}},
//!     {"metadata": {"name": "vc-02"}, "spec": {"address": "https://vc2"}},
//! ]});
//! let t: Template = r#"{range .items[*]}{.metadata.name}{"\t"}{.spec.address}{"\n"}{end}"#
//!     .parse()
//!     .unwrap();
//! assert_eq!(t.render(&list).unwrap(), "vc-01\thttps://vc1\nvc-02\thttps://vc2\n");
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    nodes: Vec<Node>,
}

/// A template that does not parse: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid jsonpath template {template:?}: {message} (at character {position})")]
pub struct ParseError {
    /// The template as given.
    pub template: String,
    /// The character (from 1) where the problem was found.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

/// A template that parsed but cannot be applied to the object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error executing jsonpath {template:?}: {message}")]
pub struct ExecError {
    /// The template as given.
    pub template: String,
    /// What went wrong.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Printed as it is.
    Text(String),
    /// `{…}`: the results, separated by spaces.
    Print(Vec<Step>),
    /// `{range …}…{end}`: the body once per result, with the result as the current object.
    Range { over: Vec<Step>, body: Vec<Node> },
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Wildcard,
    Recursive,
    Slice(Slice),
    Union(Vec<Vec<Step>>),
    Filter(Box<Filter>),
    /// A literal (quoted text, a number, a boolean): replaces the current values.
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Slice {
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
    /// `[n]`: one element (the end is derived from the start).
    single: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Vec<Step>,
    op: Op,
    right: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Exists,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

/// One action as parsed: a keyword, or a path.
enum Action {
    Range(Vec<Step>),
    End,
    Path(Vec<Step>),
}

impl FromStr for Template {
    type Err = ParseError;

    fn from_str(source: &str) -> Result<Self, ParseError> {
        let mut parser = Parser {
            source,
            chars: source.chars().collect(),
            pos: 0,
        };
        let mut stack: Vec<(Vec<Step>, Vec<Node>, usize)> = Vec::new();
        let mut nodes = Vec::new();
        loop {
            let text = parser.text();
            if !text.is_empty() {
                nodes.push(Node::Text(text));
            }
            if parser.at_end() {
                break;
            }
            let opened = parser.pos;
            parser.pos += 1; // `{`
            match parser.action()? {
                Action::Path(steps) => nodes.push(Node::Print(steps)),
                Action::Range(over) => stack.push((over, std::mem::take(&mut nodes), opened)),
                Action::End => match stack.pop() {
                    Some((over, outer, _)) => {
                        let body = std::mem::replace(&mut nodes, outer);
                        nodes.push(Node::Range { over, body });
                    }
                    None => return Err(parser.error_at(opened, "{end} without a {range}")),
                },
            }
        }
        if let Some((_, _, opened)) = stack.pop() {
            return Err(parser.error_at(opened, "{range} without an {end}"));
        }
        Ok(Template {
            source: source.to_owned(),
            nodes,
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Template {
    /// The template applied to `root`.
    pub fn render(&self, root: &Value) -> Result<String, ExecError> {
        let mut out = String::new();
        render(&self.nodes, root, &mut out).map_err(|message| ExecError {
            template: self.source.clone(),
            message,
        })?;
        Ok(out)
    }
}

fn render(nodes: &[Node], current: &Value, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Print(steps) => {
                let results = apply(steps, vec![current])?;
                for (i, r) in results.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    print_value(r, out);
                }
            }
            Node::Range { over, body } => {
                for item in apply(over, vec![current])? {
                    render(body, &item, out)?;
                }
            }
        }
    }
    Ok(())
}

/// A value as kubectl prints it.
fn print_value(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Array(_) | Value::Object(_) => out.push_str(&v.to_string()),
    }
}

/// A result: borrowed from the input, or made by the template (literals).
type Found<'a> = std::borrow::Cow<'a, Value>;

fn apply<'a>(steps: &[Step], input: Vec<&'a Value>) -> Result<Vec<Found<'a>>, String> {
    let mut current: Vec<Found<'a>> = input.into_iter().map(Found::Borrowed).collect();
    for step in steps {
        current = apply_step(step, current)?;
    }
    Ok(current)
}

fn apply_step<'a>(step: &Step, input: Vec<Found<'a>>) -> Result<Vec<Found<'a>>, String> {
    let mut out: Vec<Found<'a>> = Vec::new();
    match step {
        Step::Literal(v) => out = input.iter().map(|_| Found::Owned(v.clone())).collect(),
        Step::Field(name) => {
            for v in input {
                match v {
                    Found::Borrowed(Value::Object(map)) => {
                        if let Some(x) = map.get(name) {
                            out.push(Found::Borrowed(x));
                        }
                    }
                    Found::Owned(Value::Object(mut map)) => {
                        if let Some(x) = map.remove(name) {
                            out.push(Found::Owned(x));
                        }
                    }
                    _ => {}
                }
            }
        }
        Step::Wildcard => {
            for v in input {
                out.extend(children(v));
            }
        }
        Step::Recursive => {
            for v in input {
                descend(v, &mut out);
            }
        }
        Step::Slice(slice) => {
            for v in input {
                if v.is_null() {
                    continue;
                }
                let len = match v.as_ref() {
                    Value::Array(items) => items.len(),
                    other => return Err(format!("{} is not an array", kind(other))),
                };
                let Some(range) = slice.indices(len)? else {
                    continue;
                };
                let picked: Vec<usize> = range.collect();
                match v {
                    Found::Borrowed(Value::Array(items)) => {
                        out.extend(picked.into_iter().map(|i| Found::Borrowed(&items[i])))
                    }
                    Found::Owned(Value::Array(items)) => {
                        out.extend(picked.into_iter().map(|i| Found::Owned(items[i].clone())))
                    }
                    _ => {}
                }
            }
        }
        Step::Union(branches) => {
            for branch in branches {
                let mut current = input.clone();
                for step in branch {
                    current = apply_step(step, current)?;
                }
                out.extend(current);
            }
        }
        Step::Filter(filter) => {
            for v in input {
                let items: Vec<Found<'a>> = match v {
                    Found::Borrowed(Value::Array(items)) => {
                        items.iter().map(Found::Borrowed).collect()
                    }
                    Found::Owned(Value::Array(items)) => {
                        items.into_iter().map(Found::Owned).collect()
                    }
                    other => {
                        return Err(format!(
                            "{} is not an array and cannot be filtered",
                            kind(&other)
                        ));
                    }
                };
                for item in items {
                    if filter.passes(&item)? {
                        out.push(item);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The direct children of an object or array (none for scalars).
fn children(v: Found<'_>) -> Vec<Found<'_>> {
    match v {
        Found::Borrowed(Value::Object(map)) => map.values().map(Found::Borrowed).collect(),
        Found::Borrowed(Value::Array(items)) => items.iter().map(Found::Borrowed).collect(),
        Found::Owned(Value::Object(map)) => map.into_iter().map(|(_, v)| Found::Owned(v)).collect(),
        Found::Owned(Value::Array(items)) => items.into_iter().map(Found::Owned).collect(),
        _ => Vec::new(),
    }
}

/// `..`: every object or array with children, at any depth, parents first (as kubectl).
fn descend<'a>(v: Found<'a>, out: &mut Vec<Found<'a>>) {
    let kids = children(v.clone());
    if kids.is_empty() {
        return;
    }
    out.push(v);
    for k in kids {
        descend(k, out);
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Slice {
    /// The indices picked in an array of `len`, as kubectl computes them (`None`: none).
    fn indices(
        &self,
        len: usize,
    ) -> Result<Option<std::iter::StepBy<std::ops::Range<usize>>>, String> {
        let len = len as i64;
        let mut start = self.start.unwrap_or(0);
        if start < 0 {
            start += len;
        }
        let mut end = match (self.single, self.end) {
            (true, _) => self.start.unwrap_or(0) + 1,
            (false, Some(e)) => e,
            (false, None) => len,
        };
        if end < 0 || (self.single && end == 0) {
            end += len;
        }
        if start == end {
            return Ok(None);
        }
        if start < 0 || start >= len {
            return Err(format!(
                "array index out of bounds: index {start}, length {len}"
            ));
        }
        if end < 0 || end > len {
            return Err(format!(
                "array index out of bounds: index {}, length {len}",
                end - 1
            ));
        }
        if start > end {
            return Err(format!(
                "starting index {start} is greater than ending index {end}"
            ));
        }
        let step = match self.step {
            Some(s) if s <= 0 => return Err("step must be > 0".to_owned()),
            Some(s) => s as usize,
            None => 1,
        };
        Ok(Some((start as usize..end as usize).step_by(step)))
    }
}

impl Filter {
    fn passes(&self, item: &Found<'_>) -> Result<bool, String> {
        let value: &Value = item.as_ref();
        let left = apply(&self.left, vec![value])?;
        if self.op == Op::Exists {
            return Ok(!left.is_empty());
        }
        let right = apply(&self.right, vec![value])?;
        let (left, right) = match (left.as_slice(), right.as_slice()) {
            ([l], [r]) => (l.as_ref(), r.as_ref()),
            ([], _) | (_, []) => return Ok(false),
            _ => return Err("can only compare one element at a time".to_owned()),
        };
        let ordering = compare(left, right);
        Ok(match self.op {
            Op::Exists => true,
            Op::Eq => ordering == Some(Ordering::Equal),
            Op::Ne => ordering != Some(Ordering::Equal),
            Op::Lt => ordering == Some(Ordering::Less),
            Op::Gt => ordering == Some(Ordering::Greater),
            Op::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
            Op::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
        })
    }
}

/// Numbers with numbers, strings with strings, booleans and nulls for equality; else none.
fn compare(l: &Value, r: &Value) -> Option<Ordering> {
    match (l, r) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
        },
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => (a == b).then_some(Ordering::Equal),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => (l == r).then_some(Ordering::Equal),
    }
}

struct Parser<'s> {
    source: &'s str,
    chars: Vec<char>,
    pos: usize,
}

fn is_terminator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
    )
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            template: self.source.to_owned(),
            position: pos + 1,
            message: message.into(),
        }
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos, message)
    }

    /// Text up to the next `{` (or the end).
    fn text(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c != '{') {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// The inside of `{…}`, up to and including the `}`.
    fn action(&mut self) -> Result<Action, ParseError> {
        let start = self.pos;
        let steps = self.steps(&['}'])?;
        if self.peek() != Some('}') {
            return Err(self.error_at(start - 1, "unclosed action: a '{' without its '}'"));
        }
        self.pos += 1;
        Ok(match steps.first() {
            Some(Keyword::Range) => Action::Range(paths(steps.into_iter().skip(1), self, start)?),
            Some(Keyword::End) if steps.len() == 1 => Action::End,
            Some(Keyword::End) => {
                return Err(self.error_at(start, "{end} takes nothing after it"));
            }
            _ => Action::Path(paths(steps.into_iter(), self, start)?),
        })
    }

    /// Steps until one of `stop` (not consumed) or the end.
    fn steps(&mut self, stop: &[char]) -> Result<Vec<Keyword>, ParseError> {
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            if stop.contains(&c) {
                break;
            }
            if self.starts_with("[?(") {
                out.push(Keyword::Step(self.filter()?));
                continue;
            }
            if self.starts_with("..") {
                if matches!(out.last(), Some(Keyword::Step(Step::Recursive))) {
                    return Err(self.error("invalid multiple recursive descent"));
                }
                self.pos += 2;
                out.push(Keyword::Step(Step::Recursive));
                if self
                    .peek()
                    .is_some_and(|c| c == '_' || c.is_alphanumeric() || c == '*')
                {
                    out.push(Keyword::Step(self.field()));
                }
                continue;
            }
            match c {
                ' ' | '$' | '@' => self.pos += 1,
                '\r' | '\n' => return Err(self.error("unclosed action: a line break inside '{…}'")),
                '[' => out.extend(self.bracket()?.into_iter().map(Keyword::Step)),
                '"' | '\'' => {
                    out.push(Keyword::Step(Step::Literal(Value::String(self.quoted(c)?))))
                }
                '.' => {
                    self.pos += 1;
                    out.push(Keyword::Step(self.field()));
                }
                '+' | '-' | '0'..='9' => out.push(Keyword::Step(Step::Literal(self.number()?))),
                c if c == '_' || c.is_alphanumeric() => {
                    let at = self.pos;
                    let word = self.word();
                    out.push(match word.as_str() {
                        "range" => Keyword::Range,
                        "end" => Keyword::End,
                        "true" => Keyword::Step(Step::Literal(Value::Bool(true))),
                        "false" => Keyword::Step(Step::Literal(Value::Bool(false))),
                        other => {
                            return Err(self.error_at(
                                at,
                                format!(
                                    "unrecognized identifier {other:?} (a field starts with '.', e.g. .{other})"
                                ),
                            ));
                        }
                    });
                }
                other => {
                    return Err(self.error(format!("unrecognized character {other:?} in action")));
                }
            }
        }
        Ok(out)
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| !is_terminator(c)) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// A field name after `.` (up to a terminator; `\` escapes the next character).
    fn field(&mut self) -> Step {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                self.pos += 1;
                if let Some(next) = self.peek() {
                    name.push(next);
                    self.pos += 1;
                }
                continue;
            }
            if is_terminator(c) {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        if name == "*" {
            Step::Wildcard
        } else {
            Step::Field(name)
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c == '.' || c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::from(i));
        }
        text.parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| self.error_at(start, format!("cannot parse number {text:?}")))
    }

    /// A quoted string with Go's escapes; the quote character is at the position.
    fn quoted(&mut self, quote: char) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error_at(start, "unterminated quoted string"));
            };
            self.pos += 1;
            match c {
                '\n' => return Err(self.error_at(start, "unterminated quoted string")),
                c if c == quote => return Ok(out),
                '\\' => {
                    let at = self.pos - 1;
                    let Some(e) = self.peek() else {
                        return Err(self.error_at(start, "unterminated quoted string"));
                    };
                    self.pos += 1;
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'v' => out.push('\u{b}'),
                        '\\' | '"' | '\'' => out.push(e),
                        'x' | 'u' | 'U' => {
                            let digits = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String =
                                self.chars.iter().skip(self.pos).take(digits).collect();
                            let ch = (hex.len() == digits)
                                .then(|| u32::from_str_radix(&hex, 16).ok())
                                .flatten()
                                .and_then(char::from_u32)
                                .ok_or_else(|| {
                                    self.error_at(at, format!("invalid escape \\{e}{hex}"))
                                })?;
                            out.push(ch);
                            self.pos += digits;
                        }
                        other => {
                            return Err(self.error_at(at, format!("invalid escape \\{other}")));
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    /// The text up to `close` outside quotes (consumed, not returned); the end of the template
    /// or of the line first is `unterminated` (an error at `open`).
    fn until(
        &mut self,
        close: char,
        open: usize,
        unterminated: &str,
    ) -> Result<String, ParseError> {
        let start = self.pos;
        let mut in_quote = None;
        loop {
            match self.peek() {
                None | Some('\n') => return Err(self.error_at(open, unterminated)),
                Some(q @ ('\'' | '"')) if in_quote.is_none() => in_quote = Some(q),
                Some(q) if Some(q) == in_quote => in_quote = None,
                Some(c) if c == close && in_quote.is_none() => break,
                _ => {}
            }
            self.pos += 1;
        }
        let text = self.chars[start..self.pos].iter().collect();
        self.pos += 1;
        Ok(text)
    }

    /// `[…]`: an index or slice, `*`, `'key'`, or a union of those (comma-separated).
    fn bracket(&mut self) -> Result<Vec<Step>, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        let inner = self.until(']', open, "unterminated '[': no ']'")?;
        let parts = split_outside_quotes(&inner);
        if parts.len() > 1 {
            let mut branches = Vec::new();
            for part in parts {
                branches.push(self.subscript(part.trim(), start)?);
            }
            return Ok(vec![Step::Union(branches)]);
        }
        self.subscript(inner.trim(), start)
    }

    /// One subscript: `*`, `'key'` (a path as after a dot: `'a.b'` is `.a.b`, `'a\.b'` one
    /// key, as kubectl reads it), `n`, `a:b:c`.
    fn subscript(&self, text: &str, at: usize) -> Result<Vec<Step>, ParseError> {
        if text == "*" {
            return Ok(vec![Step::Wildcard]);
        }
        for q in ['\'', '"'] {
            if text.len() >= 2 && text.starts_with(q) && text.ends_with(q) {
                return Ok(key_path(&text[1..text.len() - 1]));
            }
        }
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() > 3 || text.is_empty() {
            return Err(self.error_at(at, format!("invalid array index [{text}]")));
        }
        let number = |s: &str| -> Result<Option<i64>, ParseError> {
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<i64>().map(Some).map_err(|_| {
                self.error_at(
                    at,
                    format!("invalid array index [{text}]: {s:?} is not a number"),
                )
            })
        };
        Ok(vec![Step::Slice(Slice {
            start: number(parts[0])?,
            end: match parts.get(1) {
                Some(p) => number(p)?,
                None => None,
            },
            step: match parts.get(2) {
                Some(p) => number(p)?,
                None => None,
            },
            single: parts.len() == 1,
        })])
    }

    /// `[?(left op right)]` or `[?(path)]`.
    fn filter(&mut self) -> Result<Step, ParseError> {
        let open = self.pos;
        self.pos += 3;
        let start = self.pos;
        let inner = self.until(')', open, "unterminated filter '[?('")?;
        if self.peek() != Some(']') {
            return Err(self.error("a filter ends with ')]'"));
        }
        self.pos += 1;
        let (left, op, right) = split_comparison(&inner);
        let sub = |text: &str| -> Result<Vec<Step>, ParseError> {
            let mut p = Parser {
                source: self.source,
                chars: text.chars().collect(),
                pos: 0,
            };
            let steps = p.steps(&[]).map_err(|e| ParseError {
                position: start + e.position,
                ..e
            })?;
            paths(steps.into_iter(), &p, 0).map_err(|e| ParseError {
                position: start + e.position,
                ..e
            })
        };
        let op = match op {
            None => Op::Exists,
            Some("==") => Op::Eq,
            Some("!=") => Op::Ne,
            Some("<") => Op::Lt,
            Some(">") => Op::Gt,
            Some("<=") => Op::Le,
            Some(">=") => Op::Ge,
            Some(other) => {
                return Err(self.error_at(
                    start,
                    format!("unsupported filter operator {other:?} (use ==, !=, <, >, <= or >=)"),
                ));
            }
        };
        Ok(Step::Filter(Box::new(Filter {
            left: sub(left)?,
            op,
            right: sub(right.unwrap_or(""))?,
        })))
    }
}

/// What a parsed action is made of.
enum Keyword {
    Range,
    End,
    Step(Step),
}

/// The steps of a path (keywords are not allowed in it).
fn paths(
    words: impl Iterator<Item = Keyword>,
    parser: &Parser<'_>,
    at: usize,
) -> Result<Vec<Step>, ParseError> {
    words
        .map(|w| match w {
            Keyword::Step(s) => Ok(s),
            Keyword::Range | Keyword::End => Err(parser.error_at(
                at,
                "range and end go at the start of their own '{…}', e.g. {range .items[*]}…{end}",
            )),
        })
        .collect()
}

/// The fields of a quoted key: split at dots, `\` escaping the next character.
fn key_path(key: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut name = String::new();
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => name.extend(chars.next()),
            '.' => steps.push(Step::Field(std::mem::take(&mut name))),
            c => name.push(c),
        }
    }
    steps.push(Step::Field(name));
    steps
}

/// Splits at commas that are not inside quotes.
fn split_outside_quotes(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote = None;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '\'' | '"' if quote.is_none() => quote = Some(c),
            c if Some(c) == quote => quote = None,
            ',' if quote.is_none() => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `left op right` at the first comparison operator outside quotes, or the whole text.
fn split_comparison(text: &str) -> (&str, Option<&str>, Option<&str>) {
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match c {
            '\'' | '"' if quote.is_none() => quote = Some(c),
            c if Some(c) == quote => quote = None,
            '!' | '<' | '>' | '=' | '~' if quote.is_none() => {
                let op_len = text[i..]
                    .chars()
                    .take_while(|c| matches!(c, '!' | '<' | '>' | '=' | '~'))
                    .count();
                return (
                    text[..i].trim(),
                    Some(&text[i..i + op_len]),
                    Some(text[i + op_len..].trim()),
                );
            }
            _ => {}
        }
    }
    (text.trim(), None, None)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The input of kubectl's JSONPath documentation.
    fn doc() -> Value {
        json!({
            "kind": "List",
            "items": [
                {
                    "kind": "None",
                    "metadata": {"name": "127.0.0.1", "labels": {"kubernetes.io/hostname": "127.0.0.1"}},
                    "status": {
                        "capacity": {"cpu": "4"},
                        "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.1"}]
                    }
                },
                {
                    "kind": "None",
                    "metadata": {"name": "127.0.0.2"},
                    "status": {
                        "capacity": {"cpu": "8"},
                        "addresses": [
                            {"type": "LegacyHostIP", "address": "127.0.0.2"},
                            {"type": "another", "address": "127.0.0.3"}
                        ]
                    }
                }
            ],
            "users": [
                {"name": "myself", "user": {}},
                {"name": "e2e", "user": {"username": "admin", "password": "secret"}}
            ]
        })
    }

    fn run(template: &str) -> String {
        template
            .parse::<Template>()
            .unwrap_or_else(|e| panic!("{e}"))
            .render(&doc())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn kubectl_documentation_examples() {
        assert_eq!(run("kind is {.kind}"), "kind is List");
        assert_eq!(run("{$.kind}"), "List");
        assert_eq!(run("{['kind']}"), "List");
        assert_eq!(run("{..name}"), "127.0.0.1 127.0.0.2 myself e2e");
        assert_eq!(run("{.items[*].metadata.name}"), "127.0.0.1 127.0.0.2");
        assert_eq!(run("{.users[0].name}"), "myself");
        assert_eq!(
            run("{.items[*]['metadata.name', 'status.capacity']}"),
            r#"127.0.0.1 127.0.0.2 {"cpu":"4"} {"cpu":"8"}"#
        );
        assert_eq!(run(r#"{.users[?(@.name=="e2e")].user.password}"#), "secret");
        assert_eq!(
            run("{range .items[*]}[{.metadata.name}, {.status.capacity}] {end}"),
            r#"[127.0.0.1, {"cpu":"4"}] [127.0.0.2, {"cpu":"8"}] "#
        );
        assert_eq!(
            run(r#"{range .items[*]}{.metadata.name}{"\t"}{end}"#),
            "127.0.0.1\t127.0.0.2\t"
        );
        assert_eq!(
            run(r"{.items[0].metadata.labels.kubernetes\.io/hostname}"),
            "127.0.0.1"
        );
    }

    #[test]
    fn indices_slices_and_wildcards() {
        assert_eq!(run("{.users[-1].name}"), "e2e");
        assert_eq!(run("{.users[0:1].name}"), "myself");
        assert_eq!(run("{.users[::2].name}"), "myself");
        assert_eq!(run("{.users[1:].name}"), "e2e");
        assert_eq!(run("{.users[0,1].name}"), "myself e2e");
        assert_eq!(
            run("{.items[1].status.addresses[*].type}"),
            "LegacyHostIP another"
        );
        assert_eq!(run("{.users[1].user.*}"), "secret admin");
        assert_eq!(run("{.users[0].user}"), "{}");
        assert_eq!(run("{.users[*].user.username}"), "admin");
    }

    #[test]
    fn filters_compare_strings_numbers_and_presence() {
        let v = json!({"c": [
            {"type": "Ready", "status": "True", "n": 3},
            {"type": "Auth", "status": "False", "n": 10, "reason": "Missing"}
        ]});
        let t = |s: &str| {
            s.parse::<Template>()
                .expect("parses")
                .render(&v)
                .expect("runs")
        };
        assert_eq!(t("{.c[?(@.type=='Ready')].status}"), "True");
        assert_eq!(t("{.c[?(@.type != 'Ready')].type}"), "Auth");
        assert_eq!(t("{.c[?(@.n > 5)].type}"), "Auth");
        assert_eq!(t("{.c[?(@.n <= 3)].type}"), "Ready");
        assert_eq!(t("{.c[?(@.reason)].type}"), "Auth");
    }

    #[test]
    fn nested_ranges_and_literals() {
        let v = json!({"a": [{"b": [1, 2]}, {"b": [3]}]});
        let t: Template = r#"{range .a[*]}[{range .b[*]}{@}{","}{end}]{end}"#
            .parse()
            .expect("parses");
        assert_eq!(t.render(&v).expect("runs"), "[1,2,][3,]");
        // An empty range prints nothing and goes on after its end.
        let t: Template = "x{range .missing[*]}{.y}{end}z".parse().expect("parses");
        assert_eq!(t.render(&v).expect("runs"), "xz");
        let t: Template = r#"{"\u00e9\x41'"}{'"'}"#.parse().expect("parses");
        assert_eq!(t.render(&v).expect("runs"), "éA'\"");
    }

    #[test]
    fn scalars_print_like_kubectl() {
        let v = json!({"i": 3600, "f": 1.5, "t": true, "n": null, "s": "x y"});
        let t: Template = "{.i} {.f} {.t} {.n} {.s} {.missing}|"
            .parse()
            .expect("parses");
        assert_eq!(t.render(&v).expect("runs"), "3600 1.5 true <nil> x y |");
    }

    #[test]
    fn bad_templates_say_what_and_where() {
        let err = |s: &str| s.parse::<Template>().expect_err(s).to_string();
        assert_eq!(
            err("{.metadata.name"),
            "invalid jsonpath template \"{.metadata.name\": unclosed action: a '{' without its '}' (at character 1)"
        );
        assert!(err("{.items[0}").contains("unterminated '[': no ']'"));
        assert!(err("{range .items[*]}{.x}").contains("{range} without an {end}"));
        assert!(err("{.x}{end}").contains("{end} without a {range}"));
        assert!(err("{metadata.name}").contains(
            "unrecognized identifier \"metadata\" (a field starts with '.', e.g. .metadata)"
        ));
        assert!(err("{.items[a]}").contains("invalid array index [a]"));
        assert!(err("{\"abc}").contains("unterminated quoted string"));
        assert!(err("{.a[?(@.x =~ 'y')]}").contains("unsupported filter operator \"=~\""));
        assert!(err("{.a[?(@.x == 1)}").contains("a filter ends with ')]'"));
        assert!(err("{....a}").contains("invalid multiple recursive descent"));
    }

    #[test]
    fn run_time_errors_name_the_template() {
        let v = json!({"a": [1, 2], "o": {"k": 1}});
        let exec = |s: &str| {
            s.parse::<Template>()
                .expect("parses")
                .render(&v)
                .expect_err(s)
                .to_string()
        };
        assert_eq!(
            exec("{.a[5]}"),
            "error executing jsonpath \"{.a[5]}\": array index out of bounds: index 5, length 2"
        );
        assert!(exec("{.o[0]}").contains("an object is not an array"));
        assert!(exec("{.a[::0]}").contains("step must be > 0"));
        assert!(exec("{.o[?(@.k)]}").contains("cannot be filtered"));
    }
}

//! The XML pull tokenizer: the subset of XML 1.0 and Namespaces in XML that SOAP uses.

use std::borrow::Cow;

use super::DecodeError;
use crate::catalogue;

/// A start or empty-element tag.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tag<'a> {
    /// The qualified name, e.g. `soapenv:Body`.
    pub(super) name: &'a str,
    /// The raw attribute text after the name (whitespace and all).
    pub(super) attrs: &'a str,
    /// The byte offset of `attrs` in the document.
    pub(super) attrs_at: usize,
}

impl<'a> Tag<'a> {
    /// The name without its prefix.
    pub(super) fn local_name(&self) -> &'a str {
        split_qname(self.name).1
    }

    pub(super) fn has_attrs(&self) -> bool {
        !self.attrs.bytes().all(is_xml_space)
    }
}

/// One token of the document. Comments, processing instructions (and the XML declaration) and a
/// DOCTYPE are skipped.
#[derive(Debug)]
pub(super) enum Tok<'a> {
    /// `<name ...>`
    Start(Tag<'a>),
    /// `<name .../>`
    Empty(Tag<'a>),
    /// `</name>`, checked against the open element.
    End,
    /// Character data as written (references unresolved, see [`Xml::text_value`]); `at` is its
    /// byte offset.
    Text { raw: &'a str, at: usize },
    /// The content of a CDATA section.
    CData(&'a str),
    /// The end of the document (open elements are the caller's to complain about).
    Eof,
}

/// A pull tokenizer over a whole document in memory: the subset of XML 1.0 and Namespaces in
/// XML that SOAP uses. Tokens borrow from the document; namespace bindings are tracked per
/// element so prefixes in names, attributes and `xsi:type` values resolve as the document
/// declares them.
pub(super) struct Xml<'a> {
    pub(super) src: &'a str,
    /// Where the next token starts.
    pub(super) pos: usize,
    /// Open elements: their name and the number of namespace bindings outside them.
    pub(super) open: Vec<(&'a str, usize)>,
    /// Namespace bindings in scope, innermost last: prefix (`""` for the default namespace) and
    /// namespace name (`""` undeclares).
    pub(super) ns: Vec<(&'a str, Cow<'a, str>)>,
    /// After an empty-element tag: the bindings to drop before the next token.
    pub(super) pop_to: Option<usize>,
}

impl<'a> Xml<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        Self {
            src,
            // A byte order mark is no content.
            pos: if src.starts_with('\u{feff}') { 3 } else { 0 },
            open: Vec::new(),
            ns: Vec::new(),
            pop_to: None,
        }
    }

    pub(super) fn error_at(&self, position: usize, message: impl Into<String>) -> DecodeError {
        DecodeError {
            position: position as u64,
            message: message.into(),
        }
    }

    /// The next token.
    pub(super) fn next(&mut self) -> Result<Tok<'a>, DecodeError> {
        if let Some(n) = self.pop_to.take() {
            self.ns.truncate(n);
        }
        let src = self.src;
        let bytes = src.as_bytes();
        loop {
            let start = self.pos;
            let Some(&first) = bytes.get(start) else {
                return Ok(Tok::Eof);
            };
            if first != b'<' {
                let end = find_byte(bytes, start, b'<').unwrap_or(src.len());
                self.pos = end;
                return Ok(Tok::Text {
                    raw: &src[start..end],
                    at: start,
                });
            }
            match bytes.get(start + 1) {
                Some(b'/') => return self.end_tag(start),
                Some(b'?' | b'!') => {
                    if let Some(cdata) = self.markup(start)? {
                        return Ok(Tok::CData(cdata));
                    }
                }
                _ => return self.start_tag(start),
            }
        }
    }

    /// Right after a start tag: when the element holds only plain text (no markup, no
    /// references, no carriage return) and then its end tag, consume both and return the text.
    /// Otherwise consume nothing. A shortcut past [`Xml::next`] for the most common elements.
    pub(super) fn leaf_text(&mut self) -> Option<&'a str> {
        let bytes = self.src.as_bytes();
        let start = self.pos;
        let lt = find_byte(bytes, start, b'<')?;
        if bytes.get(lt + 1) != Some(&b'/') {
            return None;
        }
        let text = self.src.get(start..lt)?;
        if find_either(text.as_bytes(), b'&', b'\r').is_some() {
            return None;
        }
        let &(open, outer) = self.open.last()?;
        let name_end = lt + 2 + open.len();
        if bytes.get(lt + 2..name_end) != Some(open.as_bytes()) {
            return None;
        }
        let mut gt = name_end;
        while bytes.get(gt).copied().is_some_and(is_xml_space) {
            gt += 1;
        }
        if bytes.get(gt) != Some(&b'>') {
            return None;
        }
        self.open.pop();
        self.ns.truncate(outer);
        self.pos = gt + 1;
        Some(text)
    }

    /// `<?...?>`, `<!--...-->`, `<![CDATA[...]]>` or `<!DOCTYPE ...>` at `start`: skipped, except
    /// a CDATA section, whose content is returned. Rare in SOAP, so kept out of [`Xml::next`].
    #[cold]
    #[inline(never)]
    pub(super) fn markup(&mut self, start: usize) -> Result<Option<&'a str>, DecodeError> {
        let rest = &self.src[start..];
        if rest.starts_with("<?") {
            let end = find_after(rest, 2, "?>")
                .ok_or_else(|| self.error_at(start, "unclosed processing instruction"))?;
            self.pos = start + end;
        } else if rest.starts_with("<!--") {
            let end = find_after(rest, 4, "-->")
                .ok_or_else(|| self.error_at(start, "unclosed comment"))?;
            self.pos = start + end;
        } else if rest.starts_with("<![CDATA[") {
            let end = find_after(rest, 9, "]]>")
                .ok_or_else(|| self.error_at(start, "unclosed CDATA section"))?;
            self.pos = start + end;
            return Ok(Some(&rest[9..end - 3]));
        } else if rest.starts_with("<!DOCTYPE") {
            // Skipped with its internal subset; its declarations are not used.
            let mut depth = 0usize;
            let end = rest.bytes().enumerate().skip(9).find_map(|(i, b)| {
                match b {
                    b'[' => depth += 1,
                    b']' => depth = depth.saturating_sub(1),
                    b'>' if depth == 0 => return Some(i + 1),
                    _ => {}
                }
                None
            });
            self.pos = start + end.ok_or_else(|| self.error_at(start, "unclosed DOCTYPE"))?;
        } else {
            return Err(self.error_at(start, "unknown markup after `<!`"));
        }
        Ok(None)
    }

    pub(super) fn start_tag(&mut self, start: usize) -> Result<Tok<'a>, DecodeError> {
        let src = self.src;
        let bytes = src.as_bytes();
        let unclosed = || self.error_at(start, "unclosed tag");
        // The name runs to whitespace, `/` or `>`.
        let name_end = bytes
            .get(start + 1..)
            .and_then(|rest| rest.iter().position(|&b| NAME_END[usize::from(b)]))
            .map_or(bytes.len(), |i| start + 1 + i);
        if bytes.get(name_end) == Some(&b'<') {
            return Err(self.error_at(start, "`<` inside a tag"));
        }
        let name = &src[start + 1..name_end];
        if name.is_empty() {
            return Err(self.error_at(start, "element without a name"));
        }
        // Most tags end right after the name; otherwise the closing `>` is the first one
        // outside quoted attribute values.
        let (end, empty) = match (bytes.get(name_end), bytes.get(name_end + 1)) {
            (Some(b'>'), _) => (name_end, false),
            (Some(b'/'), Some(b'>')) => (name_end + 1, true),
            (None, _) => return Err(unclosed()),
            _ => {
                let mut quote = 0u8;
                let mut found = None;
                for (i, &b) in bytes.iter().enumerate().skip(name_end) {
                    if quote != 0 {
                        if b == quote {
                            quote = 0;
                        }
                    } else if b == b'"' || b == b'\'' {
                        quote = b;
                    } else if b == b'>' {
                        found = Some(i);
                        break;
                    } else if b == b'<' {
                        return Err(self.error_at(start, "`<` inside a tag"));
                    }
                }
                let end = found.ok_or_else(unclosed)?;
                (end, bytes[end - 1] == b'/')
            }
        };
        let attrs_end = if empty { end - 1 } else { end };
        let tag = Tag {
            name,
            attrs: src.get(name_end..attrs_end).unwrap_or_default(),
            attrs_at: name_end,
        };
        self.pos = end + 1;
        let outer = self.ns.len();
        // Namespace declarations are `xmlns` and `xmlns:p` attributes.
        if declares_namespaces(tag.attrs.as_bytes()) {
            self.declare_namespaces(&tag)?;
        }
        if empty {
            self.pop_to = Some(outer);
            Ok(Tok::Empty(tag))
        } else {
            self.open.push((name, outer));
            Ok(Tok::Start(tag))
        }
    }

    pub(super) fn end_tag(&mut self, start: usize) -> Result<Tok<'a>, DecodeError> {
        let rest = &self.src[start..];
        let end = find_byte(rest.as_bytes(), 2, b'>')
            .ok_or_else(|| self.error_at(start, "unclosed end tag"))?;
        let mut name = &rest[2..end];
        while let Some(n) = name.strip_suffix([' ', '\t', '\n', '\r']) {
            name = n;
        }
        match self.open.pop() {
            Some((open, outer)) if same(open, name) => {
                self.ns.truncate(outer);
                self.pos = start + end + 1;
                Ok(Tok::End)
            }
            Some((open, _)) => Err(self.error_at(
                start,
                format!("expected `</{open}>`, but `</{name}>` found"),
            )),
            None => Err(self.error_at(start, format!("unexpected end tag `</{name}>`"))),
        }
    }

    /// Push the `xmlns` and `xmlns:p` declarations of a tag.
    pub(super) fn declare_namespaces(&mut self, tag: &Tag<'a>) -> Result<(), DecodeError> {
        for attr in self.attributes(tag) {
            let (name, raw, at) = attr?;
            let prefix = match name.strip_prefix("xmlns") {
                Some("") => "",
                Some(p) if p.starts_with(':') => &p[1..],
                _ => continue,
            };
            let uri = self.attribute_value(raw, at)?;
            self.ns.push((prefix, uri));
        }
        Ok(())
    }

    /// The namespace name bound to `prefix` (with `use_default`, no prefix means the default
    /// namespace), or `None` when unbound.
    pub(super) fn namespace(&self, prefix: Option<&str>, use_default: bool) -> Option<&str> {
        let prefix = match prefix {
            Some("xml") => return Some("http://www.w3.org/XML/1998/namespace"),
            Some("xmlns") => return Some("http://www.w3.org/2000/xmlns/"),
            Some(p) => p,
            None if use_default => "",
            None => return None,
        };
        self.ns
            .iter()
            .rev()
            .find(|(p, _)| same(p, prefix))
            .map(|(_, uri)| uri.as_ref())
            .filter(|uri| !uri.is_empty())
    }

    /// The attributes of a tag: name, raw value and the value's byte offset.
    pub(super) fn attributes(&self, tag: &Tag<'a>) -> Attributes<'a> {
        Attributes {
            raw: tag.attrs,
            at: tag.attrs_at,
            i: 0,
        }
    }

    /// An attribute value with references resolved and whitespace normalised (each tab, line
    /// feed, carriage return or CR LF becomes a space).
    pub(super) fn attribute_value(
        &self,
        raw: &'a str,
        at: usize,
    ) -> Result<Cow<'a, str>, DecodeError> {
        if !raw
            .bytes()
            .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r'))
        {
            return Ok(Cow::Borrowed(raw));
        }
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '&' => {
                    let (resolved, len) = self.reference(&raw[i..], at + i)?;
                    out.push_str(&resolved);
                    while chars.next_if(|(j, _)| *j < i + len).is_some() {}
                }
                '\r' => {
                    chars.next_if(|(_, c)| *c == '\n');
                    out.push(' ');
                }
                '\t' | '\n' => out.push(' '),
                c => out.push(c),
            }
        }
        Ok(Cow::Owned(out))
    }

    /// Character data with references resolved and line ends normalised (CR LF and CR become
    /// LF); borrowed when there is nothing to do.
    pub(super) fn text_value(&self, raw: &'a str, at: usize) -> Result<Cow<'a, str>, DecodeError> {
        let special = |s: &str| find_either(s.as_bytes(), b'&', b'\r');
        let Some(first) = special(raw) else {
            return Ok(Cow::Borrowed(raw));
        };
        let mut out = String::with_capacity(raw.len());
        out.push_str(&raw[..first]);
        let mut rest = &raw[first..];
        while let Some(i) = special(rest) {
            out.push_str(&rest[..i]);
            if rest.as_bytes()[i] == b'&' {
                let offset = raw.len() - rest.len() + i;
                let (resolved, len) = self.reference(&rest[i..], at + offset)?;
                out.push_str(&resolved);
                rest = &rest[i + len..];
            } else {
                out.push('\n');
                rest = rest[i + 1..].strip_prefix('\n').unwrap_or(&rest[i + 1..]);
            }
        }
        out.push_str(rest);
        Ok(Cow::Owned(out))
    }

    /// The reference at the start of `s` (`&lt;`, `&#10;`, `&#x1F680;`): what it stands for and
    /// its length.
    pub(super) fn reference(
        &self,
        s: &str,
        at: usize,
    ) -> Result<(Cow<'static, str>, usize), DecodeError> {
        let semi = s
            .bytes()
            .take(34)
            .position(|b| b == b';')
            .ok_or_else(|| self.error_at(at, "`&` without a reference (write `&amp;`)"))?;
        let name = &s[1..semi];
        let resolved = match name {
            "lt" => Cow::Borrowed("<"),
            "gt" => Cow::Borrowed(">"),
            "amp" => Cow::Borrowed("&"),
            "quot" => Cow::Borrowed("\""),
            "apos" => Cow::Borrowed("'"),
            _ if name.starts_with('#') => {
                let code = match name[1..].strip_prefix('x') {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => name[1..].parse::<u32>().ok(),
                };
                match code.filter(|c| *c != 0).and_then(char::from_u32) {
                    Some(c) => Cow::Owned(c.to_string()),
                    None => {
                        return Err(self.error_at(at, format!("bad character reference &{name};")));
                    }
                }
            }
            other => return Err(self.error_at(at, format!("unknown entity &{other};"))),
        };
        Ok((resolved, semi + 1))
    }
}

/// The attributes of a tag, in order: name, raw value and the value's byte offset.
pub(super) struct Attributes<'a> {
    pub(super) raw: &'a str,
    pub(super) at: usize,
    pub(super) i: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(&'a str, &'a str, usize), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.raw.as_bytes();
        let skip_space = |mut i: usize| {
            while bytes.get(i).copied().is_some_and(is_xml_space) {
                i += 1;
            }
            i
        };
        let start = skip_space(self.i);
        if start >= bytes.len() {
            self.i = start;
            return None;
        }
        let fail = |this: &mut Self, message: &str| {
            this.i = bytes.len(); // no more attributes after an error
            Some(Err(DecodeError {
                position: (this.at + start) as u64,
                message: format!("bad attribute: {message}"),
            }))
        };
        let name_end = (start..bytes.len())
            .find(|&i| bytes[i] == b'=' || is_xml_space(bytes[i]))
            .unwrap_or(bytes.len());
        let name = &self.raw[start..name_end];
        let eq = skip_space(name_end);
        if bytes.get(eq) != Some(&b'=') {
            return fail(self, &format!("`{name}` has no value"));
        }
        let open = skip_space(eq + 1);
        let quote = match bytes.get(open) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return fail(self, &format!("the value of `{name}` is not quoted")),
        };
        let Some(len) = find_byte(&bytes[open + 1..], 0, quote) else {
            return fail(self, &format!("the value of `{name}` is not closed"));
        };
        let close = open + 1 + len;
        self.i = close + 1;
        Some(Ok((name, &self.raw[open + 1..close], self.at + open + 1)))
    }
}

pub(super) const LO: u64 = 0x0101_0101_0101_0101;
pub(super) const HI: u64 = 0x8080_8080_8080_8080;

/// The bytes of `word` equal to `needle`, as the high bit of each byte (exact for the lowest
/// match, which is all the callers use).
#[inline]
pub(super) fn matches_in(word: u64, needle: u8) -> u64 {
    let x = word ^ (LO * u64::from(needle));
    x.wrapping_sub(LO) & !x & HI
}

/// The index of the first `needle` in `bytes` at or after `from`, eight bytes at a time (the
/// texts and tags of SOAP are short, where this beats a vectorised search's set-up).
pub(super) fn find_byte(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    find_either(bytes.get(from..)?, needle, needle).map(|i| from + i)
}

/// The index of the first `a` or `b` in `bytes`, eight bytes at a time.
pub(super) fn find_either(bytes: &[u8], a: u8, b: u8) -> Option<usize> {
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let found = matches_in(word, a) | matches_in(word, b);
        if found != 0 {
            return Some(i + found.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    bytes
        .get(i..)?
        .iter()
        .position(|&c| c == a || c == b)
        .map(|p| i + p)
}

/// Whether a tag's attribute text may declare a namespace (`xmlns` or `xmlns:p`).
pub(super) fn declares_namespaces(attrs: &[u8]) -> bool {
    let mut from = 0;
    while let Some(i) = find_byte(attrs, from, b'x') {
        if attrs[i..].starts_with(b"xmlns") {
            return true;
        }
        from = i + 1;
    }
    false
}

/// Bytes that end an element name in a start tag: whitespace, `/` and `>` (and `<`, an error).
pub(super) static NAME_END: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'/' as usize] = true;
    t[b'>' as usize] = true;
    t[b'<' as usize] = true;
    t
};

/// `s` without leading and trailing whitespace (a value without any, the usual case, is
/// returned as it is).
pub(super) fn trim_xml(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if *first > b' ' && *last > b' ' => s,
        [only] if *only > b' ' => s,
        _ => s.trim(),
    }
}

pub(super) fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// `prefix:local` → (Some(prefix), local); `local` → (None, local).
pub(super) fn split_qname(qname: &str) -> (Option<&str>, &str) {
    match qname.bytes().position(|b| b == b':') {
        Some(i) => (Some(&qname[..i]), &qname[i + 1..]),
        None => (None, qname),
    }
}

/// The offset just past the first `pat` in `s` at or after `from`.
pub(super) fn find_after(s: &str, from: usize, pat: &str) -> Option<usize> {
    s.get(from..)?.find(pat).map(|i| from + i + pat.len())
}

/// CDATA content with line ends normalised.
pub(super) fn normalize_eols(raw: &str) -> Cow<'_, str> {
    if raw.contains('\r') {
        Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(raw)
    }
}

/// String equality for the short names of markup, without a call to `memcmp`.
#[inline]
pub(super) fn same(a: &str, b: &str) -> bool {
    catalogue::same_bytes(a.as_bytes(), b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every token of a document, as text (namespaces as resolved at each tag).
    fn tokens(doc: &str) -> Result<Vec<String>, DecodeError> {
        let mut xml = Xml::new(doc);
        let mut out = Vec::new();
        loop {
            let t = match xml.next()? {
                Tok::Start(t) => format!(
                    "<{}|{}>",
                    t.name,
                    xml.namespace(split_qname(t.name).0, true).unwrap_or("-")
                ),
                Tok::Empty(t) => format!("<{}/>", t.name),
                Tok::End => "</>".to_owned(),
                Tok::Text { raw, at } => format!("{:?}", xml.text_value(raw, at)?),
                Tok::CData(raw) => format!("cdata{:?}", normalize_eols(raw)),
                Tok::Eof => return Ok(out),
            };
            out.push(t);
        }
    }

    #[test]
    fn tokenizes_what_soap_uses() {
        let doc = "\u{feff}<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"boom\">]><!-- c -->\
                   <a xmlns=\"urn:a\" xmlns:p='urn:p'><p:b x=\"1 > 0\">t&amp;&lt;&gt;&quot;&apos;&#10;&#x1F680;é\r\nz\rq</p:b>\
                   <c/><![CDATA[<&>\r\n]]><d xmlns=\"\"></d ></a>";
        assert_eq!(
            tokens(doc).unwrap(),
            [
                "<a|urn:a>",
                "<p:b|urn:p>",
                "\"t&<>\\\"'\\n🚀é\\nz\\nq\"",
                "</>",
                "<c/>",
                "cdata\"<&>\\n\"",
                "<d|->",
                "</>",
                "</>",
            ]
        );
    }

    #[test]
    fn namespace_bindings_are_scoped_to_their_element() {
        let doc = r#"<r xmlns:x="urn:1"><a xmlns:x="urn:2"><x:b/></a><x:c/><e xmlns:x="urn:3"/><x:f></x:f></r>"#;
        let mut xml = Xml::new(doc);
        let mut seen = Vec::new();
        while let Ok(t) = xml.next() {
            match t {
                Tok::Start(t) | Tok::Empty(t) => seen.push(format!(
                    "{}={}",
                    t.name,
                    xml.namespace(Some("x"), false).unwrap_or("-")
                )),
                Tok::Eof => break,
                _ => {}
            }
        }
        assert_eq!(
            seen,
            [
                "r=urn:1",
                "a=urn:2",
                "x:b=urn:2",
                "x:c=urn:1",
                "e=urn:3",
                "x:f=urn:1"
            ]
        );
    }

    #[test]
    fn attribute_values_are_unescaped_and_normalised() {
        let doc = "<a  k = 'v' t=\"a&amp;b&#9;c\td\r\ne\nf&#xD;\" />";
        let mut xml = Xml::new(doc);
        let Ok(Tok::Empty(tag)) = xml.next() else {
            panic!("not an empty tag")
        };
        let attrs: Vec<(String, String)> = xml
            .attributes(&tag)
            .map(|a| {
                let (name, raw, at) = a.unwrap();
                assert_eq!(&doc[at..at + raw.len()], raw);
                (
                    name.to_owned(),
                    xml.attribute_value(raw, at).unwrap().into_owned(),
                )
            })
            .collect();
        assert_eq!(
            attrs,
            [
                ("k".to_owned(), "v".to_owned()),
                ("t".to_owned(), "a&b\tc d e f\r".to_owned())
            ]
        );
        for bad in [r#"<a b>"#, r#"<a b=c>"#, r#"<a b="c>"#, r#"<a b='c"/>"#] {
            let mut xml = Xml::new(bad);
            let result = match xml.next() {
                Ok(Tok::Start(t) | Tok::Empty(t)) => xml
                    .attributes(&t)
                    .collect::<Result<Vec<_>, _>>()
                    .map(|_| ()),
                Ok(other) => panic!("{bad}: {other:?}"),
                Err(e) => Err(e),
            };
            assert!(result.is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn malformed_markup_is_an_error_at_its_position() {
        let cases = [
            ("<a></b>", 3, "expected `</a>`, but `</b>` found"),
            ("<a>x</a></a>", 8, "unexpected end tag"),
            ("<a><!-- x", 3, "unclosed comment"),
            ("<a><![CDATA[x", 3, "unclosed CDATA"),
            ("<a><?pi", 3, "unclosed processing"),
            ("<a><b", 3, "unclosed tag"),
            ("<a><b <c>", 3, "`<` inside a tag"),
            ("<a></a", 3, "unclosed end tag"),
            ("<a><!x>", 3, "unknown markup"),
            ("<a>< b>", 3, "without a name"),
        ];
        for (doc, position, message) in cases {
            let err = tokens(doc).expect_err(doc);
            assert_eq!(err.position, position as u64, "{doc}: {err}");
            assert!(err.message.contains(message), "{doc}: {err}");
        }
        for (doc, position, message) in [
            ("<a>x &bogus; y</a>", 5, "unknown entity &bogus;"),
            ("<a>x &#0; y</a>", 5, "bad character reference"),
            ("<a>x &#xD800; y</a>", 5, "bad character reference"),
            ("<a>x & y</a>", 5, "`&` without a reference"),
        ] {
            let err = tokens(doc).expect_err(doc);
            assert_eq!(err.position, position as u64, "{doc}: {err}");
            assert!(err.message.contains(message), "{doc}: {err}");
        }
    }

    #[test]
    fn leaf_text_takes_plain_leaves_and_leaves_the_rest() {
        // (document, start tags to read first, expected text)
        let cases: [(&str, usize, Option<&str>); 8] = [
            ("<a><b>x y</b></a>", 2, Some("x y")),
            ("<a><b></b></a>", 2, Some("")),
            ("<a><b>x</b ></a>", 2, Some("x")),
            ("<a><b>x&amp;y</b></a>", 2, None),
            ("<a><b>x\r\ny</b></a>", 2, None),
            ("<a><b>x<c/></b></a>", 2, None),
            ("<a><b>x</bb></a>", 2, None),
            ("<a><b/>x</a>", 1, None),
        ];
        for (doc, starts, want) in cases {
            let mut xml = Xml::new(doc);
            for _ in 0..starts {
                xml.next().unwrap();
            }
            if starts == 1 {
                // After an empty element the caller never asks; the parent's text is not a leaf
                // of `<b/>`.
                assert!(matches!(xml.next().unwrap(), Tok::Empty(_)));
                continue;
            }
            let pos = xml.pos;
            let got = xml.leaf_text();
            assert_eq!(got, want, "{doc}");
            if got.is_none() {
                assert_eq!(xml.pos, pos, "{doc}: nothing consumed");
            } else {
                assert!(
                    matches!(xml.next().unwrap(), Tok::End),
                    "{doc}: </a> follows"
                );
            }
        }
    }

    #[test]
    fn trim_xml_agrees_with_trim() {
        for s in [
            "", " ", "a", " a", "a ", " a ", "ab", "a b", "\ta\n", "\r\n", "é", " é",
        ] {
            assert_eq!(trim_xml(s), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn tags_with_and_without_attributes() {
        let doc = "<a><b/><c x='1'/><d y=\"2\" ><e /></d><f\n/></a>";
        assert_eq!(
            tokens(doc).unwrap(),
            tokens("<a><b/><c x='1'/><d y=\"2\"><e/></d><f/></a>").unwrap()
        );
        assert!(tokens("<a").is_err());
        assert!(tokens("<a/").is_err());
        assert!(tokens("<a x='>'>").is_ok());
        assert!(tokens("<a<b>").is_err());
    }

    #[test]
    fn find_either_and_namespace_check_agree_with_plain_searches() {
        let hay: Vec<u8> = (0..100u32).map(|i| (i * 37 % 251) as u8).collect();
        for (a, b) in [(b'&', b'\r'), (37, 200), (0, 0xff), (1, 1)] {
            for from in 0..hay.len() {
                let h = &hay[from..];
                let want = h.iter().position(|&c| c == a || c == b);
                assert_eq!(find_either(h, a, b), want, "{a} {b} from {from}");
            }
        }
        for (attrs, want) in [
            ("", false),
            (" xsi:type=\"x\"", false),
            (" xmlns=\"urn:vim25\"", true),
            (" a=\"x\" xmlns:xsi=\"u\"", true),
            (" xx=\"xmln\"", false),
        ] {
            assert_eq!(declares_namespaces(attrs.as_bytes()), want, "{attrs}");
        }
    }

    #[test]
    fn find_byte_agrees_with_a_plain_search() {
        let hay: Vec<u8> = (0..300u32).map(|i| (i * 37 % 251) as u8).collect();
        for needle in [0u8, 1, 0x7f, 0x80, 0xff, b'<', 37, 200] {
            for from in 0..hay.len() + 2 {
                let want = hay
                    .get(from..)
                    .and_then(|h| h.iter().position(|&b| b == needle))
                    .map(|p| from + p);
                assert_eq!(find_byte(&hay, from, needle), want, "{needle} from {from}");
            }
        }
        // A match just after bytes that borrow in the word arithmetic.
        let hay = [0x3c, 0x3d, 0x01, 0x3c, 0, 0, 0, 0, 0x3c];
        assert_eq!(find_byte(&hay, 1, 0x3c), Some(3));
    }
}

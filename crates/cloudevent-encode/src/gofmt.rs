//! Go's text forms, byte for byte: `encoding/json` string escaping (HTML-safe), `encoding/xml`
//! `EscapeText`, `strconv` integers and floats, `time.RFC3339Nano`.

use base64::Engine as _;
use vsphere_client::time::DateTime;

/// What `time.Time{}` (the zero time) marshals to.
pub(crate) const ZERO_TIME: &[u8] = b"0001-01-01T00:00:00Z";

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes below 0x80 that `encoding/json` (with HTML escaping) does not write as-is.
const fn json_escape_table() -> [bool; 128] {
    let mut t = [false; 128];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t
}
static JSON_ESCAPE: [bool; 128] = json_escape_table();

// Eight bytes at a time: most text needs no escaping, and a word of it is copied in one step.
const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The eight bytes at `i`, if there are eight.
#[inline]
fn word_at(bytes: &[u8], i: usize) -> Option<u64> {
    bytes
        .get(i..i + 8)
        .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
}

/// Whether any byte of `w` is `b` (exact as a yes/no answer).
#[inline]
fn has_byte(w: u64, b: u8) -> bool {
    let x = w ^ (LO * u64::from(b));
    x.wrapping_sub(LO) & !x & HI != 0
}

/// Whether any byte of `w` is below `n` (`n` at most 128; exact when no byte has its high bit
/// set, which the callers test too).
#[inline]
fn has_less(w: u64, n: u8) -> bool {
    w.wrapping_sub(LO * u64::from(n)) & !w & HI != 0
}

/// Eight ASCII bytes without control characters, `"`, `<`, `>`, `&` and `other`.
#[inline]
fn plain_ascii(w: u64, other: u8) -> bool {
    w & HI == 0
        && !has_less(w, 0x20)
        && !has_byte(w, b'"')
        && !has_byte(w, b'<')
        && !has_byte(w, b'>')
        && !has_byte(w, b'&')
        && !has_byte(w, other)
}

/// Eight bytes [`json_string`] writes as they are.
#[inline]
fn json_plain(w: u64) -> bool {
    plain_ascii(w, b'\\')
}

/// Eight bytes [`xml_text`] writes as they are.
#[inline]
fn xml_plain(w: u64) -> bool {
    plain_ascii(w, b'\'')
}

/// Write `s` as a JSON string the way Go's `encoding/json.Marshal` does: `\"`, `\\`, `\n`, `\r`,
/// `\t`, `\b`, `\f`, other control characters as `\u00XX`, `<`, `>`, `&` as `\u003c`, `\u003e`,
/// `\u0026`, and U+2028/U+2029 as `\u2028`/`\u2029`.
pub(crate) fn json_string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if word_at(bytes, i).is_some_and(json_plain) {
            i += 8;
            continue;
        }
        let b = bytes[i];
        if b < 0x80 {
            if !JSON_ESCAPE[b as usize] {
                i += 1;
                continue;
            }
            out.extend_from_slice(&bytes[start..i]);
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                _ => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xf)]);
                }
            }
            i += 1;
            start = i;
        } else if b == 0xE2
            && i + 2 < bytes.len()
            && bytes[i + 1] == 0x80
            && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9)
        {
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(if bytes[i + 2] == 0xA8 {
                b"\\u2028"
            } else {
                b"\\u2029"
            });
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Bytes below 0x80 that `encoding/xml.EscapeText` rewrites (or replaces).
const fn xml_escape_table() -> [bool; 128] {
    let mut t = [false; 128];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\'' as usize] = true;
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t
}
static XML_ESCAPE: [bool; 128] = xml_escape_table();

/// Write `s` escaped the way Go's `encoding/xml.EscapeText` does: `"` `'` `&` `<` `>` as
/// `&#34;` `&#39;` `&amp;` `&lt;` `&gt;`, tab, newline and carriage return as `&#x9;` `&#xA;`
/// `&#xD;`, and characters outside XML's character range as U+FFFD.
pub(crate) fn xml_text(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len());
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if word_at(bytes, i).is_some_and(xml_plain) {
            i += 8;
            continue;
        }
        let b = bytes[i];
        if b < 0x80 {
            if !XML_ESCAPE[b as usize] {
                i += 1;
                continue;
            }
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(match b {
                b'"' => b"&#34;",
                b'\'' => b"&#39;",
                b'&' => b"&amp;",
                b'<' => b"&lt;",
                b'>' => b"&gt;",
                b'\t' => b"&#x9;",
                b'\n' => b"&#xA;",
                b'\r' => b"&#xD;",
                _ => "\u{FFFD}".as_bytes(),
            });
            i += 1;
            start = i;
        } else if b == 0xEF && i + 2 < bytes.len() && bytes[i + 1] == 0xBF && bytes[i + 2] >= 0xBE {
            // U+FFFE and U+FFFF are outside XML's character range.
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice("\u{FFFD}".as_bytes());
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// [`xml_text`] for bytes that may not be UTF-8 (Go replaces invalid sequences by U+FFFD).
pub(crate) fn xml_text_bytes(out: &mut Vec<u8>, b: &[u8]) {
    xml_text(out, &String::from_utf8_lossy(b));
}

/// Append a decimal integer (`strconv.FormatInt`).
pub(crate) fn int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// `true` / `false`.
pub(crate) fn boolean(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

/// A float as `encoding/json` writes it: shortest digits, `'f'` form unless the magnitude is
/// below 1e-6 or at least 1e21, then `'e'` with Go's exponent spelling (`1e+21`, `1.5e-7`).
/// `bits32` selects float32 rounding. Go refuses NaN and infinities (`json: unsupported value`);
/// those are written as `null` here.
pub(crate) fn json_float(out: &mut Vec<u8>, v: f64, bits32: bool) {
    if !v.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let abs = v.abs();
    let exp_form = abs != 0.0
        && if bits32 {
            let a = abs as f32;
            !(1e-6..1e21).contains(&a)
        } else {
            !(1e-6..1e21).contains(&abs)
        };
    let s = match (exp_form, bits32) {
        (false, false) => format!("{v}"),
        (false, true) => format!("{}", v as f32),
        (true, false) => format!("{v:e}"),
        (true, true) => format!("{:e}", v as f32),
    };
    if exp_form {
        // Rust writes `1e21` / `1.5e-7`; Go `1e+21` / `1.5e-7` (after its e-07 → e-7 cleanup).
        match s.split_once('e') {
            Some((mant, exp)) if !exp.starts_with('-') => {
                out.extend_from_slice(mant.as_bytes());
                out.extend_from_slice(b"e+");
                out.extend_from_slice(exp.as_bytes());
            }
            _ => out.extend_from_slice(s.as_bytes()),
        }
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// A float as `encoding/xml` writes it: `strconv.FormatFloat(f, 'g', -1, bits)` (exponent form
/// when the decimal exponent is below -4 or at least 6, with at least two exponent digits;
/// `NaN`, `+Inf`, `-Inf`).
pub(crate) fn xml_float(out: &mut Vec<u8>, v: f64, bits32: bool) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    let e = if bits32 {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    let (mant, exp) = e.split_once('e').unwrap_or((e.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if v != 0.0 && !(-4..6).contains(&exp) {
        out.extend_from_slice(mant.as_bytes());
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push(b'0');
        }
        int(out, i64::from(a));
    } else if bits32 {
        out.extend_from_slice(format!("{}", v as f32).as_bytes());
    } else {
        out.extend_from_slice(format!("{v}").as_bytes());
    }
}

/// `time.Time.Format(time.RFC3339Nano)` in UTC: up to nine fractional digits, trailing zeros
/// trimmed, `Z`.
pub(crate) fn rfc3339_nano(out: &mut Vec<u8>, t: DateTime) {
    rfc3339(
        out,
        t.as_second(),
        i64::from(t.subsec_nanosecond()),
        Fraction::GoTrimmed,
    );
}

/// How many fractional digits [`rfc3339`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fraction {
    /// Up to nine, trailing zeros trimmed, none for a whole second (Go's `RFC3339Nano`).
    GoTrimmed,
    /// Always three (milliseconds, truncated); a negative year as jiff's `%Y` writes it, four
    /// characters with the sign (`-001`), as the Horizon adapter's times always were.
    Millis,
}

/// RFC 3339 in UTC with `Z`, from seconds and nanoseconds since the Unix epoch (`nanos` may be
/// negative, as jiff gives it before 1970); a negative year is written `-YYYY` (see
/// [`Fraction::Millis`] for the exception).
pub(crate) fn rfc3339(out: &mut Vec<u8>, secs: i64, nanos: i64, fraction: Fraction) {
    let (mut secs, mut nanos) = (secs, nanos);
    if nanos < 0 {
        secs -= 1;
        nanos += 1_000_000_000;
    }
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut buf = [0u8; 30];
    let mut n = 0;
    // At least `width` digits (more for a year past 9999, which chrono allows).
    let put = |v: i64, width: usize, buf: &mut [u8; 30], n: &mut usize| {
        let width = width.max(v.checked_ilog10().map_or(1, |d| d as usize + 1));
        let mut v = v;
        for k in (0..width).rev() {
            buf[*n + k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        *n += width;
    };
    if y < 0 {
        buf[n] = b'-';
        n += 1;
    }
    let year_digits = if y < 0 && fraction == Fraction::Millis && y > -1000 {
        3
    } else {
        4
    };
    put(y.abs(), year_digits, &mut buf, &mut n);
    buf[n] = b'-';
    n += 1;
    put(m, 2, &mut buf, &mut n);
    buf[n] = b'-';
    n += 1;
    put(d, 2, &mut buf, &mut n);
    buf[n] = b'T';
    n += 1;
    put(sod / 3600, 2, &mut buf, &mut n);
    buf[n] = b':';
    n += 1;
    put(sod / 60 % 60, 2, &mut buf, &mut n);
    buf[n] = b':';
    n += 1;
    put(sod % 60, 2, &mut buf, &mut n);
    match fraction {
        Fraction::GoTrimmed if nanos != 0 => {
            buf[n] = b'.';
            n += 1;
            let start = n;
            put(nanos, 9, &mut buf, &mut n);
            while n > start && buf[n - 1] == b'0' {
                n -= 1;
            }
        }
        Fraction::GoTrimmed => {}
        Fraction::Millis => {
            buf[n] = b'.';
            n += 1;
            put(nanos / 1_000_000, 3, &mut buf, &mut n);
        }
    }
    buf[n] = b'Z';
    n += 1;
    out.extend_from_slice(&buf[..n]);
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Standard base64 with padding (`encoding/base64.StdEncoding`, what `encoding/json` uses for
/// `[]byte`).
pub(crate) fn base64(out: &mut Vec<u8>, b: &[u8]) {
    let start = out.len();
    out.resize(start + b.len().div_ceil(3) * 4, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(b, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + written);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_checks_agree_with_the_escape_tables() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut bytes = *b"abcdefgh";
                bytes[at] = b;
                let w = u64::from_le_bytes(bytes);
                let json = b < 0x80 && !JSON_ESCAPE[usize::from(b)];
                let xml = b < 0x80 && !XML_ESCAPE[usize::from(b)];
                assert_eq!(json_plain(w), json, "json {b:#x} at {at}");
                assert_eq!(xml_plain(w), xml, "xml {b:#x} at {at}");
            }
        }
    }

    fn j(s: &str) -> String {
        let mut out = Vec::new();
        json_string(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn x(s: &str) -> String {
        let mut out = Vec::new();
        xml_text(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_strings_escape_like_go() {
        assert_eq!(j("a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(
            j("q\"\\\n\r\t\u{8}\u{c}\u{1}"),
            r#""q\"\\\n\r\t\b\f\u0001""#
        );
        assert_eq!(j("x\u{2028}y\u{2029}é😀"), "\"x\\u2028y\\u2029é😀\"");
    }

    #[test]
    fn xml_text_escapes_like_go() {
        assert_eq!(
            x("a\"b'c&d<e>f\tg\nh\ri"),
            "a&#34;b&#39;c&amp;d&lt;e&gt;f&#x9;g&#xA;h&#xD;i"
        );
        assert_eq!(x("\u{1}\u{FFFE}é"), "\u{FFFD}\u{FFFD}é");
    }

    fn jf(v: f64, b32: bool) -> String {
        let mut out = Vec::new();
        json_float(&mut out, v, b32);
        String::from_utf8(out).unwrap()
    }

    fn xf(v: f64, b32: bool) -> String {
        let mut out = Vec::new();
        xml_float(&mut out, v, b32);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_format_like_go() {
        assert_eq!(jf(1.5, false), "1.5");
        assert_eq!(jf(1e21, false), "1e+21");
        assert_eq!(jf(1e-7, false), "1e-7");
        assert_eq!(jf(123456789.0, false), "123456789");
        assert_eq!(jf(0.1, true), "0.1");
        assert_eq!(xf(123456789.0, false), "1.23456789e+08");
        assert_eq!(xf(1e-5, false), "1e-05");
        assert_eq!(xf(0.0001, false), "0.0001");
        assert_eq!(xf(123456.0, false), "123456");
        assert_eq!(xf(1e21, false), "1e+21");
        assert_eq!(xf(0.0, false), "0");
        assert_eq!(xf(f64::INFINITY, false), "+Inf");
    }

    #[test]
    fn times_format_like_go() {
        let t: DateTime = "2026-11-27T02:47:56.34807577Z".parse().unwrap();
        let mut out = Vec::new();
        rfc3339_nano(&mut out, t);
        assert_eq!(out, b"2026-11-27T02:47:56.34807577Z");
        out.clear();
        rfc3339_nano(&mut out, "1969-12-31T23:59:59.5Z".parse().unwrap());
        assert_eq!(out, b"1969-12-31T23:59:59.5Z");
        out.clear();
        rfc3339_nano(&mut out, "2024-02-29T00:00:00Z".parse().unwrap());
        assert_eq!(out, b"2024-02-29T00:00:00Z");
    }

    #[test]
    fn ints_and_base64() {
        let mut out = Vec::new();
        int(&mut out, i64::MIN);
        out.push(b' ');
        int(&mut out, 0);
        out.push(b' ');
        base64(&mut out, b"ab");
        assert_eq!(out, b"-9223372036854775808 0 YWI=");
    }
}

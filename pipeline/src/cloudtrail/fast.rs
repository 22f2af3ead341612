//! A hand-written parser for the one shape that makes up nearly all input: a CloudTrail event
//! object in text already checked to be UTF-8. It fills the same [`RawEvent`] as the serde
//! path, finds string ends with a vectorised search instead of byte by byte, and checks the
//! JSON it skips (nested values kept as raw text) as strictly as serde_json does.
//!
//! It only ever says "yes, exactly this" or "not mine": on anything unusual (a number where a
//! string belongs, an identity that is not an object, an invalid escape, too deep a nesting,
//! the end of the input) it returns `None` and the caller parses the record with serde_json,
//! which decides and explains. Tests check that both parsers agree wherever this one answers.

use std::borrow::Cow;

use super::record::{
    Fields, RawEvent, Scalar, SessionAttributes, SessionContext, SessionIssuer, UserIdentity,
};

/// Nesting this parser follows before it leaves the record to serde_json (whose limit is 128).
const MAX_DEPTH: usize = 100;

/// Parse the event object at the start of `text` (after optional whitespace). On success,
/// the event and the number of bytes up to the end of the object.
///
/// `no_control` says that `text` holds no control character at all (see [`no_control`]), so
/// that strings need not be checked for them one by one.
pub fn parse_event(text: &str, no_control: bool) -> Option<(RawEvent<'_>, usize)> {
    let mut p = Parser {
        s: text,
        b: text.as_bytes(),
        i: 0,
        no_control,
    };
    p.ws();
    if p.peek()? != b'{' {
        return None;
    }
    let mut ev = RawEvent::default();
    p.object(|p, key| {
        if key == "userIdentity" {
            ev.user_identity = p.user_identity()?;
        } else if let Some(slot) = ev.scalar_slot(&key) {
            *slot = p.scalar()?;
        } else {
            let raw = p.raw()?;
            ev.set_raw(key, raw);
        }
        Some(true)
    })?;
    Some((ev, p.i))
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// The whole input is free of control characters: strings need no check.
    no_control: bool,
}

/// Whether `text` has no control character (below 0x20) anywhere, whitespace included: true of
/// most CloudTrail objects, which are one line of JSON. One vectorised pass over the input.
pub fn no_control(text: &str) -> bool {
    // The least byte of each block (a vector minimum), compared once.
    let mut chunks = text.as_bytes().chunks_exact(64);
    for chunk in &mut chunks {
        if chunk.iter().fold(u8::MAX, |m, &c| m.min(c)) < 0x20 {
            return false;
        }
    }
    !chunks.remainder().iter().any(|&c| c < 0x20)
}

/// Whether any byte is a control character, which JSON does not allow unescaped in strings.
/// Eight bytes at a time: a byte below 0x20 borrows when 0x20 is subtracted from it.
fn has_control(bytes: &[u8]) -> bool {
    const LOW: u64 = 0x2020_2020_2020_2020;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut acc = 0u64;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        acc |= x.wrapping_sub(LOW) & !x & HIGH;
    }
    acc != 0 || chunks.remainder().iter().any(|&c| c < 0x20)
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? != word {
            return None;
        }
        self.i += word.len();
        Some(())
    }

    /// The string at the cursor (a quote): where its content starts and ends, and whether it
    /// has escapes. The cursor moves past the closing quote.
    fn string_span(&mut self) -> Option<(usize, usize, bool)> {
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            let k = j + memchr::memchr2(b'"', b'\\', self.b.get(j..)?)?;
            if !self.no_control && has_control(&self.b[j..k]) {
                return None;
            }
            if self.b[k] == b'"' {
                self.i = k + 1;
                return Some((start, k, escaped));
            }
            escaped = true;
            j = match *self.b.get(k + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => k + 2,
                b'u' if self.b.get(k + 2..k + 6)?.iter().all(u8::is_ascii_hexdigit) => k + 6,
                _ => return None,
            };
        }
    }

    /// A string value, borrowed unless it has escapes (decoded by serde_json then).
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let (start, end, escaped) = self.string_span()?;
        if escaped {
            let quoted = self.s.get(start - 1..end + 1)?;
            serde_json::from_str::<String>(quoted).ok().map(Cow::Owned)
        } else {
            self.s.get(start..end).map(Cow::Borrowed)
        }
    }

    /// A value where a scalar column belongs. Numbers go to serde_json (they never appear in
    /// these fields in practice, and its number rules are the reference).
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Scalar::Str),
            b't' => self.literal(b"true").map(|_| Scalar::Bool(true)),
            b'f' => self.literal(b"false").map(|_| Scalar::Bool(false)),
            b'n' => self.literal(b"null").map(|_| Scalar::Null),
            b'{' | b'[' => self.skip(1).map(|_| Scalar::Compound),
            _ => None,
        }
    }

    /// Read a scalar into `slot`; `Some(false)` when the key has no slot (an unknown key).
    fn scalar_into(&mut self, slot: Option<&mut Scalar<'a>>) -> Option<bool> {
        match slot {
            Some(slot) => {
                *slot = self.scalar()?;
                Some(true)
            }
            None => Some(false),
        }
    }

    /// Any value, as its raw text.
    fn raw(&mut self) -> Option<&'a str> {
        let start = self.i;
        self.skip(1)?;
        self.s.get(start..self.i)
    }

    /// An object at the cursor; `field` reads the value of a key it knows (true) or says it
    /// does not know it (false: the value is skipped). Some(whether every key was known).
    fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, Cow<'a, str>) -> Option<bool>,
    ) -> Option<bool> {
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(true);
        }
        let mut known = true;
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.ws();
            self.literal(b":")?;
            self.ws();
            if !field(self, key)? {
                self.skip(2)?;
                known = false;
            }
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(known);
                }
                _ => return None,
            }
        }
    }

    /// Skip one value, checking that it is valid JSON.
    fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string_span().map(|_| ()),
            b'{' if depth < MAX_DEPTH => self
                .object(|p, _| p.skip(depth + 1).map(|_| true))
                .map(|_| ()),
            b'[' if depth < MAX_DEPTH => {
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        let digits = |p: &mut Self| {
            let n = p.b[p.i..].iter().take_while(|c| c.is_ascii_digit()).count();
            p.i += n;
            n
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        // A number must end here: serde_json reads `0123` as an error, for one.
        match self.peek() {
            Some(c) if c.is_ascii_alphanumeric() || c == b'.' => None,
            _ => Some(()),
        }
    }

    /// `userIdentity`: null, or an object. Anything else goes to serde_json.
    fn user_identity(&mut self) -> Option<Option<UserIdentity<'a>>> {
        match self.peek()? {
            b'n' => self.literal(b"null").map(|_| None),
            b'{' => {
                let mut ui = UserIdentity::default();
                let known = self.object(|p, key| {
                    if key == "sessionContext" {
                        ui.session_context = p.nested(|p, sc: &mut SessionContext<'a>, key| {
                            match key {
                                "sessionIssuer" => {
                                    sc.session_issuer =
                                        p.nested(|p, si: &mut SessionIssuer<'a>, key| {
                                            p.scalar_into(si.scalar_slot(key))
                                        })?
                                }
                                "attributes" => {
                                    sc.attributes =
                                        p.nested(|p, a: &mut SessionAttributes<'a>, key| {
                                            p.scalar_into(a.scalar_slot(key))
                                        })?
                                }
                                "sourceIdentity" => sc.source_identity = p.scalar()?,
                                _ => return Some(false),
                            }
                            Some(true)
                        })?;
                        Some(true)
                    } else {
                        p.scalar_into(ui.scalar_slot(&key))
                    }
                })?;
                ui.finish(known);
                Some(Some(ui))
            }
            _ => None,
        }
    }

    /// A nested part of the identity: null, or an object read by `field`.
    fn nested<T: Default + Fields<'a>>(
        &mut self,
        mut field: impl FnMut(&mut Self, &mut T, &str) -> Option<bool>,
    ) -> Option<Option<T>> {
        match self.peek()? {
            b'n' => self.literal(b"null").map(|_| None),
            b'{' => {
                let mut out = T::default();
                let known = self.object(|p, key| field(p, &mut out, key.as_ref()))?;
                out.finish(known);
                Some(Some(out))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both parsers on the same text: where the fast one answers, serde_json must agree.
    pub(super) fn agree(text: &str) -> bool {
        let fast = parse_event(text, false);
        // Knowing the text free of control characters changes nothing but the work done.
        if no_control(text) {
            assert_eq!(
                format!("{:?}", parse_event(text, true)),
                format!("{fast:?}"),
                "{text}"
            );
        }
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<RawEvent>();
        let slow = stream.next();
        match (fast, slow) {
            (Some((f, took)), Some(Ok(s))) => {
                assert_eq!(format!("{f:?}"), format!("{s:?}"), "{text}");
                assert_eq!(took, stream.byte_offset(), "{text}");
                true
            }
            (Some((f, _)), other) => {
                panic!("fast parser accepted what serde_json did not: {text}\n{f:?}\n{other:?}")
            }
            (None, _) => false,
        }
    }

    const SAMPLE: &str = r#"  {"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:fn",
        "arn":"arn:aws:sts::123456789012:assumed-role/r/fn","accountId":"123456789012","accessKeyId":"ASIA",
        "sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA","arn":"arn:aws:iam::123456789012:role/r",
        "accountId":"123456789012","userName":"r"},"webIdFederationData":{},"attributes":{"creationDate":"2024-01-01T00:00:00Z",
        "mfaAuthenticated":"false"}},"invokedBy":"lambda.amazonaws.com"},"eventTime":"2024-01-01T00:00:01Z",
        "eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1",
        "userAgent":"aws-sdk \"quoted\" \u00e9 \ud83d\ude00","requestParameters":{"bucketName":"b","key":"k\n","n":[1,-2.5e3,0,true,false,null,{}]},
        "responseElements":null,"additionalEventData":{"x":[[],[[]]]},"requestID":"R","eventID":"E","readOnly":true,
        "resources":[{"ARN":"arn:aws:s3:::b","type":"AWS::S3::Object"}],"eventType":"AwsApiCall","managementEvent":false,
        "recipientAccountId":"123456789012","eventCategory":"Data","tlsDetails":{"tlsVersion":"TLSv1.3"},
        "newKey":{"deep":"value"},"errorCode":{"odd":1},"vpcEndpointId":null,"eventName":"GetObjectAgain"} ,"#;

    #[test]
    fn agrees_with_serde_on_a_full_event() {
        assert!(agree(SAMPLE));
        assert!(agree(r#"{}"#));
        assert!(agree(r#"{"userIdentity":null,"a":1}"#));
    }

    #[test]
    fn leaves_unusual_values_to_serde() {
        for text in [
            r#"{"eventName":5}"#,
            r#"{"userIdentity":"root"}"#,
            r#"{"userIdentity":{"sessionContext":[1]}}"#,
            r#"{"a":"bad \x escape"}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":tru}"#,
            "{\"a\":\"raw\ttab\"}",
            r#"{"a":[1,]}"#,
            r#"{"a":{"b":1,}}"#,
            r#"{"a" 1}"#,
            r#"{"a":1"#,
            r#"[]"#,
        ] {
            assert!(!agree(text), "{text}");
        }
        let deep = format!(r#"{{"a":{}{}}}"#, "[".repeat(150), "]".repeat(150));
        assert!(!agree(&deep));
    }

    /// Every truncation and many single-byte changes of a real-shaped event: the fast parser
    /// either declines or gives exactly what serde_json gives.
    #[test]
    fn damaged_input_never_parses_differently() {
        let text = SAMPLE.trim_end_matches([' ', ',']);
        let mut answered = 0;
        for cut in 0..text.len() {
            if let Some(t) = text.get(..cut) {
                answered += usize::from(agree(t));
            }
        }
        assert_eq!(answered, 0, "a truncated object is never complete");
        for (pos, _) in text.char_indices() {
            for replacement in [
                "\"", "\\", "{", "}", "[", "]", ",", ":", "1", "a", " ", "\u{1}",
            ] {
                let mut t = String::with_capacity(text.len());
                t.push_str(&text[..pos]);
                t.push_str(replacement);
                t.push_str(&text[pos + text[pos..].chars().next().unwrap().len_utf8()..]);
                agree(&t);
            }
        }
    }
}

/// The fast parser against serde_json on every CloudTrail sample of the repository's
/// `tests/data`.
#[cfg(test)]
mod sample_data {
    use std::io::Read;

    use serde_json::value::RawValue;

    fn objects(text: &str, out: &mut Vec<String>) {
        for value in serde_json::Deserializer::from_str(text).into_iter::<&RawValue>() {
            let Ok(value) = value else { return };
            let raw = value.get();
            if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw) {
                items.iter().for_each(|i| out.push(i.get().to_string()));
            } else if let Ok(env) =
                serde_json::from_str::<std::collections::HashMap<String, &RawValue>>(raw)
            {
                match env.get("Records") {
                    Some(records) => objects(records.get(), out),
                    None => out.push(raw.to_string()),
                }
            }
        }
    }

    #[test]
    fn agrees_with_serde_on_every_sample() {
        let root = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test"),
        )
        .join("../tests/data");
        let mut records = Vec::new();
        let mut stack: Vec<_> = [
            "stratus_red_team_detonation_logs",
            "cloudtrail_edge_cases",
            "traildiscover_event_catalog",
            "awsdocs_cloudtrail_log_examples",
        ]
        .iter()
        .map(|d| root.join(d))
        .collect();
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let mut text = String::new();
            if bytes.starts_with(&[0x1f, 0x8b]) {
                if flate2::read::MultiGzDecoder::new(&bytes[..])
                    .read_to_string(&mut text)
                    .is_err()
                {
                    continue;
                }
            } else if let Ok(t) = String::from_utf8(bytes) {
                text = t;
            }
            objects(&text, &mut records);
        }
        let answered = records.iter().filter(|r| super::tests::agree(r)).count();
        eprintln!(
            "{answered} of {} sample records parsed by the fast path",
            records.len()
        );
        assert!(records.len() > 1000, "found {} records", records.len());
        assert!(
            answered * 10 > records.len() * 9,
            "{answered} of {}",
            records.len()
        );
    }
}

#[cfg(test)]
mod control {
    #[test]
    fn control_characters_found_anywhere() {
        for len in 0..40 {
            let clean = vec![b'a'; len];
            assert!(!super::has_control(&clean));
            for at in 0..len {
                for c in [0u8, 0x09, 0x1f] {
                    let mut b = clean.clone();
                    b[at] = c;
                    assert!(super::has_control(&b), "{len} {at} {c}");
                }
                let mut b = clean.clone();
                b[at] = 0x20;
                b[len - 1 - at] = 0xff;
                assert!(!super::has_control(&b));
            }
        }
    }
}

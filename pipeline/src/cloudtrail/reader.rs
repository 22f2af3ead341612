//! The CloudTrail reader: turns the bytes of one source object into records, whatever its
//! shape, without ever giving up on the good records of a damaged input.
//!
//! Shapes: S3 delivery files (`{"Records":[…]}`), plain JSON arrays of events, NDJSON or a
//! single event (also wrapped as an EventBridge event in `detail`), and `aws cloudtrail
//! lookup-events` output (`{"Events":[{"CloudTrailEvent":"<json>"}]}`). Gzip is recognised by
//! its magic bytes, not its name. Digest files and JSON that holds no CloudTrail events at
//! all are reported as such, not as errors.
//!
//! The input is read in chunks into one buffer and parsed record by record straight from it
//! (serde borrows from the buffer), so memory stays bounded by the chunk size plus the
//! largest record, whatever the size of the file. A record that does not parse is cut out
//! with a string-aware bracket scanner and handed to the sink as a bad record; parsing goes
//! on after it. A record larger than `max_record_bytes` is skipped without being buffered.

use std::io::{self, Read};

use serde_json::value::RawValue;

use super::fast;
use super::record::{LookupEvent, RawEvent};
use crate::gzip::Inflater;

/// What to do with the records of one object.
pub trait RecordSink {
    /// A record that parsed as a JSON object. `index` counts every record of the object,
    /// good or bad; `raw` is the record's text as it stands in the input.
    fn record(&mut self, index: u64, event: &RawEvent<'_>, raw: &[u8]);
    /// Input that could not be read as a record. `index` is `None` for input between
    /// records (a damaged tail, garbage between lines); `offset` is the byte offset in the
    /// decompressed object; `raw` may be empty when the bytes were not kept (too large).
    fn bad_record(&mut self, index: Option<u64>, offset: u64, raw: &[u8], reason: &str);
}

/// Limits of the reader.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// How many bytes to read at a time.
    pub chunk_bytes: usize,
    /// Records larger than this are skipped (and reported) instead of buffered.
    pub max_record_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            chunk_bytes: 8 << 20,
            max_record_bytes: 128 << 20,
        }
    }
}

/// What the object turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// CloudTrail events (possibly none, as in `{"Records":[]}`).
    Events,
    /// A CloudTrail digest file.
    Digest,
    /// JSON that holds no CloudTrail event (no event field in its only object).
    NotCloudTrail,
    /// Nothing but whitespace.
    Empty,
    /// Not JSON at all; the reason says what was found.
    NotJson(String),
}

/// The outcome of reading one object.
#[derive(Debug, Clone)]
pub struct ReadReport {
    pub shape: Shape,
    /// Records seen (good and bad) with a record index.
    pub records: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
    /// Whether the input was gzip.
    pub gzip: bool,
}

/// Read one object. `input` yields the object's bytes as stored (gzip or not).
pub fn read_object<R: Read, S: RecordSink>(
    input: R,
    buf: &mut Vec<u8>,
    opts: ReadOptions,
    sink: &mut S,
) -> ReadReport {
    let peek = PeekReader::new(input);
    let gzip = peek.starts_with(&[0x1f, 0x8b]);
    let report = if gzip {
        run(flate2::read::MultiGzDecoder::new(peek), buf, opts, sink)
    } else {
        run(peek, buf, opts, sink)
    };
    ReadReport { gzip, ..report }
}

/// Read one object held in memory whole (the bytes as stored), parsed in place. The usual
/// CloudTrail object, one gzip member, is inflated in one call ([`Inflater`]); other gzip
/// goes through [`read_object`]'s streaming inflater.
pub fn read_object_in_memory<S: RecordSink>(
    data: &[u8],
    inflater: &mut Inflater,
    buf: &mut Vec<u8>,
    opts: ReadOptions,
    sink: &mut S,
) -> ReadReport {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return run_in_memory(data, buf, opts, sink);
    }
    if let Some(plain) = inflater.inflate_single_member(data, opts.chunk_bytes) {
        let report = run_in_memory(plain, buf, opts, sink);
        return ReadReport {
            gzip: true,
            ..report
        };
    }
    read_object(data, buf, opts, sink)
}

/// A reader that can look at its first bytes before handing them on.
struct PeekReader<R> {
    inner: R,
    head: [u8; 2],
    head_len: usize,
    head_pos: usize,
    err: Option<io::Error>,
}

impl<R: Read> PeekReader<R> {
    fn new(mut inner: R) -> Self {
        let mut head = [0u8; 2];
        let mut head_len = 0;
        let mut err = None;
        while head_len < 2 {
            match inner.read(&mut head[head_len..]) {
                Ok(0) => break,
                Ok(n) => head_len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        PeekReader {
            inner,
            head,
            head_len,
            head_pos: 0,
            err,
        }
    }

    fn starts_with(&self, magic: &[u8]) -> bool {
        self.head[..self.head_len] == *magic
    }
}

impl<R: Read> Read for PeekReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.head_pos < self.head_len {
            let n = (self.head_len - self.head_pos).min(out.len());
            out[..n].copy_from_slice(&self.head[self.head_pos..self.head_pos + n]);
            self.head_pos += n;
            return Ok(n);
        }
        if let Some(e) = self.err.take() {
            return Err(e);
        }
        self.inner.read(out)
    }
}

/// A sliding window over the decompressed input.
struct Window<'b, 't, R> {
    input: R,
    buf: &'b mut Vec<u8>,
    /// The whole input, when it fit in one read and is valid UTF-8: then `buf` is unused and
    /// records are parsed from text, which spares validating every string again.
    text: &'t str,
    /// `text` has no control character (strings need no check for them).
    text_no_control: bool,
    pos: usize,
    end: usize,
    /// Bytes dropped from the front of the buffer so far.
    base: u64,
    eof: bool,
    err: Option<String>,
    chunk: usize,
}

impl<R: Read> Window<'_, '_, R> {
    fn avail(&self) -> &[u8] {
        if self.text.is_empty() {
            &self.buf[self.pos..self.end]
        } else {
            &self.text.as_bytes()[self.pos..self.end]
        }
    }

    /// The unconsumed input as text, when it is known to be valid UTF-8.
    fn avail_text(&self) -> Option<&str> {
        if self.text.is_empty() {
            None
        } else {
            self.text.get(self.pos..self.end)
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Read more input, keeping the unconsumed bytes. Returns false at the end of input.
    fn more(&mut self) -> bool {
        if self.eof || !self.text.is_empty() {
            return false;
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() < self.end + self.chunk {
            self.buf.resize(self.end + self.chunk, 0);
        }
        let before = self.end;
        while self.end < self.buf.len() {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.eof = true;
                    self.err = Some(e.to_string());
                    break;
                }
            }
        }
        self.end > before
    }

    fn skip_ws(&mut self) {
        let skip = self.avail().iter().take_while(|b| is_ws(**b)).count();
        self.pos += skip;
    }

    /// Skip whitespace, reading more as needed; the next byte, or None at the end.
    fn peek_non_ws(&mut self) -> Option<u8> {
        loop {
            self.skip_ws();
            if let Some(b) = self.avail().first() {
                return Some(*b);
            }
            if !self.more() {
                return None;
            }
        }
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between top-level values.
    Top,
    /// Inside an array of records: top-level (`[…]`) or an envelope's `Records`/`Events`.
    Elements { lookup: bool, envelope: bool },
    /// After an envelope's array: the rest of its object.
    EnvelopeTail,
}

/// Which element type a record slice holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Event,
    Lookup,
    TopLevel,
}

struct State<'s, S> {
    sink: &'s mut S,
    index: u64,
    events_seen: bool,
    digest: bool,
    /// A first top-level object with no CloudTrail field, held until we know whether the
    /// object holds events (then it is a bad record) or not (then the file is not ours).
    pending_non_event: Option<(u64, Vec<u8>)>,
    non_event_values: u64,
    /// Whether a top-level value was followed by a newline (NDJSON), so that a damaged line
    /// is cut at the next newline.
    ndjson: bool,
    /// The input's truncated tail was reported already.
    truncated: bool,
    opts: ReadOptions,
}

impl<S: RecordSink> State<'_, S> {
    fn next_index(&mut self) -> u64 {
        let i = self.index;
        self.index += 1;
        i
    }

    fn saw_event(&mut self) {
        if !self.events_seen {
            self.events_seen = true;
            if let Some((offset, raw)) = self.pending_non_event.take() {
                self.sink.bad_record(
                    Some(0),
                    offset,
                    &raw,
                    "not a CloudTrail event: it has no event fields",
                );
            }
        }
    }

    fn event(&mut self, ev: &RawEvent<'_>, raw: &[u8]) {
        self.saw_event();
        let i = self.next_index();
        self.sink.record(i, ev, raw);
    }

    fn bad(&mut self, offset: u64, raw: &[u8], reason: &str) {
        let i = self.next_index();
        self.sink.bad_record(Some(i), offset, raw, reason);
    }

    /// A record slice parsed from an array of records.
    fn element(&mut self, kind: Kind, slice: &[u8], offset: u64) -> Result<(), serde_json::Error> {
        match kind {
            Kind::Event => {
                let ev: RawEvent = serde_json::from_slice(slice)?;
                self.event(&ev, slice);
            }
            Kind::Lookup => {
                let lookup: LookupEvent = serde_json::from_slice(slice)?;
                match lookup.cloudtrail_event.str() {
                    Some(text) => match serde_json::from_str::<RawEvent>(text) {
                        Ok(ev) => self.event(&ev, text.as_bytes()),
                        Err(e) => self.bad(
                            offset,
                            slice,
                            &format!("CloudTrailEvent is not an event object: {e}"),
                        ),
                    },
                    None => self.bad(
                        offset,
                        slice,
                        "lookup-events entry without a CloudTrailEvent string",
                    ),
                }
            }
            Kind::TopLevel => self.top_level(slice, offset)?,
        }
        Ok(())
    }

    /// One top-level JSON value that is an object: an event, an EventBridge event, a digest,
    /// an envelope whose records are not its first key, or something else.
    fn top_level(&mut self, slice: &[u8], offset: u64) -> Result<(), serde_json::Error> {
        let ev: RawEvent = serde_json::from_slice(slice)?;
        if ev.is_digest() {
            self.digest = true;
            return Ok(());
        }
        if has_event_fields(&ev) {
            self.event(&ev, slice);
            return Ok(());
        }
        if let (Some(_), Some(detail)) = (ev.extra_value("detail-type"), ev.extra_value("detail")) {
            match serde_json::from_str::<RawEvent>(detail) {
                Ok(inner) => self.event(&inner, detail.as_bytes()),
                Err(e) => self.bad(
                    offset,
                    slice,
                    &format!("EventBridge detail is not an event object: {e}"),
                ),
            }
            return Ok(());
        }
        for (key, kind) in [("Records", Kind::Event), ("Events", Kind::Lookup)] {
            if let Some(records) = ev.extra_value(key) {
                match serde_json::from_str::<Vec<&RawValue>>(records) {
                    Ok(items) => {
                        self.saw_event();
                        for item in items {
                            let bytes = item.get().as_bytes();
                            if let Err(e) = self.element(kind, bytes, offset) {
                                self.bad(offset, bytes, &e.to_string());
                            }
                        }
                    }
                    Err(e) => self.bad(offset, slice, &format!("{key} is not an array: {e}")),
                }
                return Ok(());
            }
        }
        self.non_event_values += 1;
        if self.events_seen || self.non_event_values > 1 {
            self.bad(
                offset,
                slice,
                "not a CloudTrail event: it has no event fields",
            );
        } else {
            self.pending_non_event = Some((offset, slice.to_vec()));
        }
        Ok(())
    }
}

fn has_event_fields(ev: &RawEvent<'_>) -> bool {
    ev.event_time.is_present()
        || ev.event_name.is_present()
        || ev.event_version.is_present()
        || ev.event_source.is_present()
        || ev.event_id.is_present()
        || ev.user_identity.is_some()
}

/// If `avail` starts an envelope object (`{"Records":[` or `{"Events":[`), the number of
/// bytes up to and including the `[` and whether it is lookup-events output. `Err(())` means
/// more input is needed to decide.
fn envelope_prefix(avail: &[u8], at_eof: bool) -> Result<Option<(usize, bool)>, ()> {
    let mut i = 1; // past '{'
    let skip = |i: &mut usize| {
        while *i < avail.len() && is_ws(avail[*i]) {
            *i += 1;
        }
    };
    skip(&mut i);
    let need_more = |i: usize| {
        if i >= avail.len() && !at_eof {
            Err(())
        } else {
            Ok(None)
        }
    };
    if i >= avail.len() {
        return need_more(i);
    }
    let rest = &avail[i..];
    let (key_len, lookup) = if rest.starts_with(b"\"Records\"") {
        (9, false)
    } else if rest.starts_with(b"\"Events\"") {
        (8, true)
    } else if rest.len() < 9 && !at_eof {
        return Err(());
    } else {
        return Ok(None);
    };
    i += key_len;
    skip(&mut i);
    if i >= avail.len() {
        return need_more(i);
    }
    if avail[i] != b':' {
        return Ok(None);
    }
    i += 1;
    skip(&mut i);
    if i >= avail.len() {
        return need_more(i);
    }
    if avail[i] != b'[' {
        return Ok(None);
    }
    Ok(Some((i + 1, lookup)))
}

/// A resumable scanner that finds where one JSON value ends, counting brackets outside
/// strings. It does not validate; it only finds boundaries, so that a bad record can be cut
/// out and the next one read.
#[derive(Default)]
struct ValueEnd {
    depth: u32,
    in_string: bool,
    escape: bool,
    started: bool,
    scalar: bool,
}

impl ValueEnd {
    /// Feed bytes; returns the offset just past the value's end when it ends in `bytes`.
    fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if self.in_string {
                match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                    None if self.escape => {
                        self.escape = false;
                        i += 1;
                        continue;
                    }
                    None => return None,
                    Some(_) if self.escape => {
                        self.escape = false;
                        i += 1;
                        continue;
                    }
                    Some(j) => {
                        i += j;
                        if bytes[i] == b'\\' {
                            self.escape = true;
                        } else {
                            self.in_string = false;
                            if self.started && self.depth == 0 && !self.scalar {
                                return Some(i + 1);
                            }
                        }
                        i += 1;
                        continue;
                    }
                }
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    self.started = true;
                }
                b'{' | b'[' => {
                    self.depth += 1;
                    self.started = true;
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        // A scalar (or nothing) ended at the enclosing container's close.
                        return Some(i);
                    }
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                b',' if self.depth == 0 && self.started => return Some(i),
                _ if is_ws(b) => {
                    if self.depth == 0 && self.scalar {
                        return Some(i);
                    }
                }
                _ => {
                    if self.depth == 0 {
                        self.scalar = true;
                        self.started = true;
                    }
                }
            }
            i += 1;
        }
        None
    }
}

fn new_state<S: RecordSink>(sink: &mut S, opts: ReadOptions) -> State<'_, S> {
    State {
        sink,
        index: 0,
        events_seen: false,
        digest: false,
        pending_non_event: None,
        non_event_values: 0,
        ndjson: false,
        truncated: false,
        opts,
    }
}

/// Parse valid UTF-8 text holding the whole object.
fn drive_text<S: RecordSink>(text: &str, chunk: usize, st: &mut State<'_, S>) -> Drive {
    let mut unused = Vec::new();
    let mut tw = Window {
        input: io::empty(),
        buf: &mut unused,
        text,
        text_no_control: fast::no_control(text),
        pos: 0,
        end: text.len(),
        base: 0,
        eof: true,
        err: None,
        chunk,
    };
    drive(&mut tw, st)
}

fn run<R: Read, S: RecordSink>(
    input: R,
    buf: &mut Vec<u8>,
    opts: ReadOptions,
    sink: &mut S,
) -> ReadReport {
    let chunk = opts.chunk_bytes.max(4096);
    let mut w = Window {
        input,
        buf,
        text: "",
        text_no_control: false,
        pos: 0,
        end: 0,
        base: 0,
        eof: false,
        err: None,
        chunk,
    };
    let mut st = new_state(sink, opts);
    w.more();
    // The usual object (a delivery file of a few MB at most) arrives in one read: check its
    // UTF-8 once and parse it as text.
    let whole_text = if w.eof && w.err.is_none() && w.pos == 0 {
        simdutf8::basic::from_utf8(&w.buf[..w.end]).ok()
    } else {
        None
    };
    let (drive, bytes) = match whole_text {
        Some(text) => (drive_text(text, chunk, &mut st), text.len() as u64),
        None => {
            let drive = drive(&mut w, &mut st);
            (drive, w.base + w.end as u64)
        }
    };
    let report = report(&st, drive, bytes);
    // A huge input may have grown the buffer: give the memory back.
    if buf_len(&w) > 4 * chunk {
        w.buf.truncate(chunk);
        w.buf.shrink_to_fit();
    }
    report
}

/// Like [`run`], for an input held in memory: valid UTF-8 is parsed in place.
fn run_in_memory<S: RecordSink>(
    data: &[u8],
    buf: &mut Vec<u8>,
    opts: ReadOptions,
    sink: &mut S,
) -> ReadReport {
    // Larger inputs go through the window, which bounds what one record may hold.
    let chunk = opts.chunk_bytes.max(4096);
    let text = (data.len() <= chunk)
        .then(|| simdutf8::basic::from_utf8(data).ok())
        .flatten();
    match text {
        Some(text) => {
            let mut st = new_state(sink, opts);
            let drive = drive_text(text, chunk, &mut st);
            report(&st, drive, text.len() as u64)
        }
        None => run(data, buf, opts, sink),
    }
}

fn report<S: RecordSink>(st: &State<'_, S>, drive: Drive, bytes: u64) -> ReadReport {
    let Drive {
        values_seen,
        not_json,
    } = drive;
    let shape = if let Some(reason) = not_json {
        Shape::NotJson(reason)
    } else if st.digest && !st.events_seen {
        Shape::Digest
    } else if values_seen == 0 {
        Shape::Empty
    } else if !st.events_seen && st.pending_non_event.is_some() && st.index == 0 {
        Shape::NotCloudTrail
    } else {
        Shape::Events
    };
    ReadReport {
        shape,
        records: st.index,
        bytes,
        gzip: false,
    }
}

fn buf_len<R>(w: &Window<'_, '_, R>) -> usize {
    w.buf.len().max(w.buf.capacity())
}

struct Drive {
    values_seen: u64,
    not_json: Option<String>,
}

/// Read the records of the window's input, to its end.
fn drive<R: Read, S: RecordSink>(w: &mut Window<'_, '_, R>, st: &mut State<'_, S>) -> Drive {
    let w = &mut *w;
    let mut mode = Mode::Top;
    let mut values_seen = 0u64;
    let mut not_json: Option<String> = None;

    loop {
        match mode {
            Mode::Top => {
                let Some(b) = w.peek_non_ws() else { break };
                match b {
                    b'[' => {
                        w.pos += 1;
                        values_seen += 1;
                        mode = Mode::Elements {
                            lookup: false,
                            envelope: false,
                        };
                    }
                    b'{' => {
                        let decided = loop {
                            match envelope_prefix(w.avail(), w.eof) {
                                Ok(d) => break d,
                                Err(()) => {
                                    if !w.more() {
                                        break envelope_prefix(w.avail(), true).unwrap_or(None);
                                    }
                                }
                            }
                        };
                        values_seen += 1;
                        if let Some((n, lookup)) = decided {
                            w.pos += n;
                            // An envelope holds events even when its array is empty.
                            st.saw_event();
                            mode = Mode::Elements {
                                lookup,
                                envelope: true,
                            };
                        } else {
                            parse_value(w, st, Kind::TopLevel);
                            // NDJSON: a value followed by a line break.
                            let rest = w.avail();
                            let mut j = 0;
                            while j < rest.len() && matches!(rest[j], b' ' | b'\t' | b'\r') {
                                j += 1;
                            }
                            if j < rest.len() && rest[j] == b'\n' {
                                st.ndjson = true;
                            }
                        }
                    }
                    _ => {
                        if values_seen == 0 {
                            not_json = Some(describe_start(w.avail()));
                            break;
                        }
                        // Garbage between top-level values: cut to the end of the line.
                        cut_line(w, st, "not JSON: garbage between records");
                    }
                }
            }
            Mode::Elements { lookup, envelope } => {
                let Some(b) = w.peek_non_ws() else {
                    if st.truncated {
                        break;
                    }
                    let offset = w.offset();
                    let reason = match &w.err {
                        Some(e) => format!("input ends inside the array of records: {e}"),
                        None => "input ends inside the array of records (truncated?)".to_string(),
                    };
                    st.sink.bad_record(None, offset, &[], &reason);
                    w.err = None;
                    break;
                };
                match b {
                    b']' => {
                        w.pos += 1;
                        mode = if envelope {
                            Mode::EnvelopeTail
                        } else {
                            Mode::Top
                        };
                    }
                    b',' => w.pos += 1,
                    _ => {
                        let kind = if lookup { Kind::Lookup } else { Kind::Event };
                        parse_value(w, st, kind);
                    }
                }
            }
            Mode::EnvelopeTail => {
                // Other members of the envelope object are not records: skip them.
                let Some(b) = w.peek_non_ws() else { break };
                match b {
                    b'}' => {
                        w.pos += 1;
                        mode = Mode::Top;
                    }
                    b',' | b':' => w.pos += 1,
                    _ => {
                        let offset = w.offset();
                        match find_end(w, st.opts.max_record_bytes) {
                            Some(n) => w.pos += n.max(1),
                            None => {
                                st.sink.bad_record(
                                    None,
                                    offset,
                                    &[],
                                    "input ends inside the envelope object",
                                );
                                break;
                            }
                        }
                    }
                }
            }
        }
    }

    if let Some(e) = w.err.take() {
        let offset = w.offset();
        let tail = w.avail().to_vec();
        st.sink
            .bad_record(None, offset, &tail, &format!("input ends early: {e}"));
    }
    Drive {
        values_seen,
        not_json,
    }
}

fn describe_start(avail: &[u8]) -> String {
    let head: String = String::from_utf8_lossy(&avail[..avail.len().min(24)])
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    format!("not JSON: starts with {head:?}")
}

/// Cut the input up to the next line break and report it as a bad record.
fn cut_line<R: Read, S: RecordSink>(
    w: &mut Window<'_, '_, R>,
    st: &mut State<'_, S>,
    reason: &str,
) {
    loop {
        if let Some(n) = memchr::memchr(b'\n', w.avail()) {
            let offset = w.offset();
            let raw = w.avail()[..n].to_vec();
            st.bad(offset, &raw, reason);
            w.pos += n + 1;
            return;
        }
        if w.avail().len() > st.opts.max_record_bytes || !w.more() {
            let offset = w.offset();
            let raw = w.avail().to_vec();
            st.bad(offset, &raw, reason);
            w.pos = w.end;
            return;
        }
    }
}

/// Find the end of the value at the window's position, reading more input as needed (up to
/// `max` bytes buffered). `None` when the input ends first.
fn find_end<R: Read>(w: &mut Window<'_, '_, R>, max: usize) -> Option<usize> {
    let mut scanner = ValueEnd::default();
    let mut scanned = 0;
    loop {
        if let Some(n) = scanner.feed(&w.avail()[scanned..]) {
            return Some(scanned + n);
        }
        scanned = w.avail().len();
        if scanned > max || !w.more() {
            return None;
        }
    }
}

/// Parse one record at the window's position and hand it to the sink (good or bad),
/// reading more input when the record runs past the buffer.
fn parse_value<R: Read, S: RecordSink>(
    w: &mut Window<'_, '_, R>,
    st: &mut State<'_, S>,
    kind: Kind,
) {
    loop {
        let offset = w.offset();
        let avail = w.avail();
        // Events, the bulk of every input, are parsed in one pass straight into RawEvent;
        // the other shapes go through a raw slice first.
        let result = if kind == Kind::Event {
            match w.avail_text() {
                Some(text) => match fast::parse_event(text, w.text_no_control) {
                    Some((ev, took)) => {
                        st.event(&ev, trim_ws(&avail[..took]));
                        Ok(took)
                    }
                    None => parse_event(serde_json::Deserializer::from_str(text), avail, st),
                },
                None => parse_event(serde_json::Deserializer::from_slice(avail), avail, st),
            }
        } else {
            let mut stream = serde_json::Deserializer::from_slice(avail).into_iter::<&RawValue>();
            match stream.next() {
                Some(Ok(raw)) => {
                    let took = stream.byte_offset();
                    let slice = raw.get().as_bytes();
                    if let Err(e) = st.element(kind, slice, offset) {
                        st.bad(offset, slice, &e.to_string());
                    }
                    Ok(took)
                }
                Some(Err(e)) => Err(Some(e)),
                None => Err(None),
            }
        };
        match result {
            Ok(took) => {
                w.pos += took;
                return;
            }
            Err(Some(e)) if e.is_eof() && !w.eof => {
                if w.avail().len() > st.opts.max_record_bytes {
                    skip_huge(w, st, offset);
                    return;
                }
                w.more();
            }
            Err(Some(e)) if e.is_eof() => {
                let reason = match w.err.take() {
                    Some(err) => format!("input ends inside a record: {err}"),
                    None => "input ends inside a record (truncated?)".to_string(),
                };
                let tail = w.avail().to_vec();
                st.bad(offset, &tail, &reason);
                st.truncated = true;
                w.pos = w.end;
                return;
            }
            Err(Some(e)) => {
                cut_bad(w, st, kind, &format!("invalid record: {e}"));
                return;
            }
            Err(None) => {
                // Only whitespace left in the buffer.
                w.pos = w.end;
                if !w.more() {
                    return;
                }
            }
        }
    }
}

/// Parse one event from the start of `avail` (the same input `de` reads) into the sink.
/// `Ok(bytes taken)`; `Err(None)` when only whitespace is left.
fn parse_event<'de, R: serde_json::de::Read<'de>, S: RecordSink>(
    de: serde_json::Deserializer<R>,
    avail: &[u8],
    st: &mut State<'_, S>,
) -> Result<usize, Option<serde_json::Error>> {
    let mut stream = de.into_iter::<RawEvent<'de>>();
    match stream.next() {
        Some(Ok(ev)) => {
            let took = stream.byte_offset();
            st.event(&ev, trim_ws(&avail[..took]));
            Ok(took)
        }
        Some(Err(e)) => Err(Some(e)),
        None => Err(None),
    }
}

fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ws(*first) {
            break;
        }
        s = rest;
    }
    s
}

/// Cut out a record that is not valid JSON.
fn cut_bad<R: Read, S: RecordSink>(
    w: &mut Window<'_, '_, R>,
    st: &mut State<'_, S>,
    kind: Kind,
    reason: &str,
) {
    let offset = w.offset();
    if kind == Kind::TopLevel && st.ndjson {
        cut_line(w, st, reason);
        return;
    }
    let max = st.opts.max_record_bytes;
    match find_end(w, max) {
        Some(n) => {
            let n = n.max(1);
            let raw = w.avail()[..n].to_vec();
            st.bad(offset, &raw, reason);
            w.pos += n;
        }
        None if w.avail().len() > max => skip_huge(w, st, offset),
        None => {
            let raw = w.avail().to_vec();
            st.bad(offset, &raw, reason);
            w.pos = w.end;
        }
    }
}

/// Skip a record too large to buffer, reporting where it was.
fn skip_huge<R: Read, S: RecordSink>(
    w: &mut Window<'_, '_, R>,
    st: &mut State<'_, S>,
    offset: u64,
) {
    let mut scanner = ValueEnd::default();
    loop {
        if let Some(n) = scanner.feed(w.avail()) {
            w.pos += n;
            let len = w.offset() - offset;
            st.bad(
                offset,
                &[],
                &format!(
                    "record of {len} bytes exceeds the limit of {} bytes; not kept here, it is at byte offset {offset} of the decompressed source",
                    st.opts.max_record_bytes
                ),
            );
            return;
        }
        w.pos = w.end;
        if !w.more() {
            let len = w.offset() - offset;
            st.bad(
                offset,
                &[],
                &format!("input ends inside a record of at least {len} bytes (larger than the limit; not kept)"),
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Default)]
    struct Collect {
        good: Vec<(u64, String)>,
        bad: Vec<(Option<u64>, String, String)>,
    }

    impl RecordSink for Collect {
        fn record(&mut self, index: u64, event: &RawEvent<'_>, _raw: &[u8]) {
            self.good.push((
                index,
                event
                    .event_name
                    .text()
                    .map(|s| s.into_owned())
                    .unwrap_or_default(),
            ));
        }
        fn bad_record(&mut self, index: Option<u64>, _offset: u64, raw: &[u8], reason: &str) {
            self.bad.push((
                index,
                String::from_utf8_lossy(raw).into_owned(),
                reason.to_string(),
            ));
        }
    }

    /// Read through the streaming reader and through the in-memory one (libdeflate, text in
    /// place), which must agree on everything.
    fn read_with(bytes: &[u8], opts: ReadOptions) -> (ReadReport, Collect) {
        let mut sink = Collect::default();
        let mut buf = Vec::new();
        let report = read_object(bytes, &mut buf, opts, &mut sink);
        let mut mem_sink = Collect::default();
        let mem = read_object_in_memory(
            bytes,
            &mut Inflater::default(),
            &mut Vec::new(),
            opts,
            &mut mem_sink,
        );
        assert_eq!(
            (&mem.shape, mem.records, mem.bytes, mem.gzip),
            (&report.shape, report.records, report.bytes, report.gzip),
            "in memory vs streaming"
        );
        assert_eq!(mem_sink.good, sink.good);
        assert_eq!(mem_sink.bad, sink.bad);
        (report, sink)
    }

    fn read(bytes: &[u8]) -> (ReadReport, Collect) {
        read_with(bytes, ReadOptions::default())
    }

    fn small_chunks() -> ReadOptions {
        ReadOptions {
            chunk_bytes: 4096,
            max_record_bytes: 1 << 20,
        }
    }

    fn ev(name: &str) -> String {
        format!(
            r#"{{"eventTime":"2024-01-01T00:00:00Z","eventName":"{name}","eventSource":"s3.amazonaws.com"}}"#
        )
    }

    fn names(c: &Collect) -> Vec<&str> {
        c.good.iter().map(|(_, n)| n.as_str()).collect()
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn text_and_byte_paths_agree() {
        // Whole input in one read and valid UTF-8: parsed as text. A stray invalid byte in
        // one record sends the object down the byte path, which still keeps the others.
        let good = format!(
            r#"{{"Records":[{},{},{}]}}"#,
            ev("Caf\u{e9}"),
            ev(r"Esc\u00e9aped"),
            ev("\u{1f600}")
        );
        for opts in [ReadOptions::default(), small_chunks()] {
            let (_, c) = read_with(good.as_bytes(), opts);
            assert_eq!(names(&c), ["Caf\u{e9}", "Esc\u{e9}aped", "\u{1f600}"]);
        }
        let mut bad = format!(r#"{{"Records":[{},{}]}}"#, ev("Good"), ev("BadXByte")).into_bytes();
        let at = bad.windows(4).position(|w| w == b"XByt").unwrap();
        bad[at] = 0xff;
        let (_, c) = read(&bad);
        assert_eq!(names(&c), ["Good"]);
        assert_eq!(c.bad.len(), 1);
    }

    #[test]
    fn envelope_array_ndjson_single() {
        let env = format!(r#"{{"Records":[{},{}]}}"#, ev("A"), ev("B"));
        let (r, c) = read(env.as_bytes());
        assert_eq!(r.shape, Shape::Events);
        assert_eq!(names(&c), ["A", "B"]);
        assert_eq!(c.good[1].0, 1);

        let arr = format!("[\n {},\n {}\n]", ev("A"), ev("B"));
        assert_eq!(names(&read(arr.as_bytes()).1), ["A", "B"]);

        let nd = format!("{}\n{}\n\n{}\n", ev("A"), ev("B"), ev("C"));
        assert_eq!(names(&read(nd.as_bytes()).1), ["A", "B", "C"]);

        let single = format!("  {}  ", ev("Only"));
        assert_eq!(names(&read(single.as_bytes()).1), ["Only"]);
    }

    #[test]
    fn lookup_events_and_eventbridge() {
        let inner = serde_json::to_string(&ev("Lookup")).unwrap();
        let doc = format!(
            r#"{{"Events":[{{"EventId":"x","CloudTrailEvent":{inner}}}],"NextToken":"abc"}}"#
        );
        let (r, c) = read(doc.as_bytes());
        assert_eq!(r.shape, Shape::Events);
        assert_eq!(names(&c), ["Lookup"]);
        assert!(c.bad.is_empty());

        let eb = format!(
            r#"{{"version":"0","id":"1","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","detail":{}}}"#,
            ev("Bridged")
        );
        assert_eq!(names(&read(eb.as_bytes()).1), ["Bridged"]);
    }

    #[test]
    fn envelope_with_records_not_first() {
        let doc = format!(r#"{{"Other":1,"Records":[{}]}}"#, ev("Late"));
        let (r, c) = read(doc.as_bytes());
        assert_eq!(r.shape, Shape::Events);
        assert_eq!(names(&c), ["Late"]);
    }

    #[test]
    fn gzip_and_chunk_boundaries() {
        let records: Vec<String> = (0..500).map(|i| ev(&format!("E{i}"))).collect();
        let doc = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        let (r, c) = read_with(&gz(doc.as_bytes()), small_chunks());
        assert!(r.gzip);
        assert_eq!(c.good.len(), 500);
        assert!(c.bad.is_empty(), "{:?}", c.bad);
        assert_eq!(c.good[499].1, "E499");
    }

    #[test]
    fn digest_empty_not_json_not_cloudtrail() {
        let digest =
            r#"{"awsAccountId":"1","digestStartTime":"2020-09-11T18:36:49Z","digestS3Object":"x"}"#;
        assert_eq!(read(digest.as_bytes()).0.shape, Shape::Digest);
        assert_eq!(read(b"").0.shape, Shape::Empty);
        assert_eq!(read(b" \n ").0.shape, Shape::Empty);
        assert_eq!(read(&gz(b"")).0.shape, Shape::Empty);
        assert!(matches!(read(b"hello world").0.shape, Shape::NotJson(_)));
        assert!(matches!(
            read(b"\x00\x01\x02binary").0.shape,
            Shape::NotJson(_)
        ));
        let (r, c) = read(br#"{"name":"config","value":3}"#);
        assert_eq!(r.shape, Shape::NotCloudTrail);
        assert!(c.bad.is_empty());
        assert_eq!(read(br#"{"Records":[]}"#).0.shape, Shape::Events);
    }

    #[test]
    fn bad_records_are_cut_out() {
        let doc = format!(
            r#"{{"Records":[{},{{"eventName": tru }},42,"str",{},{{"bad":"\xff\xfe"}},{}]}}"#,
            ev("A"),
            ev("B"),
            ev("C")
        );
        let mut bytes = doc.into_bytes();
        // Make the \xff\xfe literal bytes real invalid UTF-8.
        let at = bytes.windows(4).position(|w| w == b"\\xff").unwrap();
        bytes.splice(at..at + 8, [0xff, 0xfe]);
        let (r, c) = read(&bytes);
        assert_eq!(r.shape, Shape::Events);
        assert_eq!(names(&c), ["A", "B", "C"]);
        assert_eq!(c.bad.len(), 4, "{:?}", c.bad);
        assert_eq!(c.bad[0].0, Some(1));
        assert!(c.bad[0].1.contains("tru"));
        assert!(
            c.bad[1].2.contains("expected a CloudTrail event object"),
            "{}",
            c.bad[1].2
        );
        assert_eq!(r.records, 7);
    }

    #[test]
    fn ndjson_bad_line_does_not_eat_the_next() {
        let nd = format!(
            "{}\n{{\"eventName\":\"broken\n{}\nnot json\n{}\n",
            ev("A"),
            ev("B"),
            ev("C")
        );
        let (_, c) = read(nd.as_bytes());
        assert_eq!(names(&c), ["A", "B", "C"]);
        assert_eq!(c.bad.len(), 2, "{:?}", c.bad);
    }

    #[test]
    fn truncated_gzip_keeps_the_prefix() {
        let records: Vec<String> = (0..2000).map(|i| ev(&format!("E{i}"))).collect();
        let doc = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        let full = gz(doc.as_bytes());
        let cut = &full[..full.len() / 2];
        let (r, c) = read_with(cut, small_chunks());
        assert_eq!(r.shape, Shape::Events);
        assert!(
            c.good.len() > 100 && c.good.len() < 2000,
            "{}",
            c.good.len()
        );
        for (i, (idx, name)) in c.good.iter().enumerate() {
            assert_eq!(*idx, i as u64);
            assert_eq!(name, &format!("E{i}"));
        }
        assert_eq!(
            c.bad.len(),
            1,
            "{:?}",
            c.bad.iter().map(|b| &b.2).collect::<Vec<_>>()
        );
        assert!(c.bad[0].2.contains("input ends"), "{}", c.bad[0].2);
    }

    #[test]
    fn truncated_plain_json() {
        let doc = format!(r#"{{"Records":[{},{}"#, ev("A"), &ev("B")[..20]);
        let (_, c) = read(doc.as_bytes());
        assert_eq!(names(&c), ["A"]);
        assert_eq!(c.bad.len(), 1);
        let doc = format!(r#"{{"Records":[{},"#, ev("A"));
        let (_, c) = read(doc.as_bytes());
        assert_eq!(names(&c), ["A"]);
        assert_eq!(c.bad.len(), 1);
    }

    #[test]
    fn huge_record_is_skipped_not_buffered() {
        let big = format!(
            r#"{{"eventTime":"2024-01-01T00:00:00Z","eventName":"Big","requestParameters":{{"blob":"{}"}}}}"#,
            "x".repeat(3 << 20)
        );
        let doc = format!(r#"{{"Records":[{},{},{}]}}"#, ev("A"), big, ev("B"));
        let (_, c) = read_with(doc.as_bytes(), small_chunks());
        assert_eq!(names(&c), ["A", "B"]);
        assert_eq!(c.bad.len(), 1);
        assert!(c.bad[0].2.contains("exceeds the limit"), "{}", c.bad[0].2);
        assert_eq!(c.bad[0].0, Some(1));
        // Within the limit it is kept whole.
        let (_, c) = read(doc.as_bytes());
        assert_eq!(names(&c), ["A", "Big", "B"]);
    }

    #[test]
    fn value_end_scanner() {
        let mut s = ValueEnd::default();
        assert_eq!(s.feed(br#"{"a":"}\"]"} ,"#), Some(12));
        let mut s = ValueEnd::default();
        assert_eq!(s.feed(br#"[1,[2]],"#), Some(7));
        let mut s = ValueEnd::default();
        assert_eq!(s.feed(b"123,"), Some(3));
        let mut s = ValueEnd::default();
        assert_eq!(s.feed(br#"{"a":"#), None);
        assert_eq!(s.feed(br#""x\"y"}"#), Some(7));
    }
}

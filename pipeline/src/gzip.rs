//! Whole-buffer gzip inflation with libdeflate, for objects held in memory.
//!
//! libdeflate inflates a buffer in one call, about a third faster than a streaming inflater,
//! but it reads only the first gzip member and does not say where that member ended. So it
//! is used only when the input can hold just one member: no gzip member header (`1f 8b 08`)
//! anywhere after the first byte, and the size in the last four bytes (ISIZE) is what came
//! out. Anything else (several members, trailing bytes, truncation, damage, over `max`) is
//! left to the streaming reader, which keeps what it can and reports the rest.

/// A reusable libdeflate decompressor and its output buffer.
pub struct Inflater {
    decompressor: libdeflater::Decompressor,
    out: Vec<u8>,
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater {
            decompressor: libdeflater::Decompressor::new(),
            out: Vec::new(),
        }
    }
}

const MEMBER_HEADER: [u8; 3] = [0x1f, 0x8b, 0x08];

impl Inflater {
    /// The inflated bytes of `data` when it is exactly one gzip member that inflates to at
    /// most `max` bytes; `None` when the streaming reader must handle it.
    pub fn inflate_single_member(&mut self, data: &[u8], max: usize) -> Option<&[u8]> {
        // Header (10) + empty deflate stream (2) + CRC-32 and ISIZE (8).
        if data.len() < 20 || data[..3] != MEMBER_HEADER {
            return None;
        }
        if memchr::memmem::find(&data[1..], &MEMBER_HEADER).is_some() {
            return None;
        }
        let tail: [u8; 4] = data[data.len() - 4..].try_into().ok()?;
        let size = u32::from_le_bytes(tail) as usize;
        if size > max {
            return None;
        }
        if self.out.len() < size {
            self.out.resize(size, 0);
        }
        // libdeflate checks the member's own CRC-32 and ISIZE; that they are the input's last
        // bytes shows that nothing follows the member.
        match self
            .decompressor
            .gzip_decompress(data, &mut self.out[..size])
        {
            Ok(n) if n == size => Some(&self.out[..n]),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| format!("{{\"eventID\":\"{i}\",\"eventName\":\"GetObject\"}}\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn one_member_is_inflated_whole() {
        let plain = text(5_000);
        let mut inf = Inflater::default();
        assert_eq!(
            inf.inflate_single_member(&gz(&plain), 1 << 30),
            Some(&plain[..])
        );
        // The buffer is reused for a smaller object.
        let small = text(3);
        assert_eq!(
            inf.inflate_single_member(&gz(&small), 1 << 30),
            Some(&small[..])
        );
        assert_eq!(inf.inflate_single_member(&gz(b""), 1 << 30), Some(&b""[..]));
    }

    #[test]
    fn everything_else_is_left_to_the_streaming_reader() {
        let (a, b) = (text(100), text(7));
        let mut inf = Inflater::default();
        // Several members, even when the last repeats the first.
        for parts in [vec![&a, &b], vec![&a, &b, &a], vec![&a, &a]] {
            let data: Vec<u8> = parts.iter().flat_map(|p| gz(p)).collect();
            assert_eq!(inf.inflate_single_member(&data, 1 << 30), None);
            // …which flate2's multi-member reader reads whole.
            let mut all = Vec::new();
            flate2::read::MultiGzDecoder::new(&data[..])
                .read_to_end(&mut all)
                .unwrap();
            let want: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
            assert_eq!(all, want);
        }
        let one = gz(&a);
        // Truncated anywhere, trailing bytes, a damaged byte, not gzip, over the limit.
        for cut in [one.len() - 1, one.len() - 4, one.len() / 2, 25] {
            assert_eq!(
                inf.inflate_single_member(&one[..cut], 1 << 30),
                None,
                "{cut}"
            );
        }
        let mut trailing = one.clone();
        trailing.extend_from_slice(b"junk after the member");
        assert_eq!(inf.inflate_single_member(&trailing, 1 << 30), None);
        let mut damaged = one.clone();
        damaged[one.len() / 2] ^= 0x55;
        assert_eq!(inf.inflate_single_member(&damaged, 1 << 30), None);
        assert_eq!(inf.inflate_single_member(&a, 1 << 30), None);
        assert_eq!(inf.inflate_single_member(&one, a.len() - 1), None);
    }
}

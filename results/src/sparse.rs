//! Histograms being summed, kept as their non-zero buckets only; and the base64 V2 form they
//! are written in ([`encode`]) and read from.
//!
//! A decoded HdrHistogram holds its whole counts array: 184 KiB for ringload's 3-digit 1 us..1 h
//! latency histograms, however few values it holds, so summing 10,000 groups took gigabytes.
//! Here a histogram is read straight from its V2 encoding into `(index, count)` pairs, sums are
//! merges of sorted pairs, and a whole `Histogram` exists only while one merged group is being
//! written out. Counts are bounded (2^48 values a histogram read, 2^62 merged) so that no sum,
//! here or in hdrhistogram, can overflow.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

/// The uncompressed V2 cookie (hdrhistogram's, with the word-size flag 0x10).
const V2_COOKIE: u32 = 0x1c84_9313;
const HEADER: usize = 40;
/// Largest base64 histogram accepted (ringload's own are a few KiB).
pub const MAX_HISTOGRAM_B64: usize = 4 << 20;
/// Most values one histogram may count (no run records 2^48 requests).
pub const MAX_COUNT: u64 = 1 << 48;
/// Most values a merged histogram may count: hdrhistogram sums counts in a `u64` without
/// checking, so totals stay far below its range.
pub const MAX_MERGED_COUNT: u64 = 1 << 62;

/// The base64 V2 form of `h` (empty when the serializer refuses, which it does not for the
/// histograms ringload keeps).
pub fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    match V2Serializer::new().serialize(h, &mut buf) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(buf),
        Err(_) => String::new(),
    }
}

/// A histogram's non-zero buckets, by index into its counts array, in index order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sparse(Vec<(u32, u64)>);

/// The counts-array length of ringload's histograms with `digits` significant digits (worked
/// out once per precision: it takes building a whole histogram).
fn counts_len(digits: u8) -> usize {
    static LENS: [std::sync::OnceLock<usize>; 6] = [const { std::sync::OnceLock::new() }; 6];
    let Some(cell) = LENS.get(usize::from(digits)) else {
        return 0;
    };
    *cell.get_or_init(|| {
        Histogram::<u64>::new_with_bounds(1, ringload_engine::stats::MAX_LATENCY_US, digits)
            .map_or(0, |h| h.distinct_values())
    })
}

/// LEB128-64b9B, as hdrhistogram writes it: 7 bits a byte for 8 bytes, then a whole byte.
fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..9 {
        let b = *bytes.get(*at)?;
        *at += 1;
        if i == 8 {
            return Some(v | (u64::from(b) << 56));
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    Some(v)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    for _ in 0..8 {
        if v < 0x80 {
            out.push(v as u8);
            return;
        }
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Sparse {
    /// Non-zero buckets held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Read a base64 V2 histogram of ringload's (values 1 us ..= `MAX_LATENCY_US`, `digits`
    /// significant digits). The header is checked first, and every count must fall inside the
    /// counts array, so nothing a file claims is allocated beyond what it holds.
    pub fn decode(b64: &str, digits: u8) -> Result<Sparse, String> {
        if b64.len() > MAX_HISTOGRAM_B64 {
            return Err(format!(
                "a histogram of {} bytes, more than {MAX_HISTOGRAM_B64}",
                b64.len()
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("the histogram is not base64 ({e})"))?;
        let field = |at: usize, n: usize| -> u64 {
            bytes[at..at + n]
                .iter()
                .fold(0u64, |v, &b| (v << 8) | u64::from(b))
        };
        if bytes.len() < HEADER
            || field(0, 4) != u64::from(V2_COOKIE)
            || field(4, 4) != (bytes.len() - HEADER) as u64
            || field(8, 4) != 0
            || field(12, 4) != u64::from(digits)
            || field(16, 8) != 1
            || field(24, 8) != ringload_engine::stats::MAX_LATENCY_US
            || field(32, 8) != 1.0f64.to_bits()
        {
            return Err(format!(
                "the histogram is not one of ringload's (HdrHistogram V2, 1 us..1 h, {digits} \
                 significant digits)"
            ));
        }
        let len = counts_len(digits);
        let payload = &bytes[HEADER..];
        let mut total = 0u64;
        let (mut at, mut index) = (0usize, 0usize);
        let mut out = Vec::new();
        while at < payload.len() {
            let zz = varint(payload, &mut at).ok_or("the histogram's counts are cut short")?;
            let n = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
            if n < 0 {
                index = index.saturating_add(n.unsigned_abs() as usize);
                continue;
            }
            if index >= len {
                return Err("the histogram has counts beyond its range".into());
            }
            if n > 0 {
                total = total.saturating_add(n as u64);
                if total > MAX_COUNT {
                    return Err(format!(
                        "the histogram counts more than {MAX_COUNT} values, more than a run records"
                    ));
                }
                out.push((index as u32, n as u64));
            }
            index += 1;
        }
        Ok(Sparse(out))
    }

    /// `self += other`; an `Err` when the sum would count more than [`MAX_MERGED_COUNT`]
    /// values (then `self` is left as it was).
    pub fn add(&mut self, other: &Sparse) -> Result<(), String> {
        let total = |s: &Sparse| s.0.iter().fold(0u64, |t, b| t.saturating_add(b.1));
        if total(self).saturating_add(total(other)) > MAX_MERGED_COUNT {
            return Err(format!(
                "the merged histogram would count more than {MAX_MERGED_COUNT} values"
            ));
        }
        if other.0.is_empty() {
            return Ok(());
        }
        if self.0.is_empty() {
            self.0 = other.0.clone();
            return Ok(());
        }
        let (a, b) = (&self.0, &other.0);
        let mut out = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    out.push((x.0, x.1 + y.1));
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x.0 < y.0 => {
                    out.push(*x);
                    i += 1;
                }
                (Some(x), None) => {
                    out.push(*x);
                    i += 1;
                }
                (_, Some(y)) => {
                    out.push(*y);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        self.0 = out;
        Ok(())
    }

    /// The whole histogram (`digits` significant digits), for percentiles and encoding.
    pub fn histogram(&self, digits: u8) -> Histogram<u64> {
        let mut bytes = Vec::with_capacity(HEADER + self.0.len() * 3);
        bytes.extend_from_slice(&V2_COOKIE.to_be_bytes());
        bytes.extend_from_slice(&0u32.to_be_bytes());
        bytes.extend_from_slice(&0u32.to_be_bytes());
        bytes.extend_from_slice(&u32::from(digits).to_be_bytes());
        bytes.extend_from_slice(&1u64.to_be_bytes());
        bytes.extend_from_slice(&ringload_engine::stats::MAX_LATENCY_US.to_be_bytes());
        bytes.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        let mut next = 0u32;
        for &(index, count) in &self.0 {
            let gap = index - next;
            if gap > 0 {
                let zeros = -i64::from(gap);
                put_varint(&mut bytes, ((zeros << 1) ^ (zeros >> 63)) as u64);
            }
            // Below i64::MAX: counts are bounded by MAX_MERGED_COUNT.
            let c = count.min(i64::MAX as u64) as i64;
            put_varint(&mut bytes, ((c << 1) ^ (c >> 63)) as u64);
            next = index + 1;
        }
        let len = (bytes.len() - HEADER) as u32;
        bytes[4..8].copy_from_slice(&len.to_be_bytes());
        Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .unwrap_or_else(|_| {
                Histogram::new_with_bounds(1, ringload_engine::stats::MAX_LATENCY_US, digits)
                    .expect("static bounds are valid")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_of_sparse_histograms_equal_sums_of_whole_ones() {
        for digits in [1u8, 3] {
            let new = || {
                Histogram::<u64>::new_with_bounds(1, ringload_engine::stats::MAX_LATENCY_US, digits)
                    .unwrap()
            };
            let (mut a, mut b) = (new(), new());
            for v in [1u64, 2, 3, 999, 1000, 1001, 65_000, 3_600_000_000] {
                a.record_n(v, v % 7 + 1).unwrap();
            }
            for v in (1..5000u64).map(|x| x * x * 37 % 3_600_000_000 + 1) {
                b.record(v).unwrap();
            }
            let (sa, sb) = (
                Sparse::decode(&encode(&a), digits).unwrap(),
                Sparse::decode(&encode(&b), digits).unwrap(),
            );
            assert_eq!(encode(&sa.histogram(digits)), encode(&a));
            let mut sum = sa.clone();
            sum.add(&sb).unwrap();
            let mut whole = a.clone();
            whole.add(&b).unwrap();
            assert_eq!(encode(&sum.histogram(digits)), encode(&whole));
            assert_eq!(sum.histogram(digits).len(), whole.len());
            assert_eq!(Sparse::decode(&encode(&new()), digits).unwrap().len(), 0);
        }
    }

    /// Found by fuzzing (`fuzz/regressions/result/histogram-count-overflow.json`): counts near
    /// `i64::MAX` made hdrhistogram's own percentile sum overflow.
    #[test]
    fn counts_beyond_what_a_run_records_are_refused_before_any_sum_overflows() {
        let mut h = ringload_engine::stats::new_histogram();
        h.record_n(1000, 1 << 60).unwrap();
        let e = Sparse::decode(&encode(&h), 3).unwrap_err();
        assert!(e.contains("counts more than"), "{e}");
        let mut h = ringload_engine::stats::new_histogram();
        h.record_n(1000, MAX_COUNT).unwrap();
        let one = Sparse::decode(&encode(&h), 3).unwrap();
        let mut sum = Sparse::default();
        for _ in 0..(MAX_MERGED_COUNT / MAX_COUNT) {
            sum.add(&one).unwrap();
        }
        assert!(sum.add(&one).unwrap_err().contains("more than"));
        let whole = sum.histogram(3);
        assert_eq!(whole.len(), MAX_MERGED_COUNT);
        assert_eq!(whole.value_at_quantile(0.99), 1000);
    }

    #[test]
    fn forged_histograms_are_refused() {
        let h = ringload_engine::stats::new_histogram();
        let good = base64::engine::general_purpose::STANDARD
            .decode(encode(&h))
            .unwrap();
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        // A count far beyond the counts array, after a huge run of zeros.
        let mut far = good.clone();
        far.extend_from_slice(&[0xfd, 0xff, 0xff, 0xff, 0x0f, 0x02]);
        let len = (far.len() - HEADER) as u32;
        far[4..8].copy_from_slice(&len.to_be_bytes());
        assert!(
            Sparse::decode(&b64(&far), 3)
                .unwrap_err()
                .contains("beyond")
        );
        // Cut varint; a lying length; another precision.
        let mut cut = good.clone();
        cut.push(0x80);
        let len = (cut.len() - HEADER) as u32;
        cut[4..8].copy_from_slice(&len.to_be_bytes());
        assert!(
            Sparse::decode(&b64(&cut), 3)
                .unwrap_err()
                .contains("cut short")
        );
        let mut lying = good.clone();
        lying[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Sparse::decode(&b64(&lying), 3).is_err());
        assert!(Sparse::decode(&encode(&h), 1).is_err());
        assert!(Sparse::decode("@@", 3).unwrap_err().contains("base64"));
        assert!(Sparse::decode(&"A".repeat(MAX_HISTOGRAM_B64 + 4), 3).is_err());
    }
}

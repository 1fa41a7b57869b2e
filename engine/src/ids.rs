//! Fresh identities for cloned sessions, computed, never stored: every id is a hash of the
//! run's seed and what it stands for, so the same input gives the same id without a table, and
//! nothing is allocated when one is written.
//!
//! - Item ids in a plan ([`fresh_id`], [`rewrite_uuids`]): a captured id in copy `k` of the
//!   plan becomes a new id of the same shape and length (a UUID for a UUID, digits for digits,
//!   hex for hex, a code's prefix kept), the same in every step of that copy.
//! - Header ids at send time ([`IdGen`]): a new `x-request-id` (UUID) and span id per write; a
//!   trace id per (session, lap of the schedule, captured trace id), so requests that shared a
//!   trace in the capture share one in each copy, and copies never share one.

/// splitmix64's finaliser: a bijection of `u64` that mixes every input bit into every output bit.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash of `bytes` (FNV-1a, then mixed).
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// A stream of pseudo-random numbers from one key.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The id that captured id `id` becomes under `key` (the run's seed and the plan copy): same
/// length and shape. A UUID keeps its version and variant characters; a number keeps its
/// digit count (and a non-zero first digit); hex stays hex in the same case; a code
/// (`SKU-100045`) keeps its prefix; any other token keeps each character's class.
pub fn fresh_id(id: &str, key: u64) -> String {
    let b = id.as_bytes();
    let mut rng = Stream(key ^ hash(b));
    let upper = b.iter().any(|c| c.is_ascii_uppercase());
    let hex = if upper { HEX_UPPER } else { HEX_LOWER };
    let digits = b.iter().all(u8::is_ascii_digit);
    let code_tail = b
        .iter()
        .position(|c| *c == b'-' || *c == b'_')
        .filter(|&p| p > 0 && p + 1 < b.len() && b[p + 1..].iter().all(u8::is_ascii_digit))
        .map(|p| p + 1);
    let out: Vec<u8> = if is_uuid(b) {
        b.iter()
            .enumerate()
            .map(|(i, &c)| match i {
                8 | 13 | 18 | 23 | 14 | 19 => c,
                _ => hex[rng.below(16) as usize],
            })
            .collect()
    } else if digits {
        b.iter()
            .enumerate()
            .map(|(i, &c)| {
                if i == 0 && c != b'0' && b.len() > 1 {
                    b'1' + rng.below(9) as u8
                } else {
                    b'0' + rng.below(10) as u8
                }
            })
            .collect()
    } else if b.len() >= 8 && b.iter().all(u8::is_ascii_hexdigit) {
        b.iter().map(|_| hex[rng.below(16) as usize]).collect()
    } else {
        let from = code_tail.unwrap_or(0);
        b.iter()
            .enumerate()
            .map(|(i, &c)| match c {
                _ if i < from => c,
                b'0'..=b'9' => b'0' + rng.below(10) as u8,
                b'a'..=b'z' => b'a' + rng.below(26) as u8,
                b'A'..=b'Z' => b'A' + rng.below(26) as u8,
                _ => c,
            })
            .collect()
    };
    String::from_utf8(out).expect("ASCII in, ASCII out")
}

/// Replace every UUID in `text` (36 characters, 8-4-4-4-12 hex, not inside a longer run of
/// hex digits or dashes) by [`fresh_id`] of it under `key`. Returns whether any was found.
pub fn rewrite_uuids(text: &mut [u8], key: u64) -> bool {
    let part = |c: u8| c.is_ascii_hexdigit() || c == b'-';
    let mut found = false;
    let mut i = 0;
    while i + 36 <= text.len() {
        let bounded = (i == 0 || !part(text[i - 1])) && text.get(i + 36).is_none_or(|&c| !part(c));
        if bounded && is_uuid(&text[i..i + 36]) {
            let id = std::str::from_utf8(&text[i..i + 36]).expect("checked ASCII");
            let new = fresh_id(id, key);
            text[i..i + 36].copy_from_slice(new.as_bytes());
            found = true;
            i += 36;
        } else {
            i += 1;
        }
    }
    found
}

/// Header ids written at send time: one generator per executor.
#[derive(Debug, Clone)]
pub struct IdGen {
    /// The run's: trace ids do not depend on the executor (a session's steps may be dealt to
    /// several).
    run_seed: u64,
    /// This executor's, for request and span ids.
    seed: u64,
    /// Ids drawn so far.
    count: u64,
}

impl IdGen {
    /// `executor` keeps executors' ids apart under one run `seed`.
    pub fn new(seed: u64, executor: usize) -> IdGen {
        IdGen {
            run_seed: mix(seed),
            seed: mix(seed ^ mix(executor as u64 + 1)),
            count: 0,
        }
    }

    /// Fresh bits for one more id.
    #[inline]
    fn next(&mut self) -> u64 {
        self.count += 1;
        mix(self.seed ^ mix(self.count))
    }

    /// A new UUID (version 4, RFC 9562 variant) into `out` (36 bytes).
    #[inline]
    pub fn request_id(&mut self, out: &mut [u8]) {
        let (a, b) = (self.next(), self.next());
        let mut i = 0;
        for (k, slot) in out.iter_mut().enumerate().take(36) {
            *slot = match k {
                8 | 13 | 18 | 23 => b'-',
                14 => b'4',
                19 => HEX_LOWER[8 + (b & 3) as usize],
                _ => {
                    let bits = if i < 16 {
                        a >> (i * 4)
                    } else {
                        b >> ((i - 16) * 4 + 2)
                    };
                    i += 1;
                    HEX_LOWER[(bits & 15) as usize]
                }
            };
        }
    }

    /// A new span id: 16 hex digits into `out`.
    #[inline]
    pub fn span_id(&mut self, out: &mut [u8]) {
        let v = self.next() | 1;
        write_hex(v, &mut out[..16]);
    }

    /// The trace id that captured trace `captured` has in `scope` (a session's lap, see
    /// [`scope`]): 16 or 32 hex digits (`out.len()`), the same for the same inputs, never all
    /// zero.
    #[inline]
    pub fn trace_id(&self, scope: u64, captured: u64, out: &mut [u8]) {
        let hi = mix(self.run_seed ^ mix(scope) ^ captured.rotate_left(17));
        let lo = mix(hi ^ 0x5851_f42d_4c95_7f2d) | 1;
        if out.len() >= 32 {
            write_hex(hi, &mut out[..16]);
            write_hex(lo, &mut out[16..32]);
        } else {
            write_hex(lo, &mut out[..16]);
        }
    }
}

/// What a trace id is fresh for: one lap of the schedule through one session of the plan (a
/// copy of a session is a session of its own).
#[inline]
pub fn scope(session: u32, lap: u32) -> u64 {
    (u64::from(session) << 32) | u64::from(lap)
}

/// `v` as 16 lower-case hex digits.
#[inline]
fn write_hex(v: u64, out: &mut [u8]) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = HEX_LOWER[((v >> (60 - 4 * i)) & 15) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_keep_their_shape() {
        let shape = |id: &str| {
            let new = fresh_id(id, 1);
            assert_eq!(new.len(), id.len(), "{id} -> {new}");
            assert_ne!(new, id);
            assert_eq!(new, fresh_id(id, 1), "the same id under the same key");
            assert_ne!(new, fresh_id(id, 2), "another key, another id");
            new
        };
        let n = shape("1042");
        assert!(n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0'));
        let u = shape("3F2504E0-4F89-11D3-9A0C-0305E82C3301");
        assert!(is_uuid(u.as_bytes()) && !u.bytes().any(|b| b.is_ascii_lowercase()));
        assert_eq!(
            (&u[14..15], &u[19..20]),
            ("1", "9"),
            "version and variant kept"
        );
        let h = shape("deadbeefcafe1234");
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let c = shape("SKU-100045");
        assert!(c.starts_with("SKU-") && c[4..].bytes().all(|b| b.is_ascii_digit()));
        let t = shape("aZ3kQ9xW2mP7rT5y");
        for (a, b) in t.bytes().zip("aZ3kQ9xW2mP7rT5y".bytes()) {
            assert_eq!(
                (
                    a.is_ascii_digit(),
                    a.is_ascii_lowercase(),
                    a.is_ascii_uppercase()
                ),
                (
                    b.is_ascii_digit(),
                    b.is_ascii_lowercase(),
                    b.is_ascii_uppercase()
                )
            );
        }
    }

    #[test]
    fn uuids_are_found_only_whole() {
        let id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
        let mut t = format!("{{\"a\":\"{id}\",\"b\":\"x{id}\",\"c\":\"{id}0\"}}").into_bytes();
        assert!(rewrite_uuids(&mut t, 9));
        let t = String::from_utf8(t).unwrap();
        let new = fresh_id(id, 9);
        assert_eq!(
            t,
            format!("{{\"a\":\"{new}\",\"b\":\"x{new}\",\"c\":\"{id}0\"}}")
        );
        let mut none = b"no uuid here".to_vec();
        assert!(!rewrite_uuids(&mut none, 9));
    }

    #[test]
    fn header_ids_are_well_formed_and_fresh() {
        let mut g = IdGen::new(42, 0);
        let mut other = IdGen::new(42, 1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let mut id = [0u8; 36];
            g.request_id(&mut id);
            assert!(is_uuid(&id));
            assert_eq!(id[14], b'4');
            assert!(b"89ab".contains(&id[19]));
            assert!(seen.insert(id));
            other.request_id(&mut id);
            assert!(seen.insert(id), "executors do not repeat each other");
        }
        let trace = |g: &IdGen, scope: u64, captured: u64| {
            let mut t = [0u8; 32];
            g.trace_id(scope, captured, &mut t);
            t
        };
        assert_eq!(
            trace(&g, 5, 1),
            trace(&other, 5, 1),
            "a trace does not depend on the executor"
        );
        assert_ne!(trace(&g, 5, 1), trace(&g, 5, 2));
        assert_ne!(
            trace(&g, scope(1, 0), 1),
            trace(&g, scope(1, 1), 1),
            "a new lap, a new trace"
        );
        assert_ne!(trace(&g, scope(1, 0), 1), trace(&g, scope(2, 0), 1));
        let mut span = [0u8; 16];
        g.span_id(&mut span);
        assert!(span.iter().all(u8::is_ascii_hexdigit));
    }
}

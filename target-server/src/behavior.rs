//! Per-request behaviour knobs: parsing `?delay=…&status=…` query parameters and the
//! equivalent `x-ringload-*` headers into [`Params`], then resolving them (random draws)
//! into one concrete [`Decision`].
//!
//! Two sources, two policies:
//! - **Headers** (`x-ringload-delay`, …) are explicit, so a bad value is the client's bug:
//!   it yields a [`ParamError`] and the server answers `400` with the reason.
//! - **Query parameters** may come from replayed production traffic (`?status=active`
//!   means something else there), so a value that does not parse is ignored as "not for
//!   us". When both sources give a valid value, the query parameter wins.
//!
//! Nothing here allocates or reads the clock; randomness is passed in.

use std::time::Duration;

use rand::Rng;

/// Largest response body the server will generate (`size=`), 16 MiB.
pub const MAX_BODY_SIZE: u64 = 16 * 1024 * 1024;
/// Largest accepted delay (`delay=`): keeps a typo from parking a connection for hours.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// At most this many `code:percent` entries in one `status=` list.
const MAX_STATUS_ENTRIES: usize = 4;
/// Status shares are kept in parts per million.
const PPM: u32 = 1_000_000;

/// A delay to apply before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelaySpec {
    Fixed(Duration),
    /// Uniformly distributed in `[lo, hi]`.
    Uniform(Duration, Duration),
}

/// Status selection: listed codes get their share (ppm), the rest of the time 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusSpec {
    entries: [(u16, u32); MAX_STATUS_ENTRIES],
    len: usize,
}

/// Everything a request asked for; `None`/`false` means "default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Params {
    pub delay: Option<DelaySpec>,
    pub status: Option<StatusSpec>,
    pub size: Option<u64>,
    pub chunked: bool,
    pub close: bool,
    /// `x-user-segment: beta-testers` was present.
    pub canary: bool,
}

/// The concrete outcome for one request after the random draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub delay: Duration,
    pub status: u16,
}

/// Which knob was malformed and why; rendered into the 400 body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid {param}: {reason}")]
pub struct ParamError {
    pub param: &'static str,
    pub reason: &'static str,
}

impl StatusSpec {
    /// Draws a status: each listed code with its share, otherwise 200.
    pub fn pick(&self, rng: &mut impl Rng) -> u16 {
        let total: u32 = self.entries[..self.len].iter().map(|e| e.1).sum();
        if total >= PPM && self.len == 1 {
            return self.entries[0].0; // "always" needs no draw
        }
        let mut r = rng.gen_range(0..PPM);
        for &(code, share) in &self.entries[..self.len] {
            if r < share {
                return code;
            }
            r -= share;
        }
        200
    }
}

impl Params {
    /// Resolves the random parts of the request's parameters.
    pub fn decide(&self, rng: &mut impl Rng) -> Decision {
        let delay = match self.delay {
            None => Duration::ZERO,
            Some(DelaySpec::Fixed(d)) => d,
            Some(DelaySpec::Uniform(lo, hi)) => {
                let span = (hi - lo).as_nanos() as u64;
                lo + Duration::from_nanos(rng.gen_range(0..=span))
            }
        };
        let status = self.status.map_or(200, |s| s.pick(rng));
        Decision { delay, status }
    }

    /// Applies one request header; non-`x-ringload-*` headers other than the canary
    /// marker are ignored. Header values are strict.
    pub fn apply_header(&mut self, name: &str, value: &[u8]) -> Result<(), ParamError> {
        if name.eq_ignore_ascii_case("x-user-segment") {
            self.canary |= trim(value).eq_ignore_ascii_case(b"beta-testers");
            return Ok(());
        }
        let Some(knob) = strip_prefix_ignore_case(name, "x-ringload-") else {
            return Ok(());
        };
        let param = match Knob::from_name(knob) {
            Some(k) => k,
            None => return Ok(()),
        };
        self.apply(param, trim(value))
    }

    /// Applies the query part of a request target (`/path?a=b&c=d`); values that do not
    /// parse are skipped (see module docs).
    pub fn apply_query(&mut self, target: &str) {
        let Some((_, query)) = target.split_once('?') else {
            return;
        };
        let query = query.split('#').next().unwrap_or("");
        for pair in query.split('&') {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(knob) = Knob::from_name(key) else {
                continue;
            };
            let mut buf = [0u8; 64];
            let Some(value) = percent_decode(raw.as_bytes(), &mut buf) else {
                continue;
            };
            let mut candidate = *self;
            if candidate.apply(knob, value).is_ok() {
                *self = candidate;
            }
        }
    }

    fn apply(&mut self, knob: Knob, value: &[u8]) -> Result<(), ParamError> {
        let value = std::str::from_utf8(value).map_err(|_| knob.err("not UTF-8"))?;
        match knob {
            Knob::Delay => self.delay = Some(parse_delay(value).map_err(|r| knob.err(r))?),
            Knob::Status => self.status = Some(parse_status(value).map_err(|r| knob.err(r))?),
            Knob::Size => {
                let n: u64 = value
                    .parse()
                    .map_err(|_| knob.err("expected bytes as integer"))?;
                if n > MAX_BODY_SIZE {
                    return Err(knob.err("larger than 16 MiB"));
                }
                self.size = Some(n);
            }
            Knob::Chunked => self.chunked = parse_bool(value).map_err(|r| knob.err(r))?,
            Knob::Close => self.close = parse_bool(value).map_err(|r| knob.err(r))?,
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Knob {
    Delay,
    Status,
    Size,
    Chunked,
    Close,
}

impl Knob {
    fn from_name(name: &str) -> Option<Knob> {
        const NAMES: [(&str, Knob); 5] = [
            ("delay", Knob::Delay),
            ("status", Knob::Status),
            ("size", Knob::Size),
            ("chunked", Knob::Chunked),
            ("close", Knob::Close),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, k)| k)
    }

    fn err(self, reason: &'static str) -> ParamError {
        let param = match self {
            Knob::Delay => "delay",
            Knob::Status => "status",
            Knob::Size => "size",
            Knob::Chunked => "chunked",
            Knob::Close => "close",
        };
        ParamError { param, reason }
    }
}

/// `20ms`, `1.5s`, `250us`, or a range `5ms..50ms`.
pub fn parse_delay(s: &str) -> Result<DelaySpec, &'static str> {
    if let Some((lo, hi)) = s.split_once("..") {
        let (lo, hi) = (parse_duration(lo)?, parse_duration(hi)?);
        if lo > hi {
            return Err("range start is after its end");
        }
        return Ok(if lo == hi {
            DelaySpec::Fixed(lo)
        } else {
            DelaySpec::Uniform(lo, hi)
        });
    }
    parse_duration(s).map(DelaySpec::Fixed)
}

/// A non-negative decimal number followed by `ns`, `us`, `ms` or `s`, at most 60 s.
pub fn parse_duration(s: &str) -> Result<Duration, &'static str> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or("missing unit (us, ms, s)")?;
    let (num, unit) = s.split_at(split);
    let nanos_per_unit: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return Err("unknown unit (use us, ms, s)"),
    };
    if num.is_empty() || num.len() > 20 {
        return Err("expected a number before the unit");
    }
    let n: f64 = num
        .parse()
        .map_err(|_| "expected a number before the unit")?;
    let nanos = n * nanos_per_unit;
    if !nanos.is_finite() || nanos > MAX_DELAY.as_nanos() as f64 {
        return Err("longer than 60s");
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// `404` (always), `503:10` (10 %), or a list `503:10,500:2.5` (shares sum to <= 100).
pub fn parse_status(s: &str) -> Result<StatusSpec, &'static str> {
    let mut spec = StatusSpec {
        entries: [(0, 0); MAX_STATUS_ENTRIES],
        len: 0,
    };
    let mut total: u64 = 0;
    for item in s.split(',') {
        if spec.len == MAX_STATUS_ENTRIES {
            return Err("more than 4 entries");
        }
        let (code, share) = match item.split_once(':') {
            Some((code, pct)) => (code, parse_percent(pct)?),
            None => (item, PPM),
        };
        let code: u16 = code.trim().parse().map_err(|_| "expected a status code")?;
        if !(200..=599).contains(&code) {
            return Err("status code must be in 200..=599");
        }
        total += u64::from(share);
        if total > u64::from(PPM) {
            return Err("shares add up to more than 100%");
        }
        spec.entries[spec.len] = (code, share);
        spec.len += 1;
    }
    Ok(spec)
}

fn parse_percent(s: &str) -> Result<u32, &'static str> {
    let s = s.trim().trim_end_matches('%');
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err("expected a percentage after ':'");
    }
    let pct: f64 = s.parse().map_err(|_| "expected a percentage after ':'")?;
    if !(0.0..=100.0).contains(&pct) {
        return Err("percentage must be within 0..=100");
    }
    Ok((pct * f64::from(PPM) / 100.0).round() as u32)
}

fn parse_bool(s: &str) -> Result<bool, &'static str> {
    let is = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(s));
    if is(&["", "1", "true", "yes", "on"]) {
        Ok(true)
    } else if is(&["0", "false", "no", "off"]) {
        Ok(false)
    } else {
        Err("expected 1/0/true/false")
    }
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Decodes `%XX` and `+` into `buf`; `None` if malformed or longer than `buf`.
fn percent_decode<'b>(raw: &[u8], buf: &'b mut [u8; 64]) -> Option<&'b [u8]> {
    let mut n = 0;
    let mut i = 0;
    while i < raw.len() {
        let b = match raw[i] {
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                i += 2;
                u8::from_str_radix(hex, 16).ok()?
            }
            b'+' => b' ',
            b => b,
        };
        *buf.get_mut(n)? = b;
        n += 1;
        i += 1;
    }
    Some(&buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20ms"), Ok(ms(20)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
        assert!(parse_duration("20").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("20h").is_err());
        assert!(parse_duration("61s").is_err());
        assert!(parse_duration("1.2.3ms").is_err());
    }

    #[test]
    fn delay_ranges() {
        assert_eq!(
            parse_delay("5ms..50ms"),
            Ok(DelaySpec::Uniform(ms(5), ms(50)))
        );
        assert_eq!(parse_delay("5ms..5ms"), Ok(DelaySpec::Fixed(ms(5))));
        assert!(parse_delay("50ms..5ms").is_err());
        let p = Params {
            delay: Some(DelaySpec::Uniform(ms(5), ms(50))),
            ..Params::default()
        };
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            let d = p.decide(&mut rng).delay;
            assert!(d >= ms(5) && d <= ms(50), "{d:?}");
        }
    }

    #[test]
    fn status_lists_and_shares() {
        let always = parse_status("404").unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        assert!((0..100).all(|_| always.pick(&mut rng) == 404));
        let ten = parse_status("503:10").unwrap();
        let hits = (0..100_000).filter(|_| ten.pick(&mut rng) == 503).count();
        assert!((9_000..11_000).contains(&hits), "{hits}");
        let two = parse_status("503:10,500:2.5%").unwrap();
        assert_eq!(two.len, 2);
        assert!(parse_status("503:60,500:50").is_err());
        assert!(parse_status("99").is_err());
        assert!(parse_status("600").is_err());
        assert!(parse_status("503:x").is_err());
        assert!(parse_status("503:-1").is_err());
        assert!(parse_status("1:1,2:1,3:1,4:1,5:1").is_err());
    }

    #[test]
    fn query_is_lenient_headers_are_strict() {
        let mut p = Params::default();
        p.apply_query("/a/b?user=1&status=active&delay=20ms&size=10&chunked&close=0#frag");
        assert_eq!(p.status, None);
        assert_eq!(p.delay, Some(DelaySpec::Fixed(ms(20))));
        assert_eq!(p.size, Some(10));
        assert!(p.chunked);
        assert!(!p.close);
        let err = p.apply_header("X-Ringload-Status", b"active").unwrap_err();
        assert_eq!(err.param, "status");
        assert!(p.apply_header("x-other", b"garbage").is_ok());
        assert!(p.apply_header("x-ringload-size", b"16777217").is_err());
    }

    #[test]
    fn query_overrides_header_and_decodes_percent() {
        let mut p = Params::default();
        p.apply_header("x-ringload-status", b"404").unwrap();
        p.apply_query("/?status=503%3A100");
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(p.decide(&mut rng).status, 503);
        let mut q = Params::default();
        q.apply_query("/?delay=5ms%2");
        assert_eq!(q.delay, None);
    }

    #[test]
    fn canary_segment() {
        let mut p = Params::default();
        p.apply_header("X-User-Segment", b" beta-testers ").unwrap();
        assert!(p.canary);
        let mut q = Params::default();
        q.apply_header("x-user-segment", b"everyone").unwrap();
        assert!(!q.canary);
    }
}

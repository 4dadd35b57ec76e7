//! The world's only source of randomness: xoshiro256** seeded through splitmix64, plus the few
//! distributions the generator needs.
//!
//! Every floating-point step uses only `+ - * /` (exactly rounded by IEEE 754 on every platform),
//! never the platform's `ln`/`exp`/`powf`, whose last bit may differ between C libraries: a single
//! differing bit can move a timestamp across a microsecond and break byte-identical output.

/// splitmix64: one step of the seeding generator (also a good 64-bit mixer).
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable 64-bit hash of bytes (FNV-1a folded through splitmix64), used to derive stable
/// per-name values (IP addresses of hosts, per-recipient ids) independent of generation order.
pub fn hash64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
        h ^= 0xFF;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    let mut s = h;
    splitmix64(&mut s)
}

/// xoshiro256** (Blackman & Vigna).
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    /// An independent generator for one purpose, so that adding draws in one part of the world
    /// does not shift every later draw elsewhere.
    pub fn fork(&self, tag: &str) -> Rng {
        Rng::new(self.s[0] ^ hash64(&[tag.as_bytes()]))
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (`n > 0`; 0 yields 0). Lemire's multiply-shift; the bias (< n / 2^64)
    /// is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)` with 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// Index drawn with the given integer weights (at least one must be non-zero).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        weights.len() - 1
    }

    /// Approximately standard normal (Irwin–Hall sum of 12 uniforms; tails end at ±6, which is
    /// what we want for delays anyway).
    pub fn normal(&mut self) -> f64 {
        let mut s = 0.0;
        for _ in 0..12 {
            s += self.unit();
        }
        s - 6.0
    }

    /// Log-normal whose median is `median` and whose log has standard deviation `sigma`.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * exp(sigma * self.normal())
    }

    /// Poisson with mean `lambda` (inversion for small means, normal approximation above 30).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            let x = lambda + sqrt(lambda) * self.normal();
            return if x < 0.0 { 0 } else { (x + 0.5) as u64 };
        }
        let l = exp(-lambda);
        let mut k = 0;
        let mut p = self.unit();
        while p > l {
            k += 1;
            p *= self.unit();
        }
        k
    }

    /// `n` characters drawn from `alphabet`.
    pub fn token(&mut self, alphabet: &[u8], n: usize, out: &mut String) {
        for _ in 0..n {
            out.push(alphabet[self.index(alphabet.len())] as char);
        }
    }
}

pub const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const HEX_LOWER: &[u8] = b"0123456789abcdef";
pub const HEX_UPPER: &[u8] = b"0123456789ABCDEF";
pub const ALNUM_LOWER: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

const LN2: f64 = std::f64::consts::LN_2;

/// Natural logarithm with only exactly-rounded operations (error < 1e-15 relative).
pub fn ln(x: f64) -> f64 {
    if x <= 0.0 || x.is_nan() {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7FF) as i64;
    let mut m = f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
    if e == 0 {
        // Subnormal: scale up first.
        return ln(x * (1u64 << 54) as f64) - 54.0 * LN2;
    }
    e -= 1023;
    // Bring m into [sqrt(1/2), sqrt(2)) so the series converges fast.
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 40.0 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    2.0 * sum + e as f64 * LN2
}

/// e^x with only exactly-rounded operations (error < 1e-15 relative for |x| < 700).
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    if x < -745.0 {
        return 0.0;
    }
    let kf = x / LN2;
    let k = if kf < 0.0 { (kf - 0.5) as i64 } else { (kf + 0.5) as i64 };
    let r = x - k as f64 * LN2;
    // Taylor series of e^r for |r| <= ln2/2.
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut n = 1.0;
    while n < 22.0 {
        term = term * r / n;
        sum += term;
        n += 1.0;
    }
    let mut result = sum;
    let mut k = k;
    // Multiply by 2^k in steps that stay exact.
    while k > 0 {
        let step = k.min(1000);
        result *= f64::from_bits(((1023 + step) as u64) << 52);
        k -= step;
    }
    while k < 0 {
        let step = (-k).min(1000);
        result *= f64::from_bits(((1023 - step) as u64) << 52);
        k += step;
    }
    result
}

/// `x^y` for `x > 0`.
pub fn powf(x: f64, y: f64) -> f64 {
    exp(y * ln(x))
}

/// Square root (IEEE 754 requires it exactly rounded, so the platform's is deterministic).
pub fn sqrt(x: f64) -> f64 {
    x.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_forks_differ() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut c = Rng::new(43);
        assert_ne!(xs[0], c.next_u64());
        let mut f1 = a.fork("people");
        let mut f2 = a.fork("mail");
        assert_ne!(f1.next_u64(), f2.next_u64());
    }

    #[test]
    fn xoshiro_reference_vector() {
        // Reference: xoshiro256** with state {1, 2, 3, 4} yields 11520 first, then 0.
        let mut r = Rng { s: [1, 2, 3, 4] };
        assert_eq!(r.next_u64(), 11520);
        assert_eq!(r.next_u64(), 0);
        assert_eq!(r.next_u64(), 1_509_978_240);
    }

    #[test]
    fn ln_and_exp_match_std_closely() {
        for &x in &[1e-300, 1e-9, 0.001, 0.3, 0.5, 1.0, 1.5, 2.0, 10.0, 12345.678, 1e200] {
            let ours = ln(x);
            let std = x.ln();
            assert!(
                (ours - std).abs() <= 1e-13 * std.abs().max(1.0),
                "ln({x}) = {ours} vs {std}"
            );
        }
        for &x in &[-700.0, -20.0, -1.0, -0.25, 0.0, 0.5, 1.0, 3.3, 50.0, 700.0] {
            let ours = exp(x);
            let std = x.exp();
            assert!((ours - std).abs() <= 1e-13 * std, "exp({x}) = {ours} vs {std}");
        }
    }

    #[test]
    fn distributions_have_the_right_means() {
        let mut r = Rng::new(7);
        let n = 20_000;
        let median: f64 = {
            let mut v: Vec<f64> = (0..n).map(|_| r.lognormal(5.0, 1.0)).collect();
            v.sort_by(f64::total_cmp);
            v[n / 2]
        };
        assert!((median - 5.0).abs() < 0.25, "{median}");
        let mean_poi: f64 = (0..n).map(|_| r.poisson(3.5) as f64).sum::<f64>() / n as f64;
        assert!((mean_poi - 3.5).abs() < 0.1, "{mean_poi}");
        let mean_big: f64 = (0..n).map(|_| r.poisson(80.0) as f64).sum::<f64>() / n as f64;
        assert!((mean_big - 80.0).abs() < 0.5, "{mean_big}");
        let mut counts = [0u32; 3];
        for _ in 0..n {
            counts[r.weighted(&[1, 0, 3])] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!(counts[2] > 2 * counts[0]);
        for _ in 0..1000 {
            assert!(r.range(3, 5) >= 3 && r.range(3, 5) <= 5);
        }
    }
}

//! resource.Quantity: exact fixed-point quantities (`500m`, `1Gi`, `2k`, `1.5`) with
//! Kubernetes' canonical printing, for quota sums and limit checks.

use std::cmp::Ordering;
use std::fmt;

/// Nano-units per unit.
const NANO: i128 = 1_000_000_000;

/// How a quantity prints (resource.Format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DecimalSI,
    BinarySI,
}

/// A quantity in nano-units (exact for every suffix Kubernetes accepts).
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

impl PartialEq for Quantity {
    fn eq(&self, o: &Self) -> bool {
        self.nanos == o.nanos
    }
}
impl Eq for Quantity {}
impl PartialOrd for Quantity {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Quantity {
    fn cmp(&self, o: &Self) -> Ordering {
        self.nanos.cmp(&o.nanos)
    }
}

/// Why a string is not a quantity (resource.ErrFormatWrong's text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
pub struct QuantityError;

impl Quantity {
    pub const ZERO: Quantity = Quantity {
        nanos: 0,
        format: Format::DecimalSI,
    };

    /// Whole units in the given format.
    pub fn from_units(n: i64, format: Format) -> Self {
        Self {
            nanos: i128::from(n) * NANO,
            format,
        }
    }

    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
            .unwrap_or(s.len());
        let (num, suffix) = s.split_at(split);
        let (neg, digits) = match num.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, num.strip_prefix('+').unwrap_or(num)),
        };
        if digits.is_empty() || digits.contains(['+', '-']) {
            return Err(QuantityError);
        }
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(QuantityError);
        }
        let (mult_num, mult_den, format): (i128, i128, Format) = match suffix {
            "" => (1, 1, Format::DecimalSI),
            "n" => (1, 1_000_000_000, Format::DecimalSI),
            "u" => (1, 1_000_000, Format::DecimalSI),
            "m" => (1, 1000, Format::DecimalSI),
            "k" => (1_000, 1, Format::DecimalSI),
            "M" => (1_000_000, 1, Format::DecimalSI),
            "G" => (1_000_000_000, 1, Format::DecimalSI),
            "T" => (1_000_000_000_000, 1, Format::DecimalSI),
            "P" => (1_000_000_000_000_000, 1, Format::DecimalSI),
            "E" => (1_000_000_000_000_000_000, 1, Format::DecimalSI),
            "Ki" => (1 << 10, 1, Format::BinarySI),
            "Mi" => (1 << 20, 1, Format::BinarySI),
            "Gi" => (1 << 30, 1, Format::BinarySI),
            "Ti" => (1 << 40, 1, Format::BinarySI),
            "Pi" => (1 << 50, 1, Format::BinarySI),
            "Ei" => (1 << 60, 1, Format::BinarySI),
            e => {
                let exp = e.strip_prefix(['e', 'E']).ok_or(QuantityError)?;
                let exp: i32 = exp.parse().map_err(|_| QuantityError)?;
                if !(-9..=18).contains(&exp) {
                    return Err(QuantityError);
                }
                if exp >= 0 {
                    (10i128.pow(exp as u32), 1, Format::DecimalSI)
                } else {
                    (1, 10i128.pow((-exp) as u32), Format::DecimalSI)
                }
            }
        };
        if int_part.len() > 19 || frac_part.len() > 18 {
            return Err(QuantityError);
        }
        let int: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| QuantityError)?
        };
        // The fraction in nano-units of the mantissa, rounded up (kube rounds up to its scale).
        let frac_nanos: i128 = if frac_part.is_empty() {
            0
        } else {
            let digits: i128 = frac_part.parse().map_err(|_| QuantityError)?;
            let scale = 10i128.pow(frac_part.len() as u32);
            let num = digits
                .checked_mul(NANO)
                .and_then(|v| v.checked_mul(mult_num))
                .ok_or(QuantityError)?;
            (num + scale * mult_den - 1) / (scale * mult_den)
        };
        let whole = int
            .checked_mul(NANO)
            .and_then(|v| v.checked_mul(mult_num))
            .ok_or(QuantityError)?;
        let nanos = ((whole + mult_den - 1) / mult_den)
            .checked_add(frac_nanos)
            .ok_or(QuantityError)?;
        Ok(Self {
            nanos: if neg { -nanos } else { nanos },
            format,
        })
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// Ratio `self / o` as a float (maxLimitRequestRatio checks).
    pub fn ratio(self, o: Quantity) -> f64 {
        if o.nanos == 0 {
            f64::INFINITY
        } else {
            self.nanos as f64 / o.nanos as f64
        }
    }

    /// The value in milli-units (cpu), rounded up.
    pub fn milli(&self) -> i128 {
        (self.nanos + 999_999).div_euclid(1_000_000)
    }
}

/// Sum in the format of the left side (as Quantity.Add keeps the receiver's), or of the right
/// side when the left is a zero start value.
impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, o: Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_add(o.nanos),
            format: if self.nanos == 0 { o.format } else { self.format },
        }
    }
}

impl std::ops::Sub for Quantity {
    type Output = Quantity;
    fn sub(self, o: Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_sub(o.nanos),
            format: self.format,
        }
    }
}

impl fmt::Display for Quantity {
    /// Kubernetes' canonical form: the largest suffix that keeps the value whole.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let n = self.nanos.abs();
        if n == 0 {
            return f.write_str("0");
        }
        if n % NANO != 0 {
            for (div, suf) in [(1_000_000, "m"), (1_000, "u"), (1, "n")] {
                if n % div == 0 {
                    return write!(f, "{sign}{}{suf}", n / div);
                }
            }
        }
        let units = n / NANO;
        if self.format == Format::BinarySI && units >= 1024 {
            for (shift, suf) in [(60, "Ei"), (50, "Pi"), (40, "Ti"), (30, "Gi"), (20, "Mi"), (10, "Ki")] {
                if units % (1i128 << shift) == 0 {
                    return write!(f, "{sign}{}{suf}", units >> shift);
                }
            }
            return write!(f, "{sign}{units}");
        }
        for (pow, suf) in [(18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k")] {
            let d = 10i128.pow(pow);
            if units % d == 0 {
                return write!(f, "{sign}{}{suf}", units / d);
            }
        }
        write!(f, "{sign}{units}")
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A quantity from a JSON value (string or number).
pub fn from_json(v: &serde_json::Value) -> Option<Quantity> {
    match v {
        serde_json::Value::String(s) => Quantity::parse(s).ok(),
        serde_json::Value::Number(n) => Quantity::parse(&n.to_string()).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|_| panic!("{s}"))
    }

    #[test]
    fn parses_every_suffix_exactly() {
        assert_eq!(q("500m").milli(), 500);
        assert_eq!(q("1.5").milli(), 1500);
        assert_eq!(q("0.1").milli(), 100);
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(
            q("2E"),
            Quantity::from_units(2_000_000_000_000_000_000, Format::DecimalSI)
        );
        assert!(q("100m") < q("1"));
        for bad in [
            "",
            "abc",
            "1x",
            "1..2",
            "--1",
            "1Qi",
            ".",
            "1.123456789012345678Ei",
            "99999999999999999999999E",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prints_canonically_as_kubernetes() {
        for (input, canonical) in [
            ("1000m", "1"),
            ("1200m", "1200m"),
            ("1.2", "1200m"),
            ("2000", "2k"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1Ki", "1Ki"),
            ("0", "0"),
            ("100Mi", "100Mi"),
            ("128974848", "128974848"),
            ("129e6", "129M"),
        ] {
            assert_eq!(q(input).to_string(), canonical, "{input}");
        }
        assert_eq!((q("500m") + q("1")).to_string(), "1500m");
        assert_eq!((q("1Gi") + q("1Gi")).to_string(), "2Gi");
        assert_eq!((Quantity::ZERO + q("64Mi")).to_string(), "64Mi");
        assert_eq!((q("1Gi") - q("1Gi")).to_string(), "0");
    }
}

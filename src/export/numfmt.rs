//! Number formatting that matches pktvisor's outputs byte for byte.
//!
//! JSON doubles follow nlohmann::json (shortest round-trip digits, fixed notation for
//! decimal exponents in (-4, 15], else `1e+20`-style, integers as `4.0`). Prometheus
//! doubles follow C++ `ostream <<` defaults (`%g` with 6 significant digits: `0.333333`,
//! `1e+06`, `4`). Histogram bounds of double histograms use `std::to_string` (`%f`).

/// Shortest round-trip digits and decimal-point position: value = 0.DIGITS × 10^point.
fn shortest_digits(v: f64) -> (String, i32) {
    // Rust's `{:e}` prints the shortest round-trip representation, like "1.5e-5".
    let s = format!("{:e}", v.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

/// Formats a double the way nlohmann::json's `dump()` does.
pub fn json_f64(v: f64) -> String {
    if !v.is_finite() {
        return "null".to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    let (digits, n) = shortest_digits(v);
    let k = digits.len() as i32;
    let mut out = String::new();
    if v < 0.0 {
        out.push('-');
    }
    const MIN_EXP: i32 = -4;
    const MAX_EXP: i32 = 15;
    if k <= n && n <= MAX_EXP {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
        out.push_str(".0");
    } else if 0 < n && n <= MAX_EXP {
        let (a, b) = digits.split_at(n as usize);
        out.push_str(a);
        out.push('.');
        out.push_str(b);
    } else if MIN_EXP < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = n - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        let ea = e.unsigned_abs();
        if ea < 10 {
            out.push('0');
        }
        out.push_str(&ea.to_string());
    }
    out
}

/// Formats a double like C++ `std::ostream << double` with default flags (`%g`, 6 digits).
pub fn prom_f64(v: f64) -> String {
    if v.is_nan() {
        return "nan".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let sci = format!("{:.5e}", v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let x: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&x) {
        let decimals = (5 - x).max(0) as usize;
        trim_fraction(&format!("{:.*}", decimals, v))
    } else {
        let m = trim_fraction(mantissa);
        let sign = if x < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", x.unsigned_abs())
    }
}

fn trim_fraction(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// Formats a double like C++ `std::to_string(double)` (`%f`).
pub fn to_string_f64(v: f64) -> String {
    format!("{v:.6}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_doubles_match_nlohmann() {
        assert_eq!(json_f64(4.0), "4.0");
        assert_eq!(json_f64(0.5), "0.5");
        assert_eq!(json_f64(12.915497), "12.915497");
        assert_eq!(json_f64(1234.0), "1234.0");
        assert_eq!(json_f64(0.0012), "0.0012");
        assert_eq!(json_f64(0.00012), "0.00012");
        assert_eq!(json_f64(0.000012), "1.2e-05");
        assert_eq!(json_f64(1e20), "1e+20");
        assert_eq!(json_f64(1e14), "100000000000000.0");
        assert_eq!(json_f64(1e15), "1e+15");

        assert_eq!(json_f64(-2.5), "-2.5");
        assert_eq!(json_f64(0.0), "0.0");
        assert_eq!(json_f64(f64::NAN), "null");
    }

    #[test]
    fn prometheus_doubles_match_ostream() {
        assert_eq!(prom_f64(1.0 / 3.0), "0.333333");
        assert_eq!(prom_f64(1e6), "1e+06");
        assert_eq!(prom_f64(1e20), "1e+20");
        assert_eq!(prom_f64(4.0), "4");
        assert_eq!(prom_f64(123456.0), "123456");
        assert_eq!(prom_f64(1234567.0), "1.23457e+06");
        assert_eq!(prom_f64(0.0001), "0.0001");
        assert_eq!(prom_f64(0.00001), "1e-05");
        assert_eq!(prom_f64(12.915497), "12.9155");
        assert_eq!(prom_f64(0.0), "0");
        assert_eq!(prom_f64(-1.5), "-1.5");
        assert_eq!(prom_f64(999999.5), "1e+06");
    }

    #[test]
    fn to_string_is_six_decimals() {
        assert_eq!(to_string_f64(60.0), "60.000000");
        assert_eq!(to_string_f64(12.915496650148839), "12.915497");
    }
}

//! Checksums and range rules that turn pattern matches into PII: Luhn for
//! payment cards, ISO 13616 mod-97 (with per-country lengths) for IBANs, the
//! SSA's never-issued ranges for SSNs.

/// Luhn checksum over the ASCII digits of `s` (other characters ignored).
pub fn luhn_ok(s: &str) -> bool {
    let mut sum = 0u32;
    let mut n = 0usize;
    for b in s.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(b - b'0');
        if !n.is_multiple_of(2) {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        n += 1;
    }
    n > 0 && sum.is_multiple_of(10)
}

/// Payment-card structure: 13 to 19 digits, an issuer prefix in use (2-6),
/// consistent separators with groups of 3-6 digits starting with 4, and a
/// valid Luhn checksum.
pub fn card_ok(s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    if !(13..=19).contains(&digits) {
        return false;
    }
    if !issuer_ok(s, digits) {
        return false;
    }
    let seps: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_digit()).collect();
    if let Some(&first) = seps.first() {
        if seps.iter().any(|&b| b != first) {
            return false;
        }
        let groups: Vec<usize> = s.split(first as char).map(str::len).collect();
        if groups[0] != 4 || groups.iter().any(|&g| !(3..=6).contains(&g)) {
            return false;
        }
    }
    luhn_ok(s)
}

/// The issuer identification number matches a card network in use, with a
/// length that network issues: Visa (4; 13, 16, 19), Mastercard (51-55,
/// 2221-2720; 16), Amex (34, 37; 15), Discover (6011, 644-649, 65; 16-19),
/// UnionPay (62; 16-19), JCB (3528-3589; 16-19), Diners (300-305, 36, 38,
/// 39; 14-19), Maestro (50, 56-58, 6304, 6759, 6761-6763; 13-19).
fn issuer_ok(s: &str, len: usize) -> bool {
    let mut lead = 0u32;
    for b in s.bytes().filter(u8::is_ascii_digit).take(4) {
        lead = lead * 10 + u32::from(b - b'0');
    }
    let (p1, p2, p3) = (lead / 1000, lead / 100, lead / 10);
    match p1 {
        4 => matches!(len, 13 | 16 | 19),
        2 => (2221..=2720).contains(&lead) && len == 16,
        5 => ((51..=55).contains(&p2) && len == 16) || (matches!(p2, 50 | 56..=58) && len >= 13),
        3 => {
            (matches!(p2, 34 | 37) && len == 15)
                || ((3528..=3589).contains(&lead) && len >= 16)
                || (((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39)) && len >= 14)
        }
        6 => {
            ((lead == 6011 || (644..=649).contains(&p3) || p2 == 65 || p2 == 62) && len >= 16)
                || (matches!(lead, 6304 | 6759 | 6761..=6763) && len >= 13)
        }
        _ => false,
    }
}

/// A US SSN `AAA-GG-SSSS` outside the never-issued ranges (area 000, 666 or
/// 900-999, group 00, serial 0000).
pub fn ssn_ok(area: &str, group: &str, serial: &str) -> bool {
    let (Ok(a), Ok(g), Ok(s)) = (area.parse::<u32>(), group.parse::<u32>(), serial.parse::<u32>()) else {
        return false;
    };
    a != 0 && a != 666 && a < 900 && g != 0 && s != 0
}

/// IBAN length by ISO 3166 country code (SWIFT IBAN registry).
pub fn iban_length(country: &[u8]) -> Option<usize> {
    const TABLE: &[(&[u8; 2], usize)] = &[
        (b"AD", 24), (b"AE", 23), (b"AL", 28), (b"AT", 20), (b"AZ", 28), (b"BA", 20), (b"BE", 16),
        (b"BG", 22), (b"BH", 22), (b"BR", 29), (b"BY", 28), (b"CH", 21), (b"CR", 22), (b"CY", 28),
        (b"CZ", 24), (b"DE", 22), (b"DK", 18), (b"DO", 28), (b"EE", 20), (b"EG", 29), (b"ES", 24),
        (b"FI", 18), (b"FO", 18), (b"FR", 27), (b"GB", 22), (b"GE", 22), (b"GI", 23), (b"GL", 18),
        (b"GR", 27), (b"GT", 28), (b"HR", 21), (b"HU", 28), (b"IE", 22), (b"IL", 23), (b"IQ", 23),
        (b"IS", 26), (b"IT", 27), (b"JO", 30), (b"KW", 30), (b"KZ", 20), (b"LB", 28), (b"LC", 32),
        (b"LI", 21), (b"LT", 20), (b"LU", 20), (b"LV", 21), (b"LY", 25), (b"MC", 27), (b"MD", 24),
        (b"ME", 22), (b"MK", 19), (b"MR", 27), (b"MT", 31), (b"MU", 30), (b"NL", 18), (b"NO", 15),
        (b"PK", 24), (b"PL", 28), (b"PS", 29), (b"PT", 25), (b"QA", 29), (b"RO", 24), (b"RS", 22),
        (b"SA", 24), (b"SC", 31), (b"SD", 18), (b"SE", 24), (b"SI", 19), (b"SK", 24), (b"SM", 27),
        (b"ST", 25), (b"SV", 28), (b"TL", 23), (b"TN", 24), (b"TR", 26), (b"UA", 29), (b"VA", 22),
        (b"VG", 24), (b"XK", 20),
    ];
    TABLE.iter().find(|(c, _)| c.as_slice() == country).map(|&(_, n)| n)
}

/// ISO 13616 check: move the first four characters to the end, map letters
/// to 10..35, and the number mod 97 must be 1. `compact` has no spaces.
pub fn iban_ok(compact: &[u8]) -> bool {
    if compact.len() < 15 || iban_length(&compact[..2]) != Some(compact.len()) {
        return false;
    }
    let mut rem = 0u32;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        assert!(luhn_ok("4111111111111111"));
        assert!(!luhn_ok("4111111111111112"));
        assert!(card_ok("4111 1111 1111 1111"));
        assert!(card_ok("3782-822463-10005"));
        assert!(!card_ok("4111 1111-1111 1111"));
        assert!(!card_ok("978-1-234-56789-7"));
        assert!(!card_ok("6173520787800064"));
        assert!(card_ok("6011000990139424"));
        assert!(card_ok("378282246310005"));
        assert!(iban_ok(b"DE89370400440532013000"));
        assert!(iban_ok(b"GB82WEST12345698765432"));
        assert!(!iban_ok(b"DE89370400440532013001"));
        assert!(ssn_ok("123", "45", "6789"));
        assert!(!ssn_ok("000", "45", "6789"));
        assert!(!ssn_ok("666", "45", "6789"));
        assert!(!ssn_ok("901", "45", "6789"));
        assert!(!ssn_ok("123", "00", "6789"));
        assert!(!ssn_ok("123", "45", "0000"));
    }
}

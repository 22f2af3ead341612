//! `cidr_contains(cidr, address)`: whether an IPv4 or IPv6 address is in a CIDR block
//! (`10.0.0.0/8`, `2600:1f18::/36`, or a single address). Addresses CloudTrail writes that are
//! not IPs (`lambda.amazonaws.com`, `AWS Internal`) are in no block.

use std::net::IpAddr;

use arrow::array::BooleanArray;
use arrow::datatypes::DataType;
use datafusion::logical_expr::ScalarUDF;

/// Whether `address` is in `cidr`; `None` when the block is not a CIDR.
pub fn cidr_contains(cidr: &str, address: &str) -> Option<bool> {
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((n, b)) => (n.parse::<IpAddr>().ok()?, Some(b.parse::<u32>().ok()?)),
        None => (cidr.trim().parse::<IpAddr>().ok()?, None),
    };
    let Ok(addr) = address.trim().parse::<IpAddr>() else {
        return Some(false);
    };
    Some(match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let bits = bits.unwrap_or(32);
            if bits > 32 {
                return None;
            }
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let bits = bits.unwrap_or(128);
            if bits > 128 {
                return None;
            }
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    })
}

/// The SQL function `cidr_contains(cidr, address)`; NULL for a block that is not a CIDR.
pub fn udf() -> ScalarUDF {
    super::two_string_udf::<BooleanArray, _>("cidr_contains", DataType::Boolean, cidr_contains)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks() {
        for (c, a, want) in [
            ("10.0.0.0/8", "10.1.2.3", Some(true)),
            ("10.0.0.0/8", "11.1.2.3", Some(false)),
            ("3.208.0.0/12", "3.223.255.255", Some(true)),
            ("3.208.0.0/12", "3.224.0.0", Some(false)),
            ("0.0.0.0/0", "203.0.113.50", Some(true)),
            ("203.0.113.50", "203.0.113.50", Some(true)),
            ("203.0.113.50/32", "203.0.113.51", Some(false)),
            ("2600:1f18::/36", "2600:1f18:abc::1", Some(true)),
            ("2600:1f18::/36", "2600:1f19::1", Some(false)),
            ("10.0.0.0/8", "lambda.amazonaws.com", Some(false)),
            ("10.0.0.0/8", "2600:1f18::1", Some(false)),
            ("10.0.0.0/33", "10.0.0.1", None),
            ("not a block", "10.0.0.1", None),
        ] {
            assert_eq!(cidr_contains(c, a), want, "{c} {a}");
        }
    }
}

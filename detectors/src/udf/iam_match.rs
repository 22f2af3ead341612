//! `iam_match(pattern, action)`: whether an IAM policy's action pattern (`s3:Get*`,
//! `lambda:*`, `*`, `iam:?etRole`) grants an action. As IAM does: case-insensitive, `*` any
//! run of characters, `?` one character.

use arrow::array::BooleanArray;
use arrow::datatypes::DataType;
use datafusion::logical_expr::ScalarUDF;

/// Whether `pattern` matches `action`, ignoring ASCII case.
pub fn iam_match(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.as_bytes(), action.as_bytes());
    // Iterative wildcard matching with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < a.len() {
        if i < p.len() && (p[i] == b'?' || p[i].eq_ignore_ascii_case(&a[j])) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == b'*' {
        i += 1;
    }
    i == p.len()
}

/// The SQL function `iam_match(pattern, action)`.
pub fn udf() -> ScalarUDF {
    super::two_string_udf::<BooleanArray, _>("iam_match", DataType::Boolean, |p, a| {
        Some(iam_match(p, a))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        for (p, a, want) in [
            ("*", "s3:GetObject", true),
            ("s3:*", "s3:GetObject", true),
            ("s3:Get*", "s3:GetObject", true),
            ("s3:get*", "S3:GETOBJECT", true),
            ("s3:Get*", "s3:PutObject", false),
            ("s3:*Object", "s3:GetObject", true),
            ("s3:*Object", "s3:GetObjectAcl", false),
            ("iam:?etRole", "iam:GetRole", true),
            ("iam:?etRole", "iam:GetRolePolicy", false),
            ("lambda:*", "lambda:UpdateFunctionCode", true),
            ("lambda:*Function*", "lambda:UpdateFunctionCode", true),
            ("s3:GetObject", "s3:GetObject", true),
            ("s3:GetObject", "s3:GetObjectVersion", false),
            ("", "s3:GetObject", false),
            ("*:*", "kms:Decrypt", true),
            ("ec2:Describe*", "ec2:Describe", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYd", false),
        ] {
            assert_eq!(iam_match(p, a), want, "{p} vs {a}");
        }
    }
}

//! The e-mail helpers of `odoo/tools/mail.py` that computed partner fields use:
//! `email_normalized` (the lower-cased address) and `email_formatted` (`"Name" <address>`).

use base64::Engine;

/// `email_split`: the addresses in a text such as `a@b.c, "Name" <d@e.f>`: each part
/// between commas, the `<...>` in it if any, kept when it looks like `local@domain`.
pub fn email_split(text: &str) -> Vec<String> {
    text.split(',')
        .filter_map(|part| {
            let part = part.trim();
            let address = match (part.rfind('<'), part.rfind('>')) {
                (Some(open), Some(close)) if open < close => &part[open + 1..close],
                _ => part,
            };
            let address = address.trim();
            let (local, domain) = address.rsplit_once('@')?;
            let plain = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
            (plain(local) && plain(domain)).then(|| address.to_string())
        })
        .collect()
}

/// `_normalize_email`: lower case, except an internationalized local part (only its domain
/// is lowered then).
fn normalize(address: &str) -> String {
    if address.is_ascii() {
        return address.to_lowercase();
    }
    match address.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => address.to_string(),
    }
}

/// `email_normalize`: the one address of the text, normalized; `None` without exactly one.
pub fn email_normalize(text: &str) -> Option<String> {
    match email_split(text).as_slice() {
        [one] => Some(normalize(one)),
        _ => None,
    }
}

/// `email_normalize_all`: every address of the text, normalized.
pub fn email_normalize_all(text: &str) -> Vec<String> {
    email_split(text).iter().map(|a| normalize(a)).collect()
}

/// `formataddr((name, address))`: `"Name" <address>` with `\` and `"` escaped, a non-ASCII
/// name as an RFC 2047 word (`=?utf-8?b?...?=`), the bare address without a name.
pub fn formataddr(name: &str, address: &str) -> String {
    if name.is_empty() {
        return address.to_string();
    }
    if !name.is_ascii() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(name.as_bytes());
        return format!("=?utf-8?b?{encoded}?= <{address}>");
    }
    let mut escaped = String::with_capacity(name.len());
    for c in name.chars() {
        if c == '\\' || c == '"' {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!("\"{escaped}\" <{address}>")
}

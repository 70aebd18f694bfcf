//! The deployment files in `deploy/`: none of them can run on the test machine (no container
//! engine, no cluster, no systemd as PID 1), so this checks what can be checked without running
//! them: that every file parses, that images are pinned, that ports, paths, secrets and probes agree
//! with the shipped configs, that the configs and policies are valid for odoo-warden itself (through
//! the library, and through the real binary when `target/debug/odoo-warden` is built), that no
//! secret is written in any file, and `systemd-analyze verify` on the unit when that tool exists.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

const MCP_PORT: u16 = 8808;
const ADMIN_PORT: u16 = 8809;
/// The one placeholder accepted where a secret would go.
const PLACEHOLDER: &str = "CHANGE-ME";
/// Where the image reads its config (Dockerfile `ENV ODOO_WARDEN_CONFIG`).
const IMAGE_CONFIG: &str = "/etc/odoo-warden/odoo-warden.toml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy(rel: &str) -> PathBuf {
    root().join("deploy").join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// YAML, read with yaml-rust2 (YAML 1.2) into a tree the checks below walk.
//
// Scalars keep the type YAML gives them (`true` a boolean, `8808` an integer, `"8808"` a string)
// and each accessor takes one type only, so a quoted `"true"` where a boolean belongs fails, and
// so does a bare number where a string belongs. Mapping keys keep their order.
// Refused, besides what the parser refuses (tabs in indentation, duplicate keys, unknown aliases,
// unclosed quotes or collections, ...), because a check here would read them otherwise than
// docker compose or Kubernetes do:
// - tags (`!!str`, compose's `!reset` and `!override`, ...): their meaning is not applied here;
// - merge keys (`<<`): applied by compose and Kubernetes (YAML 1.1), not by a YAML 1.2 reader;
// - plain `y`, `n`, `yes`, `no`, `on`, `off` (and their capitalised forms): booleans to YAML 1.1,
//   as Kubernetes reads manifests, strings to YAML 1.2; quote them or write `true`/`false`;
// - keys that are not strings.
// Empty documents (a trailing `---`) are dropped. Limit: a plain number with a leading zero
// (`defaultMode: 0440`) is octal to YAML 1.1 and decimal here; no check reads such a value.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Yaml {
    Map(Vec<(String, Yaml)>),
    List(Vec<Yaml>),
    Str(String),
    Int(i64),
    Bool(bool),
    /// As written.
    Float(String),
    Null,
}

impl Yaml {
    fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node at a dotted path (`spec.template.spec.containers.0.image`); panics naming the path.
    fn at(&self, path: &str) -> &Yaml {
        let mut node = self;
        for part in path.split('.') {
            node = match node {
                Yaml::List(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => node.get(part),
            }
            .unwrap_or_else(|| panic!("missing `{path}` (at `{part}`) in {self:?}"));
        }
        node
    }

    fn str(&self) -> &str {
        match self {
            Yaml::Str(s) => s,
            other => panic!("expected a string, got {other:?}"),
        }
    }

    fn bool(&self) -> bool {
        match self {
            Yaml::Bool(b) => *b,
            other => panic!("expected a boolean, got {other:?}"),
        }
    }

    /// An integer that fits a port number, a replica count, ...
    fn u16(&self) -> u16 {
        match self {
            Yaml::Int(i) => u16::try_from(*i).unwrap_or_else(|_| panic!("{i} is out of range")),
            other => panic!("expected an integer, got {other:?}"),
        }
    }

    fn list(&self) -> &[Yaml] {
        match self {
            Yaml::List(items) => items,
            other => panic!("expected a list, got {other:?}"),
        }
    }

    fn strs(&self) -> Vec<&str> {
        self.list().iter().map(Yaml::str).collect()
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Yaml::Map(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("expected a mapping, got {other:?}"),
        }
    }
}

fn parse_yaml(src: &str) -> Result<Vec<Yaml>, String> {
    let docs = yaml_rust2::YamlLoader::load_from_str(src).map_err(|e| e.to_string())?;
    let mut scan = Scan(None, Vec::new());
    yaml_rust2::parser::Parser::new_from_str(src)
        .load(&mut scan, true)
        .map_err(|e| e.to_string())?;
    if let Some(e) = scan.0 {
        return Err(e);
    }
    docs.into_iter()
        // Empty documents (a trailing `---`) hold nothing, as kubectl and compose treat them.
        .filter(|d| !d.is_badvalue() && !d.is_null())
        .map(|d| tree(d, "(document)"))
        .collect()
}

/// The crate's node as a [`Yaml`]; `path` names it in errors.
fn tree(node: yaml_rust2::Yaml, path: &str) -> Result<Yaml, String> {
    use yaml_rust2::Yaml as Y;
    Ok(match node {
        Y::Hash(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let Y::String(key) = k else {
                    return Err(format!("{path}: a key that is not a string: {k:?}"));
                };
                if key == "<<" {
                    return Err(format!("{path}: merge key `<<`"));
                }
                let child = tree(v, &format!("{path}.{key}"))?;
                out.push((key, child));
            }
            Yaml::Map(out)
        }
        Y::Array(items) => Yaml::List(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| tree(v, &format!("{path}.{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Y::String(s) => Yaml::Str(s),
        Y::Integer(i) => Yaml::Int(i),
        Y::Boolean(b) => Yaml::Bool(b),
        Y::Real(r) => Yaml::Float(r),
        Y::Null => Yaml::Null,
        Y::Alias(_) | Y::BadValue => return Err(format!("{path}: an alias of no anchor")),
    })
}

/// What the tree does not show: tags, and plain scalars that YAML 1.1 reads as booleans.
/// The first problem found, and where the reader is: per open container, whether it is a
/// mapping whose next node is a key (keys such as `y` are names, not booleans).
struct Scan(Option<String>, Vec<(bool, bool)>);

impl Scan {
    /// The next node is a mapping key.
    fn at_key(&self) -> bool {
        matches!(self.1.last(), Some((true, true)))
    }

    /// A node (scalar, alias or a whole container) was read in the current container.
    fn node_done(&mut self) {
        if let Some((true, key)) = self.1.last_mut() {
            *key = !*key;
        }
    }
}

impl yaml_rust2::parser::MarkedEventReceiver for Scan {
    fn on_event(&mut self, ev: yaml_rust2::Event, mark: yaml_rust2::scanner::Marker) {
        use yaml_rust2::Event;
        use yaml_rust2::scanner::TScalarStyle;
        let key = self.at_key();
        match &ev {
            Event::MappingStart(..) => self.1.push((true, true)),
            Event::SequenceStart(..) => self.1.push((false, false)),
            Event::MappingEnd | Event::SequenceEnd => {
                self.1.pop();
                self.node_done();
            }
            Event::Scalar(..) | Event::Alias(_) => self.node_done(),
            _ => {}
        }
        if self.0.is_some() {
            return;
        }
        let at = format!("line {} column {}", mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(_, _, _, Some(tag))
            | Event::SequenceStart(_, Some(tag))
            | Event::MappingStart(_, Some(tag)) => {
                self.0 = Some(format!(
                    "{at}: tag `{}{}` (not applied by these checks)",
                    tag.handle, tag.suffix
                ));
            }
            Event::Scalar(v, TScalarStyle::Plain, _, None)
                if !key
                    && matches!(
                        v.as_str(),
                        "y" | "Y"
                            | "yes"
                            | "Yes"
                            | "YES"
                            | "n"
                            | "N"
                            | "no"
                            | "No"
                            | "NO"
                            | "on"
                            | "On"
                            | "ON"
                            | "off"
                            | "Off"
                            | "OFF"
                    ) =>
            {
                self.0 = Some(format!(
                    "{at}: plain `{v}` is a boolean to YAML 1.1 and a string to YAML 1.2: quote it, \
                     or write true/false"
                ));
            }
            _ => {}
        }
    }
}

fn yaml_file(rel: &str) -> Vec<Yaml> {
    let path = deploy(rel);
    parse_yaml(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn yaml_reader_keeps_types_and_refuses_what_would_be_misread() {
    let ok = "a: 1\nb:\n  - x\n  - k: v\n    j: [\"p\", 'q']\nc:\n- y: 'on'\nd: {}\n\
              e: &anchor \"f: g\" # c\nf: *anchor\ng: true\nh: \"true\"\ni: |\n  text\n---\n\
              z: ~\n---\n";
    let docs = parse_yaml(ok).unwrap();
    assert_eq!(docs.len(), 2, "{docs:?}");
    let d = &docs[0];
    assert_eq!(d.keys(), ["a", "b", "c", "d", "e", "f", "g", "h", "i"]);
    assert_eq!(d.at("a"), &Yaml::Int(1));
    assert_eq!(d.at("b.0").str(), "x");
    assert_eq!(d.at("b.1.j").strs(), ["p", "q"]);
    assert_eq!(d.at("c.0.y").str(), "on");
    assert_eq!(d.at("d"), &Yaml::Map(Vec::new()));
    assert_eq!(d.at("e").str(), "f: g");
    assert_eq!(d.at("f").str(), "f: g");
    assert!(d.at("g").bool());
    assert_eq!(d.at("h").str(), "true");
    assert_eq!(d.at("i").str(), "text\n");
    assert_eq!(docs[1].at("z"), &Yaml::Null);
    for bad in [
        "a:\n\tb: 1\n",
        "a: 1\na: 2\n",
        "a: *nowhere\n",
        "a: !!str 1\n",
        "a: !reset []\n",
        "a: &x {b: 1}\nc:\n  <<: *x\n",
        "a: yes\n",
        "a: [Off]\n",
        "? [a]\n: 1\n",
        "1: a\n",
        "a: [1, [2]\n",
        "a: \"open\n",
        "a: b: c\n",
        "a: 1\n  b: 2\n",
    ] {
        assert!(parse_yaml(bad).is_err(), "accepted {bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Shared checks.
// ---------------------------------------------------------------------------------------------

/// An image reference with a tag (or digest) that is not `latest`.
fn check_pinned(image: &str, what: &str) {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        assert!(
            d.starts_with("sha256:") && d.len() == 71,
            "{what}: bad digest in {image}"
        );
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.split_once(':').map(|(_, t)| t);
    match tag {
        Some(t) => {
            assert!(!t.is_empty(), "{what}: empty tag in {image}");
            assert_ne!(t, "latest", "{what}: {image} uses the moving tag `latest`");
        }
        None => assert!(
            digest.is_some(),
            "{what}: {image} has no tag: pin a version"
        ),
    }
}

/// The shipped configs, each with the listen addresses its deployment expects.
const CONFIGS: [(&str, &str); 3] = [
    ("compose/odoo-warden.toml", "0.0.0.0"),
    ("kubernetes/odoo-warden.toml", "0.0.0.0"),
    ("systemd/odoo-warden.toml", "127.0.0.1"),
];

const KNOWN_KEYS: [(&str, &[&str]); 3] = [
    (
        "server",
        &[
            "listen",
            "admin_listen",
            "public_url",
            "allowed_origins",
            "max_body_bytes",
            "request_timeout_secs",
        ],
    ),
    ("store", &["url"]),
    ("odoo", &["url", "database", "protocol", "timeout_secs"]),
];
const PROFILE_KEYS: [&str; 5] = [
    "odoo_login",
    "odoo_api_key_env",
    "odoo_api_key_file",
    "policy",
    "allow_privileged_user",
];

fn config(rel: &str) -> toml::Table {
    let path = deploy(rel);
    read(&path)
        .parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn tstr<'a>(t: &'a toml::Table, path: &str) -> &'a str {
    let mut v: Option<&toml::Value> = None;
    let mut table = t;
    for part in path.split('.') {
        let next = table
            .get(part)
            .unwrap_or_else(|| panic!("missing `{path}`"));
        v = Some(next);
        if let Some(t) = next.as_table() {
            table = t;
        }
    }
    v.and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("`{path}` is not a string"))
}

fn the_profile(t: &toml::Table) -> &toml::Table {
    let profiles = t["profiles"].as_table().expect("[profiles]");
    assert_eq!(profiles.len(), 1, "the deploy configs ship one profile");
    profiles.values().next().unwrap().as_table().unwrap()
}

#[test]
fn configs_use_known_keys_valid_values_and_no_secrets() {
    for (rel, host) in CONFIGS {
        let t = config(rel);
        for (section, value) in &t {
            let table = value
                .as_table()
                .unwrap_or_else(|| panic!("{rel}: `{section}` must be a table"));
            if section == "profiles" {
                for (name, p) in table {
                    let p = p.as_table().expect("profile table");
                    for k in p.keys() {
                        assert!(
                            PROFILE_KEYS.contains(&k.as_str()),
                            "{rel}: unknown key profiles.{name}.{k}"
                        );
                    }
                    let env = p.contains_key("odoo_api_key_env");
                    let file = p.contains_key("odoo_api_key_file");
                    assert!(
                        env ^ file,
                        "{rel}: profiles.{name} needs exactly one key source"
                    );
                    assert!(
                        !p.contains_key("allow_privileged_user"),
                        "{rel}: a shipped config must not accept an Odoo administrator"
                    );
                }
                continue;
            }
            let known = KNOWN_KEYS
                .iter()
                .find(|(s, _)| s == section)
                .unwrap_or_else(|| panic!("{rel}: unknown section [{section}]"))
                .1;
            for k in table.keys() {
                assert!(
                    known.contains(&k.as_str()),
                    "{rel}: unknown key {section}.{k}"
                );
            }
        }
        let listen: SocketAddr = tstr(&t, "server.listen").parse().unwrap();
        let admin: SocketAddr = tstr(&t, "server.admin_listen").parse().unwrap();
        assert_eq!(listen.port(), MCP_PORT, "{rel}: server.listen port");
        assert_eq!(admin.port(), ADMIN_PORT, "{rel}: server.admin_listen port");
        assert_eq!(listen.ip().to_string(), host, "{rel}: server.listen host");
        assert_eq!(
            admin.ip().to_string(),
            host,
            "{rel}: server.admin_listen host"
        );
        url::Url::parse(tstr(&t, "server.public_url")).expect("public_url is a URL");
        assert!(
            ["auto", "json2", "jsonrpc"].contains(&tstr(&t, "odoo.protocol")),
            "{rel}: odoo.protocol"
        );
        let odoo = url::Url::parse(tstr(&t, "odoo.url")).expect("odoo.url");
        assert!(odoo.username().is_empty() && odoo.password().is_none());

        let store = tstr(&t, "store.url");
        if store.starts_with("postgres") {
            let u = url::Url::parse(store).expect("store url");
            assert!(
                u.password().is_none(),
                "{rel}: the store password belongs in PGPASSWORD, not in [store] url"
            );
            assert!(
                !u.query_pairs()
                    .any(|(k, _)| k.eq_ignore_ascii_case("password")),
                "{rel}: password in the store URL query"
            );
        } else {
            assert!(
                store.starts_with("sqlite:///"),
                "{rel}: a shipped SQLite store needs an absolute path, not {store}"
            );
        }

        // Policy paths, relative to the config file, exist and are valid policies.
        let dir = deploy(rel).parent().unwrap().to_path_buf();
        let profile = the_profile(&t);
        let policy = dir.join(profile["policy"].as_str().expect("policy path"));
        assert!(
            policy.is_file(),
            "{rel}: policy {} is missing",
            policy.display()
        );
        let problems = odoo_warden::policy::check_files(std::slice::from_ref(&policy));
        assert!(problems.is_empty(), "{}: {problems:?}", policy.display());
        if let Some(file) = profile.get("odoo_api_key_file") {
            assert!(
                Path::new(file.as_str().unwrap()).is_absolute(),
                "{rel}: the key file is mounted, so its path is absolute"
            );
        }

        // And odoo-warden itself accepts the file.
        let cfg = odoo_warden::config::Config::load_without_secrets(&deploy(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(cfg.server.listen, listen);
        for p in cfg.profiles.values() {
            assert_eq!(p.policy.as_deref(), Some(policy.as_path()));
        }
    }
}

/// Cuts a comment off a line (a `#` at the start or after whitespace, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => return &line[..i],
            None => {}
        }
        prev = c;
    }
    line
}

/// Lines that set something named like a password, token or key to a literal.
fn secret_literals(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let lower = line.to_ascii_lowercase();
        for word in [
            "password", "passwd", "api_key", "api-key", "apikey", "token", "secret",
        ] {
            let mut from = 0;
            while let Some(pos) = lower[from..].find(word).map(|p| p + from) {
                from = pos + word.len();
                // The identifier around the match.
                let bytes = lower.as_bytes();
                let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
                let mut start = pos;
                while start > 0 && is_ident(bytes[start - 1]) {
                    start -= 1;
                }
                let mut end = from;
                while end < bytes.len() && is_ident(bytes[end]) {
                    end += 1;
                }
                // Only in key position: at the start, after whitespace, a list dash, `=`, `?`, `&`.
                if start > 0 && !matches!(bytes[start - 1], b' ' | b'-' | b'=' | b'?' | b'&' | b'"')
                {
                    continue;
                }
                let rest = line[end..].trim_start_matches(['"', '\'']).trim_start();
                let value = if let Some(v) = rest.strip_prefix('=') {
                    v
                } else if let Some(v) = rest.strip_prefix(':') {
                    v
                } else {
                    continue;
                };
                let value = strip_comment(value).trim().trim_matches(['"', '\'']);
                let ok = value.is_empty()
                    || value.starts_with('$')
                    || value.starts_with('/')
                    || value.starts_with(PLACEHOLDER)
                    || value.starts_with('<')
                    || value.starts_with("...")
                    // Prose (a comment, a README sentence): a secret has no spaces.
                    || value.contains(' ')
                    || value == "true"
                    || value == "false"
                    || value.ends_with(".toml")
                    // A name, not a value: `odoo_api_key_file`, `key: store-password`, ...
                    || value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                        && (value.contains('_') || value.contains('-'))
                        && value.to_ascii_lowercase().contains(word.trim_matches('-'));
                if !ok {
                    found.push(format!("line {}: {line}", no + 1));
                }
            }
        }
        // Tokens of odoo-warden and 40-hex Odoo API keys never appear.
        if let Some(p) = line.find("owk_") {
            let tail: String = line[p + 4..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if tail.len() > 8 {
                found.push(format!("line {}: an odoo-warden key: {line}", no + 1));
            }
        }
        let mut run = 0;
        for c in line.chars() {
            run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
            if run >= 32 {
                found.push(format!("line {}: a long hex string: {line}", no + 1));
                break;
            }
        }
        if let Some(p) = lower.find("postgres://") {
            let auth = line[p + 11..].split(['/', ' ', '"']).next().unwrap_or("");
            if let Some((user, _host)) = auth.rsplit_once('@') {
                if let Some((_, pass)) = user.split_once(':') {
                    if !pass.starts_with(PLACEHOLDER) && !pass.starts_with('$') && pass != "..." {
                        found.push(format!("line {}: password in a URL: {line}", no + 1));
                    }
                }
            }
        }
    }
    found
}

fn deploy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            deploy_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_secret_is_written_anywhere_in_deploy() {
    let mut files = Vec::new();
    deploy_files(&deploy(""), &mut files);
    assert!(files.len() > 15, "deploy/ looks empty: {files:?}");
    for f in files {
        let text = read(&f);
        let found = secret_literals(&text);
        assert!(found.is_empty(), "{}: {found:#?}", f.display());
        if f.extension().is_some_and(|e| e == "toml") {
            let t: toml::Table = text
                .parse()
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            fn walk(t: &toml::Table, f: &Path) {
                for (k, v) in t {
                    let k = k.to_ascii_lowercase();
                    assert!(
                        k != "odoo_api_key" && !k.contains("password") && !k.contains("token"),
                        "{}: key `{k}` would hold a secret",
                        f.display()
                    );
                    if let Some(t) = v.as_table() {
                        walk(t, f);
                    }
                }
            }
            walk(&t, &f);
        }
    }
    // The checker itself finds what it must.
    for bad in [
        "odoo_api_key = \"0123abcd\"",
        "  POSTGRES_PASSWORD: hunter2",
        "url = \"postgres://u:hunter2@db/x\"",
        "  store-password: s3cret",
        "key owk_abcdef0123456789_xyz",
        "ODOO_DB_PASSWORD=hunter2",
    ] {
        assert!(!secret_literals(bad).is_empty(), "missed {bad:?}");
    }
    for fine in [
        "  POSTGRES_PASSWORD: ${WARDEN_DB_PASSWORD:?set it}",
        "  store-password: CHANGE-ME",
        "odoo_api_key_file = \"/run/secrets/odoo_api_key\"",
        "      key: store-password",
        "            - name: PGPASSWORD",
    ] {
        assert!(secret_literals(fine).is_empty(), "flagged {fine:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Dockerfile.
// ---------------------------------------------------------------------------------------------

/// Instructions with continuation lines joined; comments dropped (returned separately).
fn dockerfile() -> (Vec<(String, String)>, String) {
    let text = read(&deploy("Dockerfile"));
    let mut instructions = Vec::new();
    let mut comments = String::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            comments.push_str(trimmed);
            comments.push('\n');
            continue;
        }
        if trimmed.is_empty() && current.is_empty() {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (op, args) = current.split_once(' ').unwrap_or((&current, ""));
        instructions.push((op.to_ascii_uppercase(), args.trim().to_string()));
        current.clear();
    }
    assert!(current.is_empty(), "Dockerfile ends inside a continuation");
    (instructions, comments)
}

#[test]
fn dockerfile_is_multistage_pinned_and_shell_free() {
    let (ins, comments) = dockerfile();
    let syntax = comments
        .lines()
        .find_map(|l| l.strip_prefix("# syntax="))
        .expect("a # syntax= line (cache mounts need BuildKit's frontend)");
    check_pinned(syntax, "Dockerfile syntax");
    assert!(
        syntax.rsplit(':').next().unwrap().contains('.'),
        "syntax pinned to a minor"
    );

    // Stages.
    let mut stages: Vec<(String, Option<String>, usize)> = Vec::new();
    for (n, (op, args)) in ins.iter().enumerate() {
        if op == "FROM" {
            let words: Vec<&str> = args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let image = words[0].to_string();
            let alias = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                [_] => None,
                _ => panic!("FROM {args}: unexpected form"),
            };
            if !stages
                .iter()
                .any(|(_, a, _)| a.as_deref() == Some(image.as_str()))
            {
                check_pinned(&image, "Dockerfile FROM");
            }
            stages.push((image, alias, n));
        }
    }
    assert!(stages.len() >= 2, "multi-stage build");
    let builder = &stages[0].0;
    let version = builder
        .strip_prefix("rust:")
        .and_then(|t| t.strip_suffix("-bookworm"))
        .unwrap_or_else(|| panic!("builder {builder}: rust:<version>-bookworm"));
    let parts: Vec<&str> = version.split('.').collect();
    assert!(
        (2..=3).contains(&parts.len()) && parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "builder {builder}: a specific Rust version"
    );
    let (runtime, _, start) = stages.last().unwrap();
    assert!(
        runtime.starts_with("gcr.io/distroless/cc-debian12:nonroot"),
        "runtime {runtime}: distroless cc-debian12, nonroot tag"
    );
    let final_stage = &ins[*start + 1..];
    let get = |op: &str| -> Vec<&str> {
        final_stage
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, a)| a.as_str())
            .collect()
    };
    assert!(
        get("RUN").is_empty(),
        "the runtime stage has no shell to RUN with"
    );
    assert!(
        get("HEALTHCHECK").is_empty(),
        "no shell/curl for a HEALTHCHECK"
    );
    assert!(
        comments.contains("HEALTHCHECK") && comments.contains("/healthz"),
        "a comment says why there is no HEALTHCHECK and what to probe"
    );
    let user = get("USER");
    assert_eq!(user.len(), 1, "one USER in the runtime stage");
    assert!(
        !["root", "0", "0:0"].contains(&user[0]),
        "non-root user, not {}",
        user[0]
    );
    assert_eq!(get("ENTRYPOINT"), ["[\"/usr/local/bin/odoo-warden\"]"]);
    assert_eq!(get("CMD"), ["[\"serve\"]"]);
    assert!(
        get("COPY")
            .iter()
            .any(|a| a.starts_with("--from=") && a.ends_with(" /usr/local/bin/odoo-warden")),
        "the binary is copied to /usr/local/bin/odoo-warden"
    );
    assert!(
        get("ENV").contains(&format!("ODOO_WARDEN_CONFIG={IMAGE_CONFIG}").as_str()),
        "ENV ODOO_WARDEN_CONFIG={IMAGE_CONFIG}"
    );
    let exposed: BTreeSet<u16> = get("EXPOSE")
        .iter()
        .flat_map(|a| a.split_whitespace())
        .map(|p| p.trim_end_matches("/tcp").parse().expect("EXPOSE port"))
        .collect();
    assert_eq!(exposed, BTreeSet::from([MCP_PORT, ADMIN_PORT]));
    for (rel, _) in CONFIGS.iter().take(2) {
        let t = config(rel);
        for key in ["server.listen", "server.admin_listen"] {
            let port = tstr(&t, key).parse::<SocketAddr>().unwrap().port();
            assert!(
                exposed.contains(&port),
                "{rel} {key} port {port} is not EXPOSEd"
            );
        }
    }

    // The build stage caches dependencies and builds the locked release binary.
    let build = ins[..*start]
        .iter()
        .filter(|(o, _)| o == "RUN")
        .map(|(_, a)| a.as_str())
        .find(|a| a.contains("cargo build"))
        .expect("a RUN cargo build");
    assert!(build.contains("--release") && build.contains("--locked"));
    assert!(
        build.contains("--mount=type=cache,target=/usr/local/cargo/registry"),
        "dependency downloads cached"
    );
    assert!(build.contains("--mount=type=cache,target="), "build cache");

    // The build-context filter keeps the big directories out and the sources in.
    let ignore = read(&deploy("Dockerfile.dockerignore"));
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for must in ["target", ".git", ".venv"] {
        assert!(patterns.contains(&must), "Dockerfile.dockerignore: {must}");
    }
    for keep in [
        "src",
        "policies",
        "Cargo.toml",
        "Cargo.lock",
        "examples",
        "benches",
    ] {
        assert!(
            !patterns.contains(&keep),
            "Dockerfile.dockerignore drops {keep}, which the build needs"
        );
        assert!(root().join(keep).exists(), "{keep} is in the build context");
    }
}

// ---------------------------------------------------------------------------------------------
// Docker Compose.
// ---------------------------------------------------------------------------------------------

#[test]
fn compose_runs_odoo_postgres_and_odoo_warden_consistently() {
    let docs = yaml_file("compose/compose.yaml");
    assert_eq!(docs.len(), 1);
    let c = &docs[0];
    let services = c.at("services");
    let names = services.keys();
    for want in ["db", "odoo", "warden-db", "odoo-warden"] {
        assert!(names.contains(&want), "service {want}");
    }
    let images: BTreeMap<&str, &str> = names
        .iter()
        .map(|n| (*n, services.at(&format!("{n}.image")).str()))
        .collect();
    for (n, image) in &images {
        check_pinned(image, &format!("compose service {n}"));
    }
    assert!(
        ["odoo:18.0", "odoo:19.0"].contains(&images["odoo"])
            || images["odoo"].starts_with("odoo:18.0-")
            || images["odoo"].starts_with("odoo:19.0-"),
        "official odoo image, pinned 18 or 19: {}",
        images["odoo"]
    );
    for pg in ["db", "warden-db"] {
        assert!(images[pg].starts_with("postgres:16"), "{pg}: postgres 16");
    }

    // Published ports: MCP on any interface; anything else on loopback only; never the admin port
    // on a non-loopback address.
    let cfg = config("compose/odoo-warden.toml");
    let listen: SocketAddr = tstr(&cfg, "server.listen").parse().unwrap();
    let admin: SocketAddr = tstr(&cfg, "server.admin_listen").parse().unwrap();
    let mut mcp_published = false;
    for n in &names {
        let Some(ports) = services.at(n).get("ports") else {
            continue;
        };
        for p in ports.strs() {
            let parts: Vec<&str> = p.split(':').collect();
            let (host_ip, host_port, container) = match parts.as_slice() {
                [h, c] => (None, *h, *c),
                [ip, h, c] => (Some(*ip), *h, *c),
                _ => panic!("{n}: port {p:?}: use \"HOST:CONTAINER\" or \"IP:HOST:CONTAINER\""),
            };
            let container: u16 = container.parse().unwrap();
            if *n == "odoo-warden" && container == listen.port() && host_ip.is_none() {
                assert_eq!(host_port, listen.port().to_string());
                mcp_published = true;
            } else {
                assert_eq!(
                    host_ip,
                    Some("127.0.0.1"),
                    "{n}: {p} must be published on loopback only (only MCP is public)"
                );
                assert!(
                    !(*n == "odoo-warden" && container == admin.port()),
                    "the admin listener is not published"
                );
            }
        }
    }
    assert!(
        mcp_published,
        "odoo-warden publishes the MCP port {}",
        listen.port()
    );

    // odoo-warden: config and policies mounted where the image looks, read-only.
    let w = services.at("odoo-warden");
    assert_eq!(w.at("build.context").str(), "../..");
    assert_eq!(w.at("build.dockerfile").str(), "deploy/Dockerfile");
    assert!(
        root()
            .join("deploy/compose/../..")
            .join(w.at("build.dockerfile").str())
            .is_file(),
        "the build's Dockerfile exists"
    );
    let config_target = w
        .get("environment")
        .and_then(|e| e.get("ODOO_WARDEN_CONFIG"))
        .map_or(IMAGE_CONFIG, Yaml::str);
    assert_eq!(config_target, IMAGE_CONFIG);
    let mounts: Vec<(&str, &str)> = w
        .at("volumes")
        .list()
        .iter()
        .map(|m| {
            assert_eq!(m.at("type").str(), "bind");
            assert!(m.at("read_only").bool(), "mounts are read-only");
            (m.at("source").str(), m.at("target").str())
        })
        .collect();
    let compose_dir = deploy("compose");
    for (source, _) in &mounts {
        assert!(
            compose_dir.join(source).exists(),
            "mount source {source} exists"
        );
    }
    assert!(mounts.contains(&("./odoo-warden.toml", IMAGE_CONFIG)));
    let policy = the_profile(&cfg)["policy"].as_str().unwrap().to_string();
    let policy_in_container = Path::new(IMAGE_CONFIG).parent().unwrap().join(&policy);
    assert!(
        mounts.iter().any(|(s, t)| {
            policy_in_container.starts_with(t)
                && compose_dir
                    .join(s)
                    .join(policy_in_container.strip_prefix(t).unwrap())
                    .is_file()
        }),
        "the policy {policy} reaches {} through a mount",
        policy_in_container.display()
    );

    // The Odoo API key: a compose secret at the path the config names.
    let key_file = the_profile(&cfg)["odoo_api_key_file"].as_str().unwrap();
    let secret = key_file
        .strip_prefix("/run/secrets/")
        .expect("odoo_api_key_file under /run/secrets/");
    assert!(
        w.at("secrets").strs().contains(&secret),
        "odoo-warden uses secret {secret}"
    );
    let secret_file = c.at(&format!("secrets.{secret}.file")).str();
    assert!(secret_file.starts_with("./secrets/"));
    let ignore = read(&deploy("compose/.gitignore"));
    assert!(ignore.lines().any(|l| l == "secrets/*") && ignore.lines().any(|l| l == ".env"));

    // The store: PostgreSQL on warden-db, the password by PGPASSWORD from the same variable as the
    // server's.
    let store = url::Url::parse(tstr(&cfg, "store.url")).unwrap();
    assert_eq!(store.scheme(), "postgres");
    assert_eq!(store.host_str(), Some("warden-db"));
    let wdb = services.at("warden-db");
    assert_eq!(wdb.at("environment.POSTGRES_USER").str(), store.username());
    assert_eq!(
        wdb.at("environment.POSTGRES_DB").str(),
        store.path().trim_start_matches('/')
    );
    assert_eq!(
        wdb.at("environment.POSTGRES_PASSWORD").str(),
        w.at("environment.PGPASSWORD").str(),
        "odoo-warden's PGPASSWORD is warden-db's password"
    );
    assert!(w.at("environment.PGPASSWORD").str().starts_with("${"));
    // Odoo: the config's URL names the odoo service.
    let odoo = url::Url::parse(tstr(&cfg, "odoo.url")).unwrap();
    assert_eq!(odoo.host_str(), Some("odoo"));
    assert_eq!(odoo.port_or_known_default(), Some(8069));

    // Start order and health: every depends_on waits for a healthcheck that exists.
    for n in &names {
        let Some(deps) = services.at(n).get("depends_on") else {
            continue;
        };
        for dep in deps.keys() {
            assert_eq!(
                deps.at(&format!("{dep}.condition")).str(),
                "service_healthy",
                "{n} waits for {dep} to be healthy"
            );
            let test = services.at(&format!("{dep}.healthcheck.test")).strs();
            assert_eq!(test[0], "CMD", "{dep}: exec-form healthcheck");
        }
    }
    assert_eq!(w.at("depends_on").keys(), ["warden-db", "odoo"]);
    // Networks shared where needed, databases on internal networks.
    let nets = |n: &str| -> BTreeSet<&str> {
        services
            .at(&format!("{n}.networks"))
            .strs()
            .into_iter()
            .collect()
    };
    assert!(!nets("odoo-warden").is_disjoint(&nets("warden-db")));
    assert!(!nets("odoo-warden").is_disjoint(&nets("odoo")));
    assert!(
        nets("odoo-warden").is_disjoint(&nets("db")),
        "odoo-warden cannot reach Odoo's DB"
    );
    for db in ["db", "warden-db"] {
        for net in nets(db) {
            assert!(c.at(&format!("networks.{net}.internal")).bool());
        }
    }
    // Hardening.
    assert!(w.at("read_only").bool());
    assert_eq!(w.at("cap_drop").strs(), ["ALL"]);
    assert!(
        w.at("security_opt")
            .strs()
            .contains(&"no-new-privileges:true")
    );

    // .env.example names every variable the file requires, with placeholders.
    let env_example = read(&deploy("compose/.env.example"));
    let text = read(&deploy("compose/compose.yaml"));
    let mut rest = text.as_str();
    while let Some(p) = rest.find("${") {
        let var: String = rest[p + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            env_example.contains(&format!("{var}={PLACEHOLDER}")),
            ".env.example sets {var}"
        );
        rest = &rest[p + 2..];
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes.
// ---------------------------------------------------------------------------------------------

fn k8s_objects() -> Vec<(String, Yaml)> {
    let kustomization = &yaml_file("kubernetes/kustomization.yaml")[0];
    assert_eq!(kustomization.at("kind").str(), "Kustomization");
    let mut out = Vec::new();
    for r in kustomization.at("resources").strs() {
        assert!(
            deploy("kubernetes").join(r).is_file(),
            "resource {r} exists"
        );
        for doc in yaml_file(&format!("kubernetes/{r}")) {
            out.push((r.to_string(), doc));
        }
    }
    out
}

fn kind<'a>(objects: &'a [(String, Yaml)], k: &str) -> &'a Yaml {
    let found: Vec<&Yaml> = objects
        .iter()
        .map(|(_, o)| o)
        .filter(|o| o.at("kind").str() == k)
        .collect();
    assert_eq!(found.len(), 1, "one {k}");
    found[0]
}

#[test]
fn kubernetes_manifests_agree_with_the_config() {
    let objects = k8s_objects();
    for (file, o) in &objects {
        o.at("apiVersion").str();
        assert!(
            !o.at("metadata.name").str().is_empty(),
            "{file}: metadata.name"
        );
    }
    let kustomization = &yaml_file("kubernetes/kustomization.yaml")[0];
    let cfg = config("kubernetes/odoo-warden.toml");
    let listen: SocketAddr = tstr(&cfg, "server.listen").parse().unwrap();
    let admin: SocketAddr = tstr(&cfg, "server.admin_listen").parse().unwrap();

    // The ConfigMap is generated from the real files.
    let generator = kustomization.at("configMapGenerator.0");
    let cm_name = generator.at("name").str();
    let cm_files = generator.at("files").strs();
    for f in &cm_files {
        assert!(
            deploy("kubernetes").join(f).is_file(),
            "ConfigMap file {f} exists"
        );
    }
    let cm_keys: BTreeSet<&str> = cm_files
        .iter()
        .map(|f| f.rsplit('/').next().unwrap())
        .collect();

    let d = kind(&objects, "Deployment");
    assert_eq!(d.at("spec.replicas").u16(), 2);
    let labels = d.at("spec.selector.matchLabels");
    assert_eq!(&labels, &d.at("spec.template.metadata.labels"));
    let pod = d.at("spec.template.spec");
    assert!(pod.at("securityContext.runAsNonRoot").bool());
    assert_eq!(
        pod.at("securityContext.seccompProfile.type").str(),
        "RuntimeDefault"
    );
    assert!(!pod.at("automountServiceAccountToken").bool());
    let containers = pod.at("containers").list();
    assert_eq!(containers.len(), 1);
    let ct = &containers[0];
    let image = ct.at("image").str();
    check_pinned(image, "Deployment image");
    let tag = image.rsplit(':').next().unwrap();
    assert!(
        tag.split('.').count() == 3 && tag.split('.').all(|p| p.parse::<u32>().is_ok()),
        "a versioned image tag, not {tag}"
    );
    assert_eq!(
        ct.at("image").str().split(':').next_back(),
        Some(env!("CARGO_PKG_VERSION")),
        "the image tag is the crate's version"
    );
    assert_eq!(ct.at("args.0").str(), "serve");

    // Ports and probes.
    let ports: BTreeMap<&str, u16> = ct
        .at("ports")
        .list()
        .iter()
        .map(|p| (p.at("name").str(), p.at("containerPort").u16()))
        .collect();
    assert_eq!(ports.get("mcp"), Some(&listen.port()));
    assert_eq!(ports.get("admin"), Some(&admin.port()));
    // A port by number, or by the name of a container port.
    let port_of = |p: &Yaml| -> u16 {
        match p {
            Yaml::Str(name) => ports[name.as_str()],
            number => number.u16(),
        }
    };
    for (probe, path) in [
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ] {
        let get = ct.at(&format!("{probe}.httpGet"));
        assert_eq!(get.at("path").str(), path, "{probe} path");
        assert_eq!(
            port_of(get.at("port")),
            admin.port(),
            "{probe} on the admin port"
        );
    }

    // Resources and the container's security context.
    for r in [
        "requests.cpu",
        "requests.memory",
        "limits.cpu",
        "limits.memory",
    ] {
        ct.at(&format!("resources.{r}"));
    }
    let sc = ct.at("securityContext");
    assert!(sc.at("runAsNonRoot").bool());
    assert!(sc.at("readOnlyRootFilesystem").bool());
    assert!(!sc.at("allowPrivilegeEscalation").bool());
    assert_eq!(sc.at("capabilities.drop").strs(), ["ALL"]);
    assert_eq!(sc.at("seccompProfile.type").str(), "RuntimeDefault");

    // Environment: the config path, PGPASSWORD from the Secret.
    let secret = kind(&objects, "Secret");
    let secret_name = secret.at("metadata.name").str();
    let secret_keys = secret.at("stringData").keys();
    for key in &secret_keys {
        assert_eq!(
            secret.at(&format!("stringData.{key}")).str(),
            PLACEHOLDER,
            "the Secret ships placeholders only"
        );
    }
    let env: BTreeMap<&str, &Yaml> = ct
        .at("env")
        .list()
        .iter()
        .map(|e| (e.at("name").str(), e))
        .collect();
    assert_eq!(env["ODOO_WARDEN_CONFIG"].at("value").str(), IMAGE_CONFIG);
    let pg = env["PGPASSWORD"].at("valueFrom.secretKeyRef");
    assert_eq!(pg.at("name").str(), secret_name);
    assert!(secret_keys.contains(&pg.at("key").str()));
    let store = url::Url::parse(tstr(&cfg, "store.url")).unwrap();
    assert_eq!(
        store.scheme(),
        "postgres",
        "replicas share a PostgreSQL store"
    );

    // Volumes: the config and policy files land where the config expects them; the key file too.
    let volumes: BTreeMap<&str, &Yaml> = pod
        .at("volumes")
        .list()
        .iter()
        .map(|v| (v.at("name").str(), v))
        .collect();
    let mut files_in_pod: BTreeSet<PathBuf> = BTreeSet::new();
    for m in ct.at("volumeMounts").list() {
        let mount = Path::new(m.at("mountPath").str());
        let v = volumes[m.at("name").str()];
        if let Some(cm) = v.get("configMap") {
            assert_eq!(cm.at("name").str(), cm_name);
            for item in cm.at("items").list() {
                assert!(
                    cm_keys.contains(item.at("key").str()),
                    "ConfigMap key exists"
                );
                files_in_pod.insert(mount.join(item.at("path").str()));
            }
            assert!(m.at("readOnly").bool());
        } else if let Some(s) = v.get("secret") {
            assert_eq!(s.at("secretName").str(), secret_name);
            for item in s.at("items").list() {
                assert!(secret_keys.contains(&item.at("key").str()));
                files_in_pod.insert(mount.join(item.at("path").str()));
            }
            assert!(m.at("readOnly").bool());
        }
    }
    let config_dir = Path::new(IMAGE_CONFIG).parent().unwrap();
    let profile = the_profile(&cfg);
    for want in [
        PathBuf::from(IMAGE_CONFIG),
        config_dir.join(profile["policy"].as_str().unwrap()),
        PathBuf::from(profile["odoo_api_key_file"].as_str().unwrap()),
    ] {
        assert!(
            files_in_pod.contains(&want),
            "{} is mounted: {files_in_pod:?}",
            want.display()
        );
    }

    // The Service exposes MCP only.
    let svc = kind(&objects, "Service");
    assert_eq!(svc.at("spec.selector"), labels);
    let svc_ports = svc.at("spec.ports").list();
    assert_eq!(svc_ports.len(), 1, "the Service exposes only MCP");
    assert_eq!(port_of(svc_ports[0].at("targetPort")), listen.port());

    // The NetworkPolicy: the admin port only from inside the namespace (or monitoring).
    let np = kind(&objects, "NetworkPolicy");
    assert_eq!(np.at("spec.podSelector.matchLabels"), labels);
    let mut admin_rule_seen = false;
    for rule in np.at("spec.ingress").list() {
        let rule_ports: Vec<u16> = rule
            .at("ports")
            .list()
            .iter()
            .map(|p| port_of(p.at("port")))
            .collect();
        if rule_ports.contains(&admin.port()) {
            admin_rule_seen = true;
            let from = rule
                .get("from")
                .expect("the admin rule restricts `from`")
                .list();
            assert!(!from.is_empty());
            for peer in from {
                assert!(
                    peer.get("ipBlock").is_none(),
                    "no ipBlock for the admin port"
                );
                if let Some(ns) = peer.get("namespaceSelector") {
                    assert_ne!(ns, &Yaml::Map(Vec::new()), "not every namespace");
                }
            }
        }
    }
    assert!(admin_rule_seen, "the NetworkPolicy names the admin port");

    let pdb = kind(&objects, "PodDisruptionBudget");
    assert_eq!(pdb.at("spec.selector.matchLabels"), labels);
    assert_eq!(
        kind(&objects, "Namespace").at("metadata.name").str(),
        kustomization.at("namespace").str()
    );
}

// ---------------------------------------------------------------------------------------------
// systemd.
// ---------------------------------------------------------------------------------------------

fn unit() -> Vec<(String, String, String)> {
    let text = read(&deploy("systemd/odoo-warden.service"));
    let mut section = String::new();
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.to_string();
            continue;
        }
        assert!(
            !line.ends_with('\\'),
            "line {}: keep directives on one line",
            no + 1
        );
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: not key=value: {line}", no + 1));
        out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
    }
    out
}

#[test]
fn systemd_unit_is_sandboxed_and_matches_its_config() {
    let directives = unit();
    let get = |k: &str| -> Vec<&str> {
        directives
            .iter()
            .filter(|(s, key, _)| s == "Service" && key == k)
            .map(|(_, _, v)| v.as_str())
            .collect()
    };
    let one = |k: &str| -> &str {
        let v = get(k);
        assert_eq!(v.len(), 1, "exactly one {k}= in [Service]: {v:?}");
        v[0]
    };
    for (k, want) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "odoo-warden"),
        ("ConfigurationDirectory", "odoo-warden"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("CapabilityBoundingSet", ""),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(one(k), want, "{k}=");
    }
    assert!(get("SystemCallFilter").contains(&"@system-service"));
    assert_eq!(
        directives
            .iter()
            .filter(|(s, k, _)| s == "Install" && k == "WantedBy")
            .count(),
        1
    );

    // ExecStart runs serve with the config in the ConfigurationDirectory.
    let exec: Vec<&str> = one("ExecStart").split_whitespace().collect();
    assert_eq!(exec[0], "/usr/local/bin/odoo-warden");
    assert_eq!(exec.last(), Some(&"serve"));
    let config_arg = exec
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| w[1])
        .expect("--config");
    assert_eq!(
        config_arg,
        format!("/etc/{}/odoo-warden.toml", one("ConfigurationDirectory"))
    );

    // The config's key file is the credential LoadCredential= provides; the store is in the state
    // directory; the listeners are on loopback.
    let cfg = config("systemd/odoo-warden.toml");
    let (cred_id, cred_src) = one("LoadCredential").split_once(':').expect("ID:PATH");
    assert!(Path::new(cred_src).is_absolute());
    assert_eq!(
        the_profile(&cfg)["odoo_api_key_file"].as_str().unwrap(),
        format!("/run/credentials/odoo-warden.service/{cred_id}"),
        "odoo_api_key_file is $CREDENTIALS_DIRECTORY/{cred_id}"
    );
    let store = tstr(&cfg, "store.url");
    assert!(
        store.starts_with(&format!("sqlite:///var/lib/{}/", one("StateDirectory"))),
        "the SQLite store lives in the StateDirectory: {store}"
    );
    assert_eq!(one("WorkingDirectory"), "/var/lib/odoo-warden");
    let policy = the_profile(&cfg)["policy"].as_str().unwrap();
    assert!(
        deploy("systemd").join(policy).is_file(),
        "systemd/{policy} ships with the unit"
    );
}

#[test]
fn systemd_analyze_verify_passes() {
    let Some(analyze) = which("systemd-analyze") else {
        println!("SKIPPED: systemd-analyze is not on PATH (install systemd to run this check)");
        return;
    };
    // verify insists that ExecStart's binary exists: point it at a binary that does.
    let binary = root().join("target/debug/odoo-warden");
    let (binary, note) = if binary.is_file() {
        (binary, "the built target/debug/odoo-warden")
    } else {
        (
            PathBuf::from("/bin/true"),
            "/bin/true (odoo-warden is not built)",
        )
    };
    let unit = read(&deploy("systemd/odoo-warden.service"));
    assert!(unit.contains("ExecStart=/usr/local/bin/odoo-warden "));
    let unit = unit.replace(
        "ExecStart=/usr/local/bin/odoo-warden ",
        &format!("ExecStart={} ", binary.display()),
    );
    let dir = std::env::temp_dir().join(format!("odoo-warden-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("odoo-warden.service");
    std::fs::write(&path, unit).unwrap();
    println!("systemd-analyze verify with ExecStart pointing at {note}");
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("odoo-warden.service"),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
    // The sandbox's exposure score, where this systemd can compute it offline (v250+).
    let sec = Command::new(&analyze)
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&sec.stdout).to_string() + &String::from_utf8_lossy(&sec.stderr);
    if text.contains("Overall exposure level") {
        assert!(sec.status.success(), "exposure above 2.0:\n{text}");
    } else {
        println!("SKIPPED the exposure score: this systemd-analyze cannot compute it offline");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

// ---------------------------------------------------------------------------------------------
// The real binary.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_binary_accepts_every_shipped_config_and_policy() {
    let binary = root().join("target/debug/odoo-warden");
    if !binary.is_file() {
        println!("SKIPPED: target/debug/odoo-warden is not built (`cargo build` first)");
        return;
    }
    for (rel, _) in CONFIGS {
        let path = deploy(rel);
        let mut cmd = Command::new(&binary);
        cmd.arg("--config").arg(&path).args(["policy", "check"]);
        // Placeholders for any key variable (policy check reads no key, but set them anyway).
        for p in config(rel)["profiles"].as_table().unwrap().values() {
            if let Some(var) = p.get("odoo_api_key_env").and_then(toml::Value::as_str) {
                cmd.env(var, PLACEHOLDER);
            }
        }
        cmd.env("PGPASSWORD", PLACEHOLDER);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "odoo-warden --config {rel} policy check: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

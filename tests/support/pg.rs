//! A throwaway PostgreSQL server for integration tests, one per test process.
//!
//! ```ignore
//! let Some(server) = pg::shared() else { return }; // skipped: no PostgreSQL here
//! server.create_database("my_test"); // a database of its own for each test
//! let url = server.url_for("my_test"); // postgres://postgres@127.0.0.1:PORT/my_test
//! ```
//!
//! [`shared`] starts the server on first use and every test of the process gets the same one, so
//! each test makes its own database (a name used twice fails in `createdb`). It is stopped, and
//! its directory deleted, when the test process ends: a small watchdog started beside it waits
//! for the process to go (however it goes: success, failure, a signal) and then stops the server
//! with SIGQUIT (PostgreSQL's immediate shutdown). [`PgServer::start`] is a server of the
//! caller's own, stopped on drop.
//!
//! It finds `initdb` and `pg_ctl` (on `PATH`, else the newest `/usr/lib/postgresql/*/bin`),
//! initialises a cluster in a fresh temporary directory (as the `postgres` OS user when running
//! as root, since PostgreSQL refuses to run as root), with trust authentication on a Unix socket
//! inside that directory and on 127.0.0.1 at a free port, durability off (it is thrown away),
//! starts it and creates the `odoo_warden_test` database.
//!
//! Without PostgreSQL binaries, `start` (and so `shared`) prints a loud `SKIPPED` line and
//! returns `None`, unless `ODOO_WARDEN_REQUIRE_PG=1` is set (as `scripts/test` does), when it
//! panics instead, in every test that asks for it, so the suite cannot pass by skipping. Any
//! other failure to start panics with PostgreSQL's own log.

use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The process's server: started by the first test that asks, shared by all of them, stopped by
/// its watchdog when the process ends. `None` (said loudly, once) when PostgreSQL is not
/// installed and `ODOO_WARDEN_REQUIRE_PG` is not `1`; with it set, every caller panics.
pub fn shared() -> Option<&'static PgServer> {
    struct Shared {
        server: Option<PgServer>,
        _watchdog: Option<Child>,
    }
    static SHARED: OnceLock<Shared> = OnceLock::new();
    // A panic in `start` leaves the cell empty, so the next caller tries (and fails) again.
    let shared = SHARED.get_or_init(|| {
        let server = PgServer::start();
        let watchdog = server.as_ref().map(PgServer::watchdog);
        Shared {
            server,
            _watchdog: watchdog,
        }
    });
    shared.server.as_ref()
}

/// The database `start` creates.
pub const DATABASE: &str = "odoo_warden_test";

pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    run_as: Option<OsUser>,
    /// How long `start` took.
    pub startup: Duration,
}

#[derive(Clone)]
struct OsUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl PgServer {
    /// Starts a server, or returns `None` (after saying so loudly) when PostgreSQL is not
    /// installed and `ODOO_WARDEN_REQUIRE_PG` is not `1`.
    pub fn start() -> Option<PgServer> {
        let began = Instant::now();
        let Some(bin) = find_bin_dir() else {
            if std::env::var("ODOO_WARDEN_REQUIRE_PG").as_deref() == Ok("1") {
                panic!(
                    "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in \
                     /usr/lib/postgresql/*/bin, and ODOO_WARDEN_REQUIRE_PG=1: install them \
                     (Debian: apt-get install -y postgresql-15)"
                );
            }
            eprintln!();
            eprintln!("****************************************************************");
            eprintln!("*** SKIPPED: PostgreSQL not installed (no initdb/pg_ctl found) ***");
            eprintln!("*** the PostgreSQL store tests did not run                     ***");
            eprintln!("****************************************************************");
            eprintln!();
            return None;
        };
        let run_as = if is_root() {
            Some(os_user("postgres").unwrap_or_else(|| {
                panic!(
                    "running as root, and PostgreSQL refuses to: an OS user `postgres` is needed \
                     to run it (Debian's postgresql package creates one)"
                )
            }))
        } else {
            None
        };

        let dir = make_temp_dir();
        let mut server = PgServer {
            bin,
            data: dir.join("data"),
            socket_dir: dir.join("sock"),
            dir,
            port: 0,
            run_as,
            startup: Duration::ZERO,
        };
        std::fs::create_dir(&server.socket_dir).unwrap_or_else(|e| panic!("mkdir socket dir: {e}"));
        if let Some(user) = &server.run_as {
            for d in [&server.dir, &server.socket_dir] {
                std::os::unix::fs::chown(d, Some(user.uid), Some(user.gid))
                    .unwrap_or_else(|e| panic!("chown {} to {}: {e}", d.display(), user.name));
            }
        }
        let initdb = server.bin.join("initdb");
        let data = server.data.display().to_string();
        server.run_checked(
            &initdb,
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );

        // A free port can be taken by someone else between our probe and the server's bind:
        // try a few.
        let mut last_log = String::new();
        for _ in 0..3 {
            server.port = free_port();
            server.write_config();
            let log = server.dir.join("server.log").display().to_string();
            let out = server.run(
                &server.bin.join("pg_ctl"),
                &["-D", &data, "-l", &log, "-w", "-t", "30", "start"],
            );
            if out.status.success() {
                server.create_database(DATABASE);
                server.startup = began.elapsed();
                eprintln!(
                    "pg harness: PostgreSQL ({}) up on 127.0.0.1:{} in {:.2?}",
                    server.bin.display(),
                    server.port,
                    server.startup
                );
                return Some(server);
            }
            last_log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
        }
        panic!("PostgreSQL did not start; its log:\n{last_log}");
    }

    /// Starts a process that waits for this one to end, however it ends, then stops the server
    /// (SIGQUIT: immediate shutdown; the server removes `postmaster.pid` when it is down) and
    /// deletes its directory: what `Drop` does, for a server held in a static, which is never
    /// dropped. In a process group of its own, so a Ctrl-C on the test run does not end it too.
    fn watchdog(&self) -> Child {
        const SCRIPT: &str = r#"
while kill -0 "$1" 2>/dev/null; do sleep 0.2; done
pid=$(head -n 1 "$2/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
    n=0
    while [ -f "$2/postmaster.pid" ] && [ "$n" -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
fi
rm -rf "$3"
"#;
        Command::new("/bin/sh")
            .args(["-c", SCRIPT, "pg-watchdog"])
            .arg(std::process::id().to_string())
            .arg(&self.data)
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start the PostgreSQL watchdog: {e}"))
    }

    /// `postgres://postgres@127.0.0.1:PORT/DATABASE`, for a database made with
    /// [`PgServer::create_database`] (or [`DATABASE`]).
    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a database, e.g. one per test case so cases cannot see each other's rows.
    pub fn create_database(&self, name: &str) {
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", &self.socket_dir.display().to_string()])
            .args(["-p", &self.port.to_string(), "-U", "postgres", name])
            .output()
            .unwrap_or_else(|e| panic!("run createdb: {e}"));
        assert!(
            out.status.success(),
            "createdb {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server at once, as a crash would (SIGQUIT: no checkpoint, clients cut off),
    /// and waits until it is down.
    pub fn stop_now(&self) {
        let data = self.data.display().to_string();
        self.run_checked(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "-w", "-t", "30", "stop"],
        );
    }

    /// Starts a stopped server again, on its port and data (crash recovery runs first).
    pub fn start_again(&self) {
        let data = self.data.display().to_string();
        let log = self.dir.join("server.log").display().to_string();
        self.run_checked(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-l", &log, "-w", "-t", "30", "start"],
        );
    }

    /// Freezes the server (SIGSTOP to it and every backend): connections stay open and nothing
    /// answers, as with a host that died or a network that dropped it. [`PgServer::thaw`] ends it.
    pub fn freeze(&self) {
        self.signal_all("-STOP");
    }

    pub fn thaw(&self) {
        self.signal_all("-CONT");
    }

    fn signal_all(&self, signal: &str) {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .unwrap_or_else(|e| panic!("read postmaster.pid: {e}"));
        let postmaster = pid_file
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let mut pids = vec![postmaster.clone()];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...: the comm may hold spaces, so split after its ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if ppid == Some(postmaster.as_str()) {
                pids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        // The shell's own `kill`: no procps needed.
        let status = Command::new("/bin/sh")
            .args(["-c", "kill \"$@\"", "kill", signal])
            .args(&pids)
            .status()
            .unwrap_or_else(|e| panic!("kill {signal}: {e}"));
        assert!(status.success(), "kill {signal} {pids:?}");
    }

    /// Makes a commit wait until its WAL is written out (the harness's default does not), so that
    /// an immediate stop loses nothing acknowledged; takes effect at once (reload).
    pub fn durable_commits(&self) {
        self.append_config("synchronous_commit = on\n");
        let data = self.data.display().to_string();
        self.run_checked(&self.bin.join("pg_ctl"), &["-D", &data, "reload"]);
    }

    /// Makes every commit wait until a standby has it (`synchronous_standby_names = '*'`), so
    /// that a failover loses nothing acknowledged; takes effect at once (reload).
    pub fn require_synchronous_standby(&self) {
        self.append_config("synchronous_commit = on\nsynchronous_standby_names = '*'\n");
        let data = self.data.display().to_string();
        self.run_checked(&self.bin.join("pg_ctl"), &["-D", &data, "reload"]);
    }

    /// A streaming standby of this server (`pg_basebackup -R`), on a port of its own, started;
    /// stopped on drop. [`PgServer::promote`] makes it a primary.
    pub fn standby(&self) -> PgServer {
        let dir = make_temp_dir();
        let standby = PgServer {
            bin: self.bin.clone(),
            data: dir.join("data"),
            socket_dir: dir.join("sock"),
            dir,
            port: free_port(),
            run_as: self.run_as.clone(),
            startup: Duration::ZERO,
        };
        std::fs::create_dir(&standby.socket_dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        if let Some(user) = &standby.run_as {
            for d in [&standby.dir, &standby.socket_dir] {
                std::os::unix::fs::chown(d, Some(user.uid), Some(user.gid))
                    .unwrap_or_else(|e| panic!("chown {}: {e}", d.display()));
            }
        }
        let data = standby.data.display().to_string();
        self.run_checked(
            &self.bin.join("pg_basebackup"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-D",
                &data,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        standby.write_config();
        // A promoted standby must not wait for a standby of its own.
        standby.append_config("synchronous_standby_names = ''\n");
        let log = standby.dir.join("server.log").display().to_string();
        standby.run_checked(
            &standby.bin.join("pg_ctl"),
            &["-D", &data, "-l", &log, "-w", "-t", "30", "start"],
        );
        standby
    }

    /// Promotes a standby to primary (it takes writes once this returns).
    pub fn promote(&self) {
        let data = self.data.display().to_string();
        self.run_checked(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-w", "-t", "30", "promote"],
        );
    }

    fn append_config(&self, lines: &str) {
        let conf = self.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap_or_default();
        text.push_str(lines);
        std::fs::write(&conf, text).unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
    }

    fn write_config(&self) {
        let conf = self.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap_or_default();
        // Later settings win, so appending on a retry just overrides the port. Connections: room
        // for every test of the process at once (each store pool takes up to 10).
        text.push_str(&format!(
            "\n# odoo-warden test harness\nport = {}\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\nmax_connections = 300\nshared_buffers = 32MB\n\
             logging_collector = off\n",
            self.port,
            self.socket_dir.display()
        ));
        std::fs::write(&conf, text).unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
    }

    /// Runs a server binary as the user PostgreSQL runs as.
    fn run(&self, program: &Path, args: &[&str]) -> Output {
        let mut cmd = match &self.run_as {
            None => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
            Some(user) if Path::new("/usr/sbin/runuser").exists() || on_path("runuser") => {
                let mut c = Command::new("runuser");
                c.args(["-u", &user.name, "--"]).arg(program).args(args);
                c
            }
            Some(user) => {
                let line = std::iter::once(program.display().to_string())
                    .chain(args.iter().map(|a| a.to_string()))
                    .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut c = Command::new("su");
                c.args([&user.name, "-s", "/bin/sh", "-c", &line]);
                c
            }
        };
        // The postgres user may not be able to read the caller's working directory.
        cmd.current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
    }

    fn run_checked(&self, program: &Path, args: &[&str]) {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{} failed:\n{}\n{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let data = self.data.display().to_string();
            let _ = self.run(
                &self.bin.join("pg_ctl"),
                &["-D", &data, "-m", "immediate", "-w", "-t", "10", "stop"],
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_both(&d) {
                // Follow a symlinked initdb (e.g. /usr/local/bin) to the real bin directory,
                // where createdb lives too.
                let real = std::fs::canonicalize(d.join("initdb"))
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .filter(|r| has_both(r))
                    .unwrap_or(d);
                return Some(real);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// The effective uid of this process is the owner of /proc/self.
fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn os_user(name: &str) -> Option<OsUser> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || f[0] != name {
            return None;
        }
        Some(OsUser {
            name: name.to_owned(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
        })
    })
}

fn make_temp_dir() -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "odoo-warden-pg-{}-{}-{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("find a free port: {e}"))
}

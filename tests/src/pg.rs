//! A throwaway PostgreSQL cluster for one test: `initdb` + `pg_ctl` in a
//! temporary directory, listening on a free 127.0.0.1 port (and a Unix
//! socket in the same directory), trust authentication for the one role
//! `otaseal`. Stopped (`-m immediate`) and removed on drop.
//!
//! The binaries come from `/usr/lib/postgresql/<version>/bin` (Debian's
//! `postgresql` package; `OTASEAL_PG_BIN` overrides). `initdb` refuses to
//! run as root, so as root the cluster runs as `nobody`.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Run, run_command};

/// A running cluster.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    run_as: Option<(u32, u32)>,
}

fn bin_dir() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("OTASEAL_PG_BIN") {
        return Some(PathBuf::from(b));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

impl PgCluster {
    /// Starts a cluster, or `None` (with a note) when PostgreSQL is not
    /// installed. With `CI` set a missing PostgreSQL fails the test.
    #[track_caller]
    pub fn start(name: &str) -> Option<PgCluster> {
        let Some(bin) = bin_dir() else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "PostgreSQL (initdb, pg_ctl under /usr/lib/postgresql/*/bin) is required on CI"
                );
            }
            eprintln!("note: PostgreSQL not installed; skipping (it would fail with CI set)");
            return None;
        };
        // /tmp: every user may traverse it (the test dir's parents may not
        // be open to `nobody`); a short path also keeps the Unix socket path
        // under its 107-byte limit.
        let dir = std::env::temp_dir().join(format!(
            "otaseal-pg-{name}-{}-{}",
            std::process::id(),
            crate::unix_now_nanos()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create cluster dir");
        let root = std::fs::metadata(&dir).expect("cluster dir").uid() == 0;
        let run_as = root.then_some((65534, 65534));
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown cluster dir");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let cluster = PgCluster {
            dir,
            bin,
            port,
            run_as,
        };
        let data = cluster.dir.join("data");
        let init = cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "otaseal",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        assert_eq!(init.code, 0, "initdb: {}{}", init.stdout, init.stderr);
        let opts = format!(
            "-h 127.0.0.1 -p {port} -k {} -c max_connections=60 -c shared_buffers=16MB",
            cluster.dir.display()
        );
        let log = cluster.dir.join("log");
        let start = cluster.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert_eq!(
            start.code,
            0,
            "pg_ctl start: {}{}\n{}",
            start.stdout,
            start.stderr,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Some(cluster)
    }

    fn command(&self, tool: &str) -> Command {
        let mut c = Command::new(self.bin.join(tool));
        c.current_dir(&self.dir);
        if let Some((uid, gid)) = self.run_as {
            c.uid(uid).gid(gid);
        }
        c
    }

    fn run(&self, tool: &str, args: &[&str]) -> Run {
        run_command(self.command(tool).args(args))
    }

    /// Creates database `name` and returns its URL.
    #[track_caller]
    pub fn create_db(&self, name: &str) -> String {
        let port = self.port.to_string();
        let r = self.run(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "otaseal", name],
        );
        assert_eq!(r.code, 0, "createdb {name}: {}", r.stderr);
        self.url(name)
    }

    /// URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://otaseal@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs SQL in database `db` with `psql` (stops at the first error).
    #[track_caller]
    pub fn psql(&self, db: &str, sql: &str) -> Run {
        let port = self.port.to_string();
        let r = self.run(
            "psql",
            &[
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "otaseal",
                "-d",
                db,
                "-c",
                sql,
            ],
        );
        assert_eq!(r.code, 0, "psql {sql:?}: {}", r.stderr);
        r
    }

    /// The cluster directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self
            .command("pg_ctl")
            .args(["-D", data.to_str().unwrap_or(""), "-m", "immediate", "-w"])
            .arg("stop")
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

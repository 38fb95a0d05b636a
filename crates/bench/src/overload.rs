//! Memory of a running `lisens serve` under sustained overload, beside a bare
//! axum server process under the same flood.
//!
//! The bench binary runs itself as the server (`bench serve ...` is the
//! `lisens serve` command through the CLI's own entry point, `bench
//! bare-serve ADDR` a bare axum handler), floods it from this process for a
//! bounded time at two levels of concurrent connections, samples the
//! child's resident set every 50 ms, and reports the peak above its idle
//! resident set, the answers it gave (served, 503 OVERLOADED, 429), and the
//! slowest health check seen meanwhile. Then SIGTERM, and the time the
//! graceful shutdown took.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Runs the bare baseline server until killed.
pub fn bare_serve(listen: &str) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let app = axum::Router::new().fallback(|| async { "ok" });
        let listener = tokio::net::TcpListener::bind(listen).await?;
        println!("bare listening on http://{}/", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// This binary run again as a server process.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
}

impl Server {
    fn start(args: &[&str], env: &[(&str, String)]) -> Result<Self> {
        let mut env = env.to_vec();
        env.push(("LISENS_LOG", "error".to_owned()));
        Self::start_on(None, args, &env)
    }

    /// Starts the server, pinned to `core` when given (with `taskset`,
    /// which runs it as the same process).
    pub(crate) fn start_on(core: Option<&str>, args: &[&str], env: &[(&str, String)]) -> Result<Self> {
        let exe = std::env::current_exe()?;
        let mut cmd = match core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.args(["-c", core]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn()?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let addr = line
            .split("http://")
            .nth(1)
            .map(|a| a.trim().trim_end_matches('/').to_owned())
            .with_context(|| format!("no address in {line:?}"))?;
        Ok(Self { child, addr })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss(&self) -> u64 {
        crate::proc_status_kb(&self.child.id().to_string(), "VmRSS") * 1024
    }

    /// SIGTERM, then how long until the process has exited.
    pub(crate) fn terminate(mut self) -> Result<Duration> {
        let start = Instant::now();
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        for _ in 0..600 {
            if self.child.try_wait()?.is_some() {
                return Ok(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        bail!("the server did not stop within 30 s of SIGTERM")
    }
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    overloaded: AtomicU64,
    limited: AtomicU64,
    other: AtomicU64,
    failed: AtomicU64,
}

impl Counts {
    fn record(&self, r: reqwest::Result<reqwest::StatusCode>) {
        let n = match r {
            Ok(s) if s.is_success() => &self.ok,
            Ok(s) if s == 503 => &self.overloaded,
            Ok(s) if s == 429 => &self.limited,
            // A refused login is the answer the flood asks for.
            Ok(s) if s == 401 => &self.ok,
            Ok(_) => &self.other,
            Err(_) => &self.failed,
        };
        n.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct Level {
    pub connections: usize,
    pub requests_per_sec: f64,
    pub served: u64,
    pub overloaded: u64,
    pub limited: u64,
    pub other: u64,
    pub failed: u64,
    pub idle_rss: u64,
    pub peak_rss: u64,
    pub slowest_health: Duration,
}

/// What the flood sends.
#[derive(Clone)]
pub struct Load {
    pub check_token: String,
    pub metering_token: String,
}

/// `connections` clients for `secs`: half run access checks, a quarter log
/// in with wrong passwords (Argon2id, 19 MiB each) from as many loopback
/// addresses (so the per-address limit does not turn them into cheap 429s
/// at once), a quarter post 1,000-event metering batches (~110 KB bodies).
async fn flood(server: &Server, load: &Load, connections: usize, secs: u64) -> Result<Level> {
    let base = format!("http://{}", server.addr);
    let counts = Arc::new(Counts::default());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let stamp: u64 = rand::random();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (base, counts, load) = (base.clone(), counts.clone(), load.clone());
        let kind = c % 4;
        tasks.push(tokio::spawn(async move {
            let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(60));
            if kind == 1 {
                builder = builder.local_address(std::net::IpAddr::from([127, 0, (c / 250) as u8 + 1, (c % 250) as u8 + 2]));
            }
            let client = builder.build().expect("client");
            let mut n = 0u64;
            while Instant::now() < deadline {
                let r = match kind {
                    1 => client
                        .post(format!("{base}/api/v1/session"))
                        .json(&serde_json::json!({"login": format!("nobody{c}-{n}"), "password": "wrong password"}))
                        .send()
                        .await,
                    3 => {
                        let events: Vec<_> = (0..1000)
                            .map(|i| serde_json::json!({"id": format!("o{stamp}-{c}-{n}-{i}"), "service": "mailing_emails", "quantity": 1, "occurred_at": now()}))
                            .collect();
                        client
                            .post(format!("{base}/api/v1/metering/events"))
                            .bearer_auth(&load.metering_token)
                            .json(&events)
                            .send()
                            .await
                    }
                    _ => client
                        .get(format!("{base}/api/v1/license/check?user=u7&module=web"))
                        .bearer_auth(&load.check_token)
                        .send()
                        .await,
                };
                let r = match r {
                    Ok(resp) => {
                        let status = resp.status();
                        resp.bytes().await.map(|_| status)
                    }
                    Err(e) => Err(e),
                };
                if r.is_err() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                counts.record(r);
                n += 1;
            }
        }));
    }
    // The health checks come from their own thread, as a load balancer's
    // would from its own host: not queued behind the flood's tasks.
    let prober = {
        let addr = server.addr.clone();
        std::thread::spawn(move || probe_health(&addr, deadline))
    };
    let mut peak = 0;
    let started = Instant::now();
    while Instant::now() < deadline {
        peak = peak.max(server.rss());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for t in tasks {
        t.await?;
    }
    let slowest = prober
        .join()
        .map_err(|_| anyhow::anyhow!("the health prober panicked"))?;
    let elapsed = started.elapsed().as_secs_f64();
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let total = c(&counts.ok) + c(&counts.overloaded) + c(&counts.limited) + c(&counts.other);
    Ok(Level {
        connections,
        requests_per_sec: total as f64 / elapsed,
        served: c(&counts.ok),
        overloaded: c(&counts.overloaded),
        limited: c(&counts.limited),
        other: c(&counts.other),
        failed: c(&counts.failed),
        idle_rss: 0,
        peak_rss: peak,
        slowest_health: slowest,
    })
}

/// `GET /healthz` every 50 ms until `deadline`, each on a new connection
/// (as load balancers check); the slowest answer, or `Duration::MAX` when
/// one failed or was not a 200.
fn probe_health(addr: &str, deadline: Instant) -> Duration {
    use std::io::{Read, Write};
    let mut slowest = Duration::ZERO;
    while Instant::now() < deadline {
        let start = Instant::now();
        let answer = (|| -> std::io::Result<String> {
            let mut stream = std::net::TcpStream::connect(addr)?;
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: lisens\r\nConnection: close\r\n\r\n")?;
            let mut text = String::new();
            stream.read_to_string(&mut text)?;
            Ok(text)
        })();
        match answer {
            Ok(text) if text.starts_with("HTTP/1.1 200") => slowest = slowest.max(start.elapsed()),
            _ => return Duration::MAX,
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    slowest
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
}

pub struct Report {
    pub lisens: Vec<Level>,
    pub bare: Vec<Level>,
    pub shutdown: Duration,
}

/// Floods `lisens serve` on the SQLite database `db` and then the bare
/// server, at each level for `secs`.
pub async fn run(db: &str, load: Load, levels: &[usize], secs: u64) -> Result<Report> {
    let server = Server::start(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("LISENS_DATABASE_URL", db.to_owned())],
    )?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut lisens = Vec::new();
    for &n in levels {
        let idle = server.rss();
        let mut level = flood(&server, &load, n, secs).await?;
        level.idle_rss = idle;
        lisens.push(level);
    }
    let shutdown = server.terminate()?;
    let bare_server = Server::start(&["bare-serve", "127.0.0.1:0"], &[])?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut bare = Vec::new();
    for &n in levels {
        let idle = bare_server.rss();
        let mut level = flood(&bare_server, &load, n, secs).await?;
        level.idle_rss = idle;
        bare.push(level);
    }
    bare_server.terminate()?;
    Ok(Report {
        lisens,
        bare,
        shutdown,
    })
}

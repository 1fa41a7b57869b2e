//! A private nginx for tests: its own config, temp dir and free loopback port; killed on drop.
//! It runs as a single process (`master_process off`) so killing it leaves no worker behind.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nginx {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    /// Listening with `ssl` (see [`Nginx::start_tls`]).
    https: bool,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nginx_binary() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("nginx is not installed: run scripts/test (it installs nginx) or apt-get install nginx");
}

impl Nginx {
    /// Start nginx with `server_body` inside `server { listen ...; <server_body> }` and
    /// `http_extra` at the http level.
    pub fn start(http_extra: &str, server_body: &str) -> Nginx {
        Nginx::start_sized(4096, "", http_extra, server_body)
    }

    /// The same over TLS: `listen ... ssl`, `tls` holding `ssl_certificate` and the other
    /// `ssl_*` directives of the server block.
    pub fn start_tls(tls: &str, http_extra: &str, server_body: &str) -> Nginx {
        Nginx::start_sized(4096, "ssl", http_extra, &format!("{tls} {server_body}"))
    }

    /// [`Nginx::start`] with room for `connections` connections (`worker_connections`, its open
    /// files, the listen backlog); `listen_extra` goes on the listen line.
    pub fn start_sized(
        connections: usize,
        listen_extra: &str,
        http_extra: &str,
        server_body: &str,
    ) -> Nginx {
        let bin = nginx_binary();
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let d = dir.path().display();
            let conf = format!(
                "worker_processes 1; daemon off; master_process off; pid {d}/nginx.pid;\n\
                 error_log {d}/error.log warn; worker_rlimit_nofile {files};\n\
                 events {{ worker_connections {connections}; }}\n\
                 http {{ access_log off; client_body_temp_path {d}/cb; proxy_temp_path {d}/px;\n\
                   fastcgi_temp_path {d}/fc; uwsgi_temp_path {d}/uw; scgi_temp_path {d}/sc;\n\
                   tcp_nopush off; tcp_nodelay on; {http_extra}\n\
                   server {{ listen 127.0.0.1:{port} {listen_extra}; {server_body} }} }}\n",
                files = connections + 64,
            );
            let conf_path = dir.path().join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let mut child = Command::new(&bin)
                .arg("-c")
                .arg(&conf_path)
                .arg("-p")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nginx");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: port taken or bad config; try again
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                    return Nginx {
                        child,
                        addr,
                        dir,
                        https: listen_extra.split_whitespace().any(|w| w == "ssl"),
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("nginx did not start");
    }

    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// nginx's error log so far (for assertion messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

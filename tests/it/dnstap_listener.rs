//! The dnstap listeners with real Frame Streams peers: `fstrm_replay` (fstrm-bin) and
//! golang-dnstap's `dnstap -U/-T` replaying our unbound recording into unix and TCP (IPv4
//! and IPv6) listeners at once; our Frame Streams writing checked by `fstrm_capture`;
//! misbehaving senders (garbage, oversized frame, bad handshakes, bad control frame, a
//! stalled frame, an abrupt close, a silent connection) cut off and counted while the good
//! senders keep flowing; backpressure with a slow consumer loses nothing; stale socket
//! files and permissions; and (issue 18) senders that cannot lock the listener out: idle
//! senders closed after START or giving up their slot, a slot free the moment its
//! connection ends, partial frames within one shared byte budget, live sockets never
//! replaced.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pktvisor::receiver::dnstap::fstrm::{
    ControlFrame, ControlKind, DNSTAP_CONTENT_TYPE, Frame, FrameCodec, put_control, put_data,
};
use pktvisor::receiver::dnstap::{
    ByteBudget, Disconnect, DnstapFileReader, DnstapListener, ListenAddr, ListenError,
    ListenerConfig, ListenerStats, StatsSnapshot, TcpSpec,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use crate::common::own_fixture;

/// Our unbound recording (2008 messages).
pub fn recording() -> PathBuf {
    own_fixture("dnstap/unbound.dnstap")
}

/// The data frames of a dnstap file.
pub fn payloads(file: &Path) -> Vec<Bytes> {
    let mut r = DnstapFileReader::open(file).expect("open dnstap file");
    let mut v = Vec::new();
    while let Some(f) = r.next_frame().expect("frame") {
        v.push(f);
    }
    v
}

/// A fresh temporary folder for sockets and files, removed when dropped (also when a test
/// fails).
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh temporary folder for sockets and files.
pub fn temp_dir(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("pvdt-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    TempDir(d)
}

/// A running listener with a counting consumer.
pub struct Harness {
    /// Bound address.
    pub addr: String,
    /// Live counters.
    pub stats: Arc<ListenerStats>,
    stop: CancellationToken,
    task: JoinHandle<StatsSnapshot>,
    consumer: JoinHandle<u64>,
}

impl Harness {
    /// Binds `cfg`; the consumer takes batches from a channel of `capacity` batches and
    /// sleeps `delay` after each.
    pub async fn start(cfg: ListenerConfig, capacity: usize, delay: Duration) -> Harness {
        let listener = DnstapListener::bind(cfg).await.expect("bind");
        let addr = listener.local_addr().to_string();
        let stats = listener.stats();
        let (tx, mut rx) = mpsc::channel(capacity);
        let stop = CancellationToken::new();
        let task = tokio::spawn(listener.run(tx, stop.clone()));
        let consumer = tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(batch) = rx.recv().await {
                for f in &batch {
                    assert!(f.message.message.is_some());
                    n += 1;
                }
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
            n
        });
        Harness {
            addr,
            stats,
            stop,
            task,
            consumer,
        }
    }

    /// Waits (at most `secs`) until `f` holds for the counters.
    pub async fn wait_for(&self, secs: u64, f: impl Fn(&StatsSnapshot) -> bool) -> StatsSnapshot {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.stats.snapshot();
            if f(&s) || tokio::time::Instant::now() > deadline {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Shuts down; returns the consumer's count and the final counters.
    pub async fn finish(self) -> (u64, StatsSnapshot) {
        self.stop.cancel();
        let stats = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("listener stops")
            .expect("listener task");
        let n = tokio::time::timeout(Duration::from_secs(10), self.consumer)
            .await
            .expect("consumer ends")
            .expect("consumer task");
        (n, stats)
    }
}

fn unix_cfg(path: &Path) -> ListenerConfig {
    ListenerConfig::unix(path)
}

async fn read_control<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<ControlFrame> {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::new();
    loop {
        if let Some(f) = codec
            .decode(&mut buf)
            .map_err(|e| std::io::Error::other(e.to_string()))?
        {
            return match f {
                Frame::Control(c) => Ok(c),
                Frame::Data(_) => Err(std::io::Error::other("data from the receiver")),
            };
        }
        if s.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Our bidirectional Frame Streams sender: READY, ACCEPT expected, START, the payloads
/// (`gap` between them), STOP, FINISH expected.
pub async fn send_bidi<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    payloads: &[Bytes],
    gap: Duration,
) -> std::io::Result<()> {
    let mut b = BytesMut::new();
    put_control(
        &ControlFrame::with_type(ControlKind::Ready, DNSTAP_CONTENT_TYPE),
        &mut b,
    );
    s.write_all(&b).await?;
    let accept = read_control(s).await?;
    assert_eq!(accept.kind, ControlKind::Accept);
    assert_eq!(
        accept.content_types,
        vec![Bytes::from_static(DNSTAP_CONTENT_TYPE)]
    );
    b.clear();
    put_control(
        &ControlFrame::with_type(ControlKind::Start, DNSTAP_CONTENT_TYPE),
        &mut b,
    );
    for p in payloads {
        put_data(p, &mut b);
        if !gap.is_zero() {
            s.write_all(&b).await?;
            b.clear();
            tokio::time::sleep(gap).await;
        }
    }
    put_control(&ControlFrame::bare(ControlKind::Stop), &mut b);
    s.write_all(&b).await?;
    let finish = read_control(s).await?;
    assert_eq!(finish.kind, ControlKind::Finish);
    Ok(())
}

fn run_tool(prog: &str, args: &[&str]) -> impl std::future::Future<Output = ()> + 'static {
    let prog = prog.to_string();
    let args: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
    async move {
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            Command::new(&prog).args(&args).kill_on_drop(true).output(),
        )
        .await
        .expect("tool finishes in time")
        .expect("tool runs");
        assert!(
            out.status.success(),
            "{prog} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn have_fstrm() -> bool {
    pktvisor::testdata::have_tool("fstrm_replay", "fstrm-bin")
}

fn port_of(addr: &str) -> String {
    addr.rsplit_once(':').expect("port").1.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fstrm_and_golang_senders_over_unix_and_tcp() {
    if !have_fstrm()
        || !pktvisor::testdata::have_tool("dnstap", "golang-github-dnstap-golang-dnstap-cli")
    {
        return;
    }
    let dir = temp_dir("peers");
    let sock = dir.join("dnstap.sock");
    let file = recording();
    let per_file = payloads(&file).len() as u64;
    let unix = Harness::start(unix_cfg(&sock), 64, Duration::ZERO).await;
    let tcp4 = Harness::start(
        ListenerConfig::tcp(TcpSpec::parse("127.0.0.1:0").expect("addr")),
        64,
        Duration::ZERO,
    )
    .await;
    let tcp6 = Harness::start(
        ListenerConfig::tcp(TcpSpec::parse("[::1]:0").expect("addr")),
        64,
        Duration::ZERO,
    )
    .await;
    let (f, s) = (file.to_str().expect("path"), sock.to_str().expect("path"));
    let (p4, p6) = (port_of(&tcp4.addr), port_of(&tcp6.addr));
    let t = "protobuf:dnstap.Dnstap";
    let g6 = format!("[::1]:{p6}");
    tokio::join!(
        run_tool("fstrm_replay", &["-t", t, "-r", f, "-u", s]),
        run_tool("fstrm_replay", &["-t", t, "-r", f, "-u", s]),
        run_tool("fstrm_replay", &["-t", t, "-r", f, "-u", s]),
        run_tool("dnstap", &["-r", f, "-U", s]),
        run_tool(
            "fstrm_replay",
            &["-t", t, "-r", f, "-a", "127.0.0.1", "-p", &p4]
        ),
        run_tool("fstrm_replay", &["-t", t, "-r", f, "-a", "::1", "-p", &p6]),
        run_tool("dnstap", &["-r", f, "-T", &g6]),
    );
    unix.wait_for(10, |s| s.messages >= 4 * per_file).await;
    tcp4.wait_for(10, |s| s.messages >= per_file).await;
    tcp6.wait_for(10, |s| s.messages >= 2 * per_file).await;
    for (h, senders) in [(unix, 4u64), (tcp4, 1), (tcp6, 2)] {
        let (n, st) = h.finish().await;
        assert_eq!(n, senders * per_file, "{st:?}");
        assert_eq!(st.messages, n);
        assert_eq!(st.connections_accepted, senders);
        assert_eq!(st.disconnects_for(Disconnect::Stopped), senders, "{st:?}");
        assert_eq!(
            st.invalid_messages + st.not_messages + st.dropped_messages,
            0
        );
        // READY + START + STOP per sender
        assert_eq!(st.control_frames, 3 * senders);
    }
    assert!(!sock.exists(), "socket file removed at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_frames_read_by_fstrm_capture() {
    if !pktvisor::testdata::have_tool("fstrm_capture", "fstrm-bin")
        || !pktvisor::testdata::have_tool("dnstap", "golang-github-dnstap-golang-dnstap-cli")
    {
        return;
    }
    let dir = temp_dir("capture");
    let sock = dir.join("cap.sock");
    let out = dir.join("out.dnstap");
    let mut cap = Command::new("fstrm_capture")
        .args(["-t", "protobuf:dnstap.Dnstap", "-u"])
        .arg(&sock)
        .arg("-w")
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("fstrm_capture starts");
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let frames = payloads(&recording());
    let mut s = UnixStream::connect(&sock).await.expect("connect");
    send_bidi(&mut s, &frames, Duration::ZERO)
        .await
        .expect("fstrm_capture accepts our handshake");
    drop(s);
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Some(pid) = cap.id() {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), cap.wait()).await;
    // fstrm_capture's file, read by golang-dnstap and by us
    let q = std::process::Command::new("dnstap")
        .arg("-r")
        .arg(&out)
        .arg("-q")
        .output()
        .expect("dnstap runs");
    let lines = String::from_utf8_lossy(&q.stdout).lines().count();
    assert_eq!(lines, frames.len());
    assert_eq!(payloads(&out), frames);
}

async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) {
    let mut b = BytesMut::new();
    put_control(
        &ControlFrame::with_type(ControlKind::Ready, DNSTAP_CONTENT_TYPE),
        &mut b,
    );
    s.write_all(&b).await.expect("ready");
    read_control(s).await.expect("accept");
    b.clear();
    put_control(&ControlFrame::bare(ControlKind::Start), &mut b);
    s.write_all(&b).await.expect("start");
}

/// Writes `bytes` and waits until the listener closes the connection.
async fn until_closed(mut s: UnixStream, bytes: &[u8]) {
    let _ = s.write_all(bytes).await;
    let mut sink = [0u8; 256];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(n) = s.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_senders_are_cut_off_and_counted() {
    let dir = temp_dir("misbehave");
    let sock = dir.join("dnstap.sock");
    let mut cfg = unix_cfg(&sock);
    cfg.handshake_timeout = Duration::from_secs(1);
    cfg.stall_timeout = Duration::from_secs(1);
    cfg.max_frame_size = 64 * 1024;
    let h = Harness::start(cfg, 64, Duration::ZERO).await;
    let frames = payloads(&recording());
    let connect = || UnixStream::connect(&sock);

    // a good sender that keeps flowing the whole time (200 frames over ~2 s)
    let slow_frames = frames[..200].to_vec();
    let mut slow_conn = connect().await.expect("connect");
    let slow = tokio::spawn(async move {
        send_bidi(&mut slow_conn, &slow_frames, Duration::from_millis(10)).await
    });

    let garbage = async {
        until_closed(
            connect().await.expect("c"),
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
    };
    let oversized = async {
        let mut s = connect().await.expect("c");
        handshake(&mut s).await;
        until_closed(s, &(1u32 << 24).to_be_bytes()).await;
    };
    let content_type = async {
        let mut b = BytesMut::new();
        put_control(
            &ControlFrame::with_type(ControlKind::Ready, b"protobuf:other.Thing"),
            &mut b,
        );
        until_closed(connect().await.expect("c"), &b).await;
    };
    let out_of_order = async {
        let mut s = connect().await.expect("c");
        let mut b = BytesMut::new();
        put_control(
            &ControlFrame::with_type(ControlKind::Ready, DNSTAP_CONTENT_TYPE),
            &mut b,
        );
        s.write_all(&b).await.expect("ready");
        read_control(&mut s).await.expect("accept");
        b.clear();
        put_control(&ControlFrame::bare(ControlKind::Stop), &mut b);
        until_closed(s, &b).await;
    };
    let bad_control = async {
        let mut s = connect().await.expect("c");
        handshake(&mut s).await;
        until_closed(s, &[0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 9]).await;
    };
    let stalled = async {
        let mut s = connect().await.expect("c");
        handshake(&mut s).await;
        let mut b = BytesMut::new();
        put_data(&frames[0], &mut b);
        until_closed(s, &b[..b.len() / 2]).await;
    };
    let silent = async {
        until_closed(connect().await.expect("c"), &[]).await;
    };
    let abrupt = async {
        let mut s = connect().await.expect("c");
        handshake(&mut s).await;
        let mut b = BytesMut::new();
        for f in &frames[..50] {
            put_data(f, &mut b);
        }
        put_data(&frames[50], &mut b);
        b.truncate(b.len() - 3);
        s.write_all(&b).await.expect("write");
        drop(s);
    };
    let replay = async {
        if have_fstrm() {
            let (f, s) = (recording(), sock.clone());
            for _ in 0..2 {
                run_tool(
                    "fstrm_replay",
                    &[
                        "-t",
                        "protobuf:dnstap.Dnstap",
                        "-r",
                        f.to_str().expect("path"),
                        "-u",
                        s.to_str().expect("path"),
                    ],
                )
                .await;
            }
            2
        } else {
            0
        }
    };
    let ((), (), (), (), (), (), (), (), replays) = tokio::join!(
        garbage,
        oversized,
        content_type,
        out_of_order,
        bad_control,
        stalled,
        silent,
        abrupt,
        replay
    );
    slow.await
        .expect("join")
        .expect("the good sender finished cleanly");
    let expected = 200 + 50 + replays * frames.len() as u64;
    h.wait_for(10, |s| s.messages >= expected && s.connections_active == 0)
        .await;
    let (n, st) = h.finish().await;
    assert_eq!(n, expected, "{st:?}");
    assert_eq!(st.messages, expected);
    for (d, want) in [
        (Disconnect::Stopped, 1 + replays),
        (Disconnect::Garbage, 1),
        (Disconnect::OversizedFrame, 1),
        (Disconnect::ContentType, 1),
        (Disconnect::Protocol, 1),
        (Disconnect::BadFrame, 1),
        (Disconnect::Stalled, 1),
        (Disconnect::HandshakeTimeout, 1),
        (Disconnect::AbruptClose, 1),
        (Disconnect::IoError, 0),
        (Disconnect::Shutdown, 0),
    ] {
        assert_eq!(st.disconnects_for(d), want, "{}: {st:?}", d.as_str());
    }
    assert_eq!(st.connections_accepted, 9 + replays);
    assert_eq!(
        st.partial_frames, 2,
        "stalled and abrupt ended inside a frame"
    );
    assert_eq!(st.dropped_messages + st.invalid_messages, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_slows_senders_and_loses_nothing() {
    if !have_fstrm() {
        return;
    }
    let dir = temp_dir("backpressure");
    let sock = dir.join("dnstap.sock");
    let h = Harness::start(unix_cfg(&sock), 1, Duration::from_millis(3)).await;
    let (f, s) = (recording(), sock.clone());
    let args = |f: &Path, s: &Path| {
        vec![
            "-t".to_string(),
            "protobuf:dnstap.Dnstap".into(),
            "-r".into(),
            f.display().to_string(),
            "-u".into(),
            s.display().to_string(),
        ]
    };
    let a = args(&f, &s);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    tokio::join!(run_tool("fstrm_replay", &a), run_tool("fstrm_replay", &a));
    let expected = 2 * payloads(&f).len() as u64;
    h.wait_for(20, |s| s.messages >= expected).await;
    let (n, st) = h.finish().await;
    assert_eq!(n, expected, "{st:?}");
    assert!(st.backpressure_waits > 0, "{st:?}");
    assert_eq!(st.dropped_messages, 0);
    assert_eq!(st.disconnects_for(Disconnect::Stopped), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_socket_is_replaced_and_permissions_set() {
    let dir = temp_dir("stale");
    let sock = dir.join("dnstap.sock");
    // a socket file left behind by a process that died
    drop(std::os::unix::net::UnixListener::bind(&sock).expect("bind"));
    assert!(sock.exists());
    let mut cfg = unix_cfg(&sock);
    if let ListenAddr::Unix { mode, .. } = &mut cfg.addr {
        *mode = Some(0o660);
    }
    let h = Harness::start(cfg, 4, Duration::ZERO).await;
    let meta = std::fs::metadata(&sock).expect("socket exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let frames = payloads(&recording());
    let mut s = UnixStream::connect(&sock).await.expect("connect");
    send_bidi(&mut s, &frames[..10], Duration::ZERO)
        .await
        .expect("send");
    h.wait_for(5, |s| s.messages >= 10).await;
    let (n, _) = h.finish().await;
    assert_eq!(n, 10);
    assert!(!sock.exists());
    // a regular file is never removed
    std::fs::write(&sock, b"not a socket").expect("write");
    let err = DnstapListener::bind(unix_cfg(&sock)).await.unwrap_err();
    assert!(matches!(err, ListenError::NotASocket(_)), "{err}");
    assert!(sock.exists());
    // a TCP sender works too, and a bad host is reported
    let h = Harness::start(
        ListenerConfig::tcp(TcpSpec::parse("127.0.0.1:0").expect("addr")),
        4,
        Duration::ZERO,
    )
    .await;
    let mut t = TcpStream::connect(&h.addr).await.expect("connect");
    send_bidi(&mut t, &frames[..5], Duration::ZERO)
        .await
        .expect("send");
    h.wait_for(5, |s| s.messages >= 5).await;
    assert_eq!(h.finish().await.0, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_senders_cannot_lock_the_listener_out() {
    let dir = temp_dir("lockout");
    let sock = dir.join("dnstap.sock");
    let mut cfg = unix_cfg(&sock);
    cfg.max_connections = 8;
    cfg.idle_timeout = Some(Duration::from_secs(4));
    cfg.evict_idle_after = Duration::from_millis(500);
    let h = Harness::start(cfg, 64, Duration::ZERO).await;
    let frames = payloads(&recording());
    // eight senders take every slot and go silent after START
    let mut idle = Vec::new();
    for _ in 0..8 {
        let mut s = UnixStream::connect(&sock).await.expect("connect");
        handshake(&mut s).await;
        idle.push(s);
    }
    h.wait_for(5, |s| s.connections_active == 8).await;
    // while they are fresh, a ninth is refused (and counted)
    let mut b = BytesMut::new();
    put_control(
        &ControlFrame::with_type(ControlKind::Ready, DNSTAP_CONTENT_TYPE),
        &mut b,
    );
    until_closed(UnixStream::connect(&sock).await.expect("connect"), &b).await;
    assert_eq!(h.stats.snapshot().connections_refused, 1);
    // once they have been silent a while, a good sender takes the slot of the one silent
    // longest and loses nothing
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut good = UnixStream::connect(&sock).await.expect("connect");
    send_bidi(&mut good, &frames[..100], Duration::ZERO)
        .await
        .expect("the good sender is served");
    let s = h.wait_for(5, |s| s.messages >= 100).await;
    assert_eq!(s.messages, 100);
    assert_eq!(s.connections_evicted, 1, "{s:?}");
    // the others are closed after the idle timeout
    let s = h
        .wait_for(15, |s| s.disconnects_for(Disconnect::IdleTimeout) == 7)
        .await;
    assert_eq!(s.disconnects_for(Disconnect::IdleTimeout), 7, "{s:?}");
    assert_eq!(s.disconnects_for(Disconnect::Evicted), 1, "{s:?}");
    assert_eq!(s.connections_active, 0);
    drop(idle);
    let (n, st) = h.finish().await;
    assert_eq!(n, 100);
    assert_eq!(st.connections_refused, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_is_free_the_moment_its_connection_ends() {
    let dir = temp_dir("slots");
    let sock = dir.join("dnstap.sock");
    let mut cfg = unix_cfg(&sock);
    cfg.max_connections = 2;
    let h = Harness::start(cfg, 64, Duration::ZERO).await;
    let frames = payloads(&recording());
    for round in 0..3 {
        let mut a = UnixStream::connect(&sock).await.expect("connect");
        let mut b = UnixStream::connect(&sock).await.expect("connect");
        handshake(&mut a).await;
        handshake(&mut b).await;
        h.wait_for(5, |s| s.connections_active == 2).await;
        drop(a);
        drop(b);
        h.wait_for(5, |s| s.connections_active == 0).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // the listener was saturated and waited in accept meanwhile: a new sender is served
        let mut c = UnixStream::connect(&sock).await.expect("connect");
        send_bidi(&mut c, &frames[..10], Duration::ZERO)
            .await
            .unwrap_or_else(|e| panic!("round {round}: the new sender was refused: {e}"));
    }
    let (n, st) = h.finish().await;
    assert_eq!(n, 30);
    assert_eq!(st.connections_refused, 0, "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_frames_share_one_byte_budget() {
    let dir = temp_dir("budget");
    let sock = dir.join("dnstap.sock");
    let budget = Arc::new(ByteBudget::new(256 << 10));
    let mut cfg = unix_cfg(&sock);
    cfg.max_frame_size = 1 << 20;
    cfg.partial_budget = Arc::clone(&budget);
    let h = Harness::start(cfg, 64, Duration::ZERO).await;
    let frames = payloads(&recording());
    // four senders each start a 200 KiB frame and send 120 KiB of it
    let mut partial = Vec::new();
    for _ in 0..4 {
        let mut s = UnixStream::connect(&sock).await.expect("connect");
        handshake(&mut s).await;
        let mut b = (200u32 << 10).to_be_bytes().to_vec();
        b.extend(std::iter::repeat_n(0u8, 120 << 10));
        let _ = s.write_all(&b).await;
        partial.push(s);
        assert!(budget.held() <= 256 << 10, "{}", budget.held());
    }
    let s = h
        .wait_for(10, |s| s.disconnects_for(Disconnect::MemoryBudget) == 2)
        .await;
    assert_eq!(s.disconnects_for(Disconnect::MemoryBudget), 2, "{s:?}");
    assert_eq!(s.partial_budget_refused, 2);
    assert!(
        s.partial_bytes <= 256 << 10 && s.partial_bytes >= 200 << 10,
        "{s:?}"
    );
    assert_eq!(s.partial_budget, 256 << 10);
    // complete frames are not held: a good sender still gets every message through
    let mut good = UnixStream::connect(&sock).await.expect("connect");
    send_bidi(&mut good, &frames[..50], Duration::ZERO)
        .await
        .expect("served");
    h.wait_for(5, |s| s.messages >= 50).await;
    drop(partial);
    let s = h.wait_for(10, |s| s.connections_active == 0).await;
    assert_eq!(s.partial_bytes, 0, "every byte given back: {s:?}");
    assert_eq!(budget.held(), 0);
    let (n, _) = h.finish().await;
    assert_eq!(n, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_socket_is_never_replaced() {
    let dir = temp_dir("live");
    let sock = dir.join("dnstap.sock");
    let owner = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let err = DnstapListener::bind(unix_cfg(&sock)).await.unwrap_err();
    assert!(matches!(err, ListenError::InUse(_)), "{err}");
    let _c = std::os::unix::net::UnixStream::connect(&sock).expect("the owner still serves");
    assert!(owner.accept().is_ok());
    // a symlink to a socket is not a socket: left alone
    let link = dir.join("link.sock");
    std::os::unix::fs::symlink(&sock, &link).expect("symlink");
    let err = DnstapListener::bind(unix_cfg(&link)).await.unwrap_err();
    assert!(matches!(err, ListenError::NotASocket(_)), "{err}");
    assert!(std::fs::symlink_metadata(&link).is_ok());
    // our own socket, left behind, is replaced; at shutdown only ours is removed
    let ours = dir.join("ours.sock");
    let h = Harness::start(unix_cfg(&ours), 4, Duration::ZERO).await;
    let (_, _) = h.finish().await;
    assert!(!ours.exists());
}

//! Name resolution for netprobe targets given by host name: every test resolves its name
//! again (as pktvisor), on a small pool of threads so a slow resolver never delays the
//! other targets' probes. Answers come back over a channel and wake the probe loop.

use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, channel, sync_channel};
use std::sync::{Arc, Mutex};

use super::config::Family;
use super::sys::Waker;

/// Lookups queued at most (a full queue skips the test and counts it).
pub const QUEUE: usize = 4096;

/// One lookup's answer.
#[derive(Debug)]
pub struct Answer {
    /// Index of the target that asked.
    pub target: usize,
    /// Its addresses in resolver order, or the failure.
    pub addrs: io::Result<Vec<IpAddr>>,
}

/// The resolver pool.
#[derive(Debug)]
pub struct Resolver {
    jobs: SyncSender<(usize, String)>,
    answers: Receiver<Answer>,
}

impl Resolver {
    /// Starts `threads` resolver threads that wake `waker` after each answer. They end once
    /// the resolver is dropped and their current lookup returns.
    pub fn start(threads: usize, waker: Arc<Waker>) -> io::Result<Resolver> {
        let (jobs, job_rx) = sync_channel::<(usize, String)>(QUEUE);
        let (answer_tx, answers) = channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&job_rx);
            let tx = answer_tx.clone();
            let waker = Arc::clone(&waker);
            std::thread::Builder::new()
                .name(format!("netprobe-dns-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(g) => g.recv(),
                            Err(_) => return,
                        };
                        let Ok((target, name)) = job else { return };
                        let addrs = (name.as_str(), 0)
                            .to_socket_addrs()
                            .map(|it| it.map(|a| a.ip()).collect::<Vec<_>>());
                        if tx.send(Answer { target, addrs }).is_err() {
                            return;
                        }
                        waker.wake();
                    }
                })?;
        }
        Ok(Resolver { jobs, answers })
    }

    /// Queues a lookup; false when the queue is full (or the pool is gone).
    pub fn submit(&self, target: usize, name: &str) -> bool {
        match self.jobs.try_send((target, name.to_string())) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// The next answer, if one is waiting.
    pub fn answer(&self) -> Option<Answer> {
        self.answers.try_recv().ok()
    }
}

/// The address a test probes: the first of the forced family, else (like pktvisor) the
/// first IPv4 address, else the first IPv6 one.
pub fn pick(addrs: &[IpAddr], family: Option<Family>) -> Option<IpAddr> {
    let first = |f: Family| addrs.iter().copied().find(|a| Family::of(a) == f);
    match family {
        Some(f) => first(f),
        None => first(Family::V4).or_else(|| first(Family::V6)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_family() {
        let a: Vec<IpAddr> = vec!["2001:db8::1".parse().unwrap(), "192.0.2.1".parse().unwrap()];
        assert_eq!(pick(&a, None), Some(a[1]));
        assert_eq!(pick(&a, Some(Family::V6)), Some(a[0]));
        assert_eq!(pick(&a[..1], Some(Family::V4)), None);
        assert_eq!(pick(&[], None), None);
    }

    #[test]
    fn resolves_localhost_and_fails_on_invalid_names() {
        let waker = Arc::new(Waker::new().unwrap());
        let r = Resolver::start(1, waker).unwrap();
        assert!(r.submit(0, "localhost"));
        assert!(r.submit(1, "does-not-exist.invalid"));
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while got.len() < 2 && std::time::Instant::now() < deadline {
            match r.answer() {
                Some(a) => got.push(a),
                None => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        got.sort_by_key(|a| a.target);
        let local = got[0].addrs.as_ref().unwrap();
        assert!(local.iter().any(|a| a.is_loopback()), "{local:?}");
        assert!(got[1].addrs.is_err() || got[1].addrs.as_ref().unwrap().is_empty());
    }
}

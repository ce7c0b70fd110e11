//! The receiving side of a Frame Streams session as a sans-I/O state machine: which control
//! frame may come when, content-type negotiation, and what to answer.
//!
//! Bidirectional (sockets): READY (content types offered) → we answer ACCEPT with ours →
//! START → data … → STOP → we answer FINISH. Unidirectional (files, and senders that skip
//! the handshake): START → data … → STOP. A START or READY naming content types must name
//! ours; a frame out of order ends the session with a typed error, as pktvisor does.

use bytes::Bytes;

use super::fstrm::{ControlFrame, ControlKind, Frame};

/// Where a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Nothing received yet.
    Opening,
    /// READY received and ACCEPT sent; START expected.
    Accepted,
    /// START received: data flows.
    Started {
        /// Whether the handshake had READY/ACCEPT (so STOP is answered with FINISH).
        bidirectional: bool,
    },
    /// STOP received: the session is over.
    Stopped,
}

/// What the caller does after a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do.
    Continue,
    /// Send this control frame to the peer.
    Reply(ControlFrame),
    /// A data frame's payload.
    Data(Bytes),
    /// The session ended cleanly; send FINISH first when `finish` is set.
    Stopped {
        /// Whether the peer waits for FINISH.
        finish: bool,
    },
}

/// Why a session ended badly.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// A data frame before START.
    #[error("data frame before START")]
    DataBeforeStart,
    /// A control frame that is not valid now.
    #[error("unexpected {got} control frame {state}")]
    Unexpected {
        /// The frame's type name.
        got: &'static str,
        /// Where the session was.
        state: &'static str,
    },
    /// The peer's content types do not include ours.
    #[error("content type mismatch: peer offered {offered:?}")]
    ContentType {
        /// What the peer offered (lossy text).
        offered: Vec<String>,
    },
}

/// The receiver's session state.
#[derive(Clone, Debug)]
pub struct ReaderSession {
    content_type: Bytes,
    state: State,
}

impl ReaderSession {
    /// A session expecting `content_type`.
    pub fn new(content_type: &[u8]) -> ReaderSession {
        ReaderSession {
            content_type: Bytes::copy_from_slice(content_type),
            state: State::Opening,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether data may flow (START seen, STOP not yet).
    pub fn started(&self) -> bool {
        matches!(self.state, State::Started { .. })
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            State::Opening => "before READY or START",
            State::Accepted => "after ACCEPT (START expected)",
            State::Started { .. } => "while data flows",
            State::Stopped => "after STOP",
        }
    }

    fn check_types(&self, offered: &[Bytes]) -> Result<(), SessionError> {
        if offered.is_empty() || offered.contains(&self.content_type) {
            Ok(())
        } else {
            Err(SessionError::ContentType {
                offered: offered
                    .iter()
                    .map(|t| String::from_utf8_lossy(t).into_owned())
                    .collect(),
            })
        }
    }

    /// Advances by one frame.
    pub fn on_frame(&mut self, frame: Frame) -> Result<Step, SessionError> {
        let c = match frame {
            Frame::Data(d) => {
                return if self.started() {
                    Ok(Step::Data(d))
                } else {
                    Err(SessionError::DataBeforeStart)
                };
            }
            Frame::Control(c) => c,
        };
        let unexpected = SessionError::Unexpected {
            got: c.kind.name(),
            state: self.state_name(),
        };
        match (self.state, c.kind) {
            (State::Opening, ControlKind::Ready) => {
                self.check_types(&c.content_types)?;
                self.state = State::Accepted;
                Ok(Step::Reply(ControlFrame::with_type(
                    ControlKind::Accept,
                    &self.content_type,
                )))
            }
            (State::Opening, ControlKind::Start) => {
                self.check_types(&c.content_types)?;
                self.state = State::Started {
                    bidirectional: false,
                };
                Ok(Step::Continue)
            }
            (State::Accepted, ControlKind::Start) => {
                self.check_types(&c.content_types)?;
                self.state = State::Started {
                    bidirectional: true,
                };
                Ok(Step::Continue)
            }
            (State::Started { bidirectional }, ControlKind::Stop) => {
                self.state = State::Stopped;
                Ok(Step::Stopped {
                    finish: bidirectional,
                })
            }
            _ => Err(unexpected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::dnstap::fstrm::DNSTAP_CONTENT_TYPE;

    fn ctl(kind: ControlKind, ct: Option<&[u8]>) -> Frame {
        Frame::Control(match ct {
            Some(t) => ControlFrame::with_type(kind, t),
            None => ControlFrame::bare(kind),
        })
    }

    #[test]
    fn bidirectional_handshake() {
        let mut s = ReaderSession::new(DNSTAP_CONTENT_TYPE);
        let accept = s
            .on_frame(ctl(ControlKind::Ready, Some(DNSTAP_CONTENT_TYPE)))
            .unwrap();
        assert_eq!(
            accept,
            Step::Reply(ControlFrame::with_type(
                ControlKind::Accept,
                DNSTAP_CONTENT_TYPE
            ))
        );
        assert_eq!(
            s.on_frame(ctl(ControlKind::Start, Some(DNSTAP_CONTENT_TYPE))),
            Ok(Step::Continue)
        );
        assert_eq!(
            s.on_frame(Frame::Data(Bytes::from_static(b"x"))),
            Ok(Step::Data(Bytes::from_static(b"x")))
        );
        assert_eq!(
            s.on_frame(ctl(ControlKind::Stop, None)),
            Ok(Step::Stopped { finish: true })
        );
        assert!(s.on_frame(ctl(ControlKind::Start, None)).is_err());
    }

    #[test]
    fn unidirectional_and_errors() {
        let mut s = ReaderSession::new(DNSTAP_CONTENT_TYPE);
        assert_eq!(
            s.on_frame(ctl(ControlKind::Start, None)),
            Ok(Step::Continue)
        );
        assert_eq!(
            s.on_frame(ctl(ControlKind::Stop, None)),
            Ok(Step::Stopped { finish: false })
        );
        let mut s = ReaderSession::new(DNSTAP_CONTENT_TYPE);
        assert_eq!(
            s.on_frame(Frame::Data(Bytes::from_static(b"x"))),
            Err(SessionError::DataBeforeStart)
        );
        let mut s = ReaderSession::new(DNSTAP_CONTENT_TYPE);
        assert!(matches!(
            s.on_frame(ctl(ControlKind::Ready, Some(b"protobuf:other"))),
            Err(SessionError::ContentType { .. })
        ));
        let mut s = ReaderSession::new(DNSTAP_CONTENT_TYPE);
        assert!(matches!(
            s.on_frame(ctl(ControlKind::Stop, None)),
            Err(SessionError::Unexpected { got: "STOP", .. })
        ));
        let mut s = ReaderSession::new(DNSTAP_CONTENT_TYPE);
        s.on_frame(ctl(ControlKind::Ready, None)).unwrap();
        assert!(matches!(
            s.on_frame(ctl(ControlKind::Ready, None)),
            Err(SessionError::Unexpected { got: "READY", .. })
        ));
    }
}

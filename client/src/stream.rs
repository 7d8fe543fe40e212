//! Event streams: the chunked RecordIO body of a subscription, decoded
//! record by record as the bytes arrive.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{ready, Stream, StreamExt as _};
use http_body_util::{BodyDataStream, BodyExt as _};
use hyper::body::Incoming;
use strata_proto::recordio::Decoder;
use strata_proto::v1;

use crate::error::{with_causes, Error, Result};
use crate::transport::Peer;

/// A message that arrives as one record of a v1 event stream.
pub trait StreamEvent: Sized {
    /// Decodes one record (JSON, as the clients ask for it).
    fn decode_record(record: &[u8]) -> Result<Self, String>;
}

impl StreamEvent for v1::SchedulerEvent {
    fn decode_record(record: &[u8]) -> Result<Self, String> {
        v1::Encoding::Json.decode(record)
    }
}

impl StreamEvent for v1::ExecutorEvent {
    fn decode_record(record: &[u8]) -> Result<Self, String> {
        v1::Encoding::Json.decode(record)
    }
}

/// The events of one subscription, in order. Each event is yielded as soon as
/// its record has arrived; the stream ends when the server closes it.
///
/// A record that does not decode yields an error and the stream goes on; a
/// broken framing or connection yields an error and ends the stream.
pub struct EventStream<E = v1::SchedulerEvent> {
    body: BodyDataStream<Incoming>,
    decoder: Decoder,
    peer: Peer,
    done: bool,
    _event: PhantomData<fn() -> E>,
}

/// The event stream of an executor subscription.
pub type ExecutorEventStream = EventStream<v1::ExecutorEvent>;

impl<E> std::fmt::Debug for EventStream<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("peer", &self.peer.to_string())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<E: StreamEvent> EventStream<E> {
    pub(crate) fn new(peer: Peer, body: Incoming) -> Self {
        Self {
            body: body.into_data_stream(),
            decoder: Decoder::default(),
            peer,
            done: false,
            _event: PhantomData,
        }
    }

    /// The next event, or `None` once the server has closed the stream.
    /// Cancel-safe: dropping the future loses no bytes.
    pub async fn next_event(&mut self) -> Option<Result<E>> {
        self.next().await
    }

    fn protocol_error(&self, reason: String) -> Error {
        Error::Protocol {
            peer: self.peer.to_string(),
            reason,
        }
    }
}

impl<E: StreamEvent> Stream for EventStream<E> {
    type Item = Result<E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.decoder.next_record() {
                Ok(Some(record)) => {
                    let event = E::decode_record(&record)
                        .map_err(|reason| this.protocol_error(format!("event: {reason}")));
                    return Poll::Ready(Some(event));
                }
                Ok(None) => {}
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(this.protocol_error(e.to_string()))));
                }
            }
            match ready!(this.body.poll_next_unpin(cx)) {
                Some(Ok(chunk)) => this.decoder.feed(&chunk),
                Some(Err(e)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(Error::Transport {
                        peer: this.peer.to_string(),
                        reason: with_causes(&e),
                    })));
                }
                None => {
                    this.done = true;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

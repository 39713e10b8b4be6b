//! [`Probe`]: a backend wrapper that reports when acks land, for enqueue-to-ack latency.

use std::time::Duration;

use necro_core::{Backend, BackendError, Delivery, Envelope, NackOutcome};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

/// Wraps a backend and sends the instant every successful ack (or commit with acks) returned,
/// once per acked token. Everything else is passed through untouched.
#[derive(Debug)]
pub struct Probe<B> {
    inner: B,
    acked: UnboundedSender<Instant>,
}

impl<B> Probe<B> {
    /// Wraps `inner`; ack instants go to `acked`.
    pub fn new(inner: B, acked: UnboundedSender<Instant>) -> Self {
        Self { inner, acked }
    }

    fn note(&self, n: usize) {
        let now = Instant::now();
        for _ in 0..n {
            let _ = self.acked.send(now);
        }
    }
}

impl<B: Backend> Backend for Probe<B> {
    type Token = B::Token;

    async fn enqueue(&self, batch: Vec<Envelope>) -> Result<(), BackendError> {
        self.inner.enqueue(batch).await
    }

    async fn pull(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<Self::Token>>, BackendError> {
        self.inner.pull(max, wait).await
    }

    async fn ack(&self, tokens: Vec<Self::Token>) -> Result<(), BackendError> {
        let n = tokens.len();
        self.inner.ack(tokens).await?;
        self.note(n);
        Ok(())
    }

    async fn nack(
        &self,
        delivery: Delivery<Self::Token>,
        reason: String,
    ) -> Result<NackOutcome, BackendError> {
        self.inner.nack(delivery, reason).await
    }

    async fn commit(
        &self,
        emitted: Vec<Envelope>,
        acks: Vec<Self::Token>,
    ) -> Result<(), BackendError> {
        let n = acks.len();
        self.inner.commit(emitted, acks).await?;
        self.note(n);
        Ok(())
    }

    async fn release(&self, deliveries: Vec<Delivery<Self::Token>>) -> Result<(), BackendError> {
        self.inner.release(deliveries).await
    }

    fn atomic_commit(&self) -> bool {
        self.inner.atomic_commit()
    }
}

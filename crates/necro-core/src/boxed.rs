//! Choosing the backend at run time: [`BoxBackend`], one type for every backend, so that a
//! service can pick memory or Redis from its configuration with one `match`. [`Backend`] and
//! its capability traits return `impl Future` and name their own token type, so they are not
//! dyn-compatible; [`DynBackend`] is their boxed twin (with a blanket impl for every backend)
//! and [`BoxToken`] (in `box_token.rs`) the erased delivery token.
//!
//! The erased edge costs one allocation per call (the boxed future) and one per delivery (its
//! token); code generic over a backend pays nothing.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{
    Backend, DeadLetterStore, DynDeadLetterStore, Health, HealthReport, NackOutcome,
};
use crate::box_token::{BoxToken, box_delivery, unbox_deliveries, unbox_delivery, unbox_tokens};
use crate::dead_letter::DeadLetter;
use crate::dead_letter_queue::{
    DeadLetterEntry, DeadLetterId, DeadLetterPage, DeadLetterQuery, DeadLetterQueue,
    DeadLetterSelection, PurgeReport, ReplayReport,
};
use crate::envelope::{Delivery, Envelope};
use crate::error::BackendError;
use crate::event::Event;
use crate::organ::BoxFuture;

/// The dyn-compatible twin of [`Backend`], [`DeadLetterQueue`] and [`Health`] (and, through
/// its supertrait [`DynDeadLetterStore`], of [`DeadLetterStore`]): every method boxes its
/// future and erases the token into a [`BoxToken`].
///
/// Implemented for every `B: Backend + DeadLetterQueue + Health` by a blanket impl, which
/// calls `B`'s own methods, overridden defaults included. [`BoxBackend`] holds one; use that
/// rather than this trait. The methods are named after the ones they box, with a `_boxed`
/// suffix, so that both traits can be in scope at once.
pub trait DynBackend: DynDeadLetterStore {
    /// [`Backend::enqueue`], boxed.
    fn enqueue_boxed(&self, batch: Vec<Envelope>) -> BoxFuture<'_, Result<(), BackendError>>;

    /// [`Backend::send`], boxed.
    fn send_boxed(&self, event: Event) -> BoxFuture<'_, Result<(), BackendError>>;

    /// [`Backend::pull`], boxed, each token erased.
    fn pull_boxed(
        &self,
        max: usize,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<Delivery<BoxToken>>, BackendError>>;

    /// [`Backend::ack`], boxed: a foreign token fails the call before the backend sees it.
    fn ack_boxed(&self, tokens: Vec<BoxToken>) -> BoxFuture<'_, Result<(), BackendError>>;

    /// [`Backend::nack`], boxed: a foreign token fails the call before the backend sees it.
    fn nack_boxed(
        &self,
        delivery: Delivery<BoxToken>,
        reason: String,
    ) -> BoxFuture<'_, Result<NackOutcome, BackendError>>;

    /// [`Backend::release`], boxed: a foreign token fails the call before the backend sees it.
    fn release_boxed(
        &self,
        deliveries: Vec<Delivery<BoxToken>>,
    ) -> BoxFuture<'_, Result<(), BackendError>>;

    /// [`Backend::commit`], boxed: a foreign token fails the call (nothing enqueued, nothing
    /// acked) before the backend sees it.
    fn commit_boxed(
        &self,
        emitted: Vec<Envelope>,
        acks: Vec<BoxToken>,
    ) -> BoxFuture<'_, Result<(), BackendError>>;

    /// [`Backend::atomic_commit`] (no future to box; named apart all the same).
    fn atomic_commit_boxed(&self) -> bool;

    /// [`Backend::close`], boxed.
    fn close_boxed(&self) -> BoxFuture<'_, Result<(), BackendError>>;

    /// [`DeadLetterQueue::dead_letter_count`], boxed.
    fn dead_letter_count_boxed(&self) -> BoxFuture<'_, Result<u64, BackendError>>;

    /// [`DeadLetterQueue::dead_letter_page`], boxed.
    fn dead_letter_page_boxed<'a>(
        &'a self,
        query: &'a DeadLetterQuery,
    ) -> BoxFuture<'a, Result<DeadLetterPage, BackendError>>;

    /// [`DeadLetterQueue::dead_letter`], boxed.
    fn dead_letter_boxed<'a>(
        &'a self,
        id: &'a DeadLetterId,
    ) -> BoxFuture<'a, Result<Option<DeadLetterEntry>, BackendError>>;

    /// [`DeadLetterQueue::replay_dead_letters`], boxed.
    fn replay_dead_letters_boxed<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> BoxFuture<'a, Result<ReplayReport, BackendError>>;

    /// [`DeadLetterQueue::purge_dead_letters`], boxed.
    fn purge_dead_letters_boxed<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> BoxFuture<'a, Result<PurgeReport, BackendError>>;

    /// [`Health::health`], boxed.
    fn health_boxed(&self) -> BoxFuture<'_, HealthReport>;

    /// The name of the backend's type (for `Debug` and logs; not a stable identifier).
    fn backend_type_name(&self) -> &'static str;
}

impl<B: Backend + DeadLetterQueue + Health> DynBackend for B {
    fn enqueue_boxed(&self, batch: Vec<Envelope>) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(self.enqueue(batch))
    }

    fn send_boxed(&self, event: Event) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(self.send(event))
    }

    fn pull_boxed(
        &self,
        max: usize,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<Delivery<BoxToken>>, BackendError>> {
        Box::pin(async move {
            let batch = self.pull(max, wait).await?;
            Ok(batch.into_iter().map(box_delivery).collect())
        })
    }

    fn ack_boxed(&self, tokens: Vec<BoxToken>) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.ack(unbox_tokens(tokens)?).await })
    }

    fn nack_boxed(
        &self,
        delivery: Delivery<BoxToken>,
        reason: String,
    ) -> BoxFuture<'_, Result<NackOutcome, BackendError>> {
        Box::pin(async move { self.nack(unbox_delivery(delivery)?, reason).await })
    }

    fn release_boxed(
        &self,
        deliveries: Vec<Delivery<BoxToken>>,
    ) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.release(unbox_deliveries(deliveries)?).await })
    }

    fn commit_boxed(
        &self,
        emitted: Vec<Envelope>,
        acks: Vec<BoxToken>,
    ) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.commit(emitted, unbox_tokens(acks)?).await })
    }

    fn atomic_commit_boxed(&self) -> bool {
        self.atomic_commit()
    }

    fn close_boxed(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(self.close())
    }

    fn dead_letter_count_boxed(&self) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(self.dead_letter_count())
    }

    fn dead_letter_page_boxed<'a>(
        &'a self,
        query: &'a DeadLetterQuery,
    ) -> BoxFuture<'a, Result<DeadLetterPage, BackendError>> {
        Box::pin(self.dead_letter_page(query))
    }

    fn dead_letter_boxed<'a>(
        &'a self,
        id: &'a DeadLetterId,
    ) -> BoxFuture<'a, Result<Option<DeadLetterEntry>, BackendError>> {
        Box::pin(self.dead_letter(id))
    }

    fn replay_dead_letters_boxed<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> BoxFuture<'a, Result<ReplayReport, BackendError>> {
        Box::pin(self.replay_dead_letters(selection))
    }

    fn purge_dead_letters_boxed<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> BoxFuture<'a, Result<PurgeReport, BackendError>> {
        Box::pin(self.purge_dead_letters(selection))
    }

    fn health_boxed(&self) -> BoxFuture<'_, HealthReport> {
        Box::pin(self.health())
    }

    fn backend_type_name(&self) -> &'static str {
        std::any::type_name::<B>()
    }
}

/// Any backend behind one type: a [`Backend`] (with [`BoxToken`]s), [`DeadLetterStore`],
/// [`DeadLetterQueue`] and [`Health`] that forwards every call, overridden defaults included
/// (`release`, `commit`, `atomic_commit`, `close`), to the backend it was made from.
///
/// Make one with [`BoxBackend::new`] where the backend is chosen at run time (a `match` on a
/// configuration value); code that knows its backend's type should keep it. Cheap to clone:
/// clones share the backend, as `Spine::builder(backend.clone())` and a later
/// `backend.close()` expect.
///
/// Its tokens are only meaningful to it: a token of another type of backend fails the call
/// with [`BackendError::UnknownToken`] before the backend sees it (see [`BoxToken`]).
///
/// ```
/// use std::time::Duration;
/// use necro_core::{Backend, BackendError, BoxBackend, Event, serde_json::json};
/// # use std::sync::Mutex;
/// # use necro_core::{
/// #     DeadLetter, DeadLetterEntry, DeadLetterId, DeadLetterPage, DeadLetterQuery,
/// #     DeadLetterQueue, DeadLetterSelection, DeadLetterStore, Delivery, Envelope, Health,
/// #     HealthReport, NackOutcome, PurgeReport, ReplayReport,
/// # };
/// # // Two toy backends standing in for `MemoryBackend` and `RedisBackend`: a FIFO whose
/// # // tokens are `u32`s, and one whose tokens are `u64`s.
/// # #[derive(Default)]
/// # struct Queue<T>(Mutex<Vec<Envelope>>, std::marker::PhantomData<T>);
/// # type Fast = Queue<u32>;
/// # type Durable = Queue<u64>;
/// # impl<T: From<u8> + Send + Sync + Clone + std::fmt::Debug + 'static> Backend for Queue<T> {
/// #     type Token = T;
/// #     async fn enqueue(&self, batch: Vec<Envelope>) -> Result<(), BackendError> {
/// #         self.0.lock().unwrap().extend(batch);
/// #         Ok(())
/// #     }
/// #     async fn pull(&self, max: usize, _: Duration) -> Result<Vec<Delivery<T>>, BackendError> {
/// #         let mut queue = self.0.lock().unwrap();
/// #         let n = max.min(queue.len());
/// #         Ok(queue.drain(..n).map(|e| Delivery {
/// #             event: e.event, meta: e.meta, attempt: 1, token: T::from(7),
/// #         }).collect())
/// #     }
/// #     async fn ack(&self, _: Vec<T>) -> Result<(), BackendError> { Ok(()) }
/// #     async fn nack(&self, _: Delivery<T>, _: String) -> Result<NackOutcome, BackendError> {
/// #         Ok(NackOutcome::DeadLettered)
/// #     }
/// # }
/// # impl<T: Send + Sync + 'static> DeadLetterStore for Queue<T> {
/// #     async fn store(&self, _: DeadLetter) -> Result<(), BackendError> { Ok(()) }
/// # }
/// # impl<T: Send + Sync + 'static> DeadLetterQueue for Queue<T> {
/// #     async fn dead_letter_count(&self) -> Result<u64, BackendError> { Ok(0) }
/// #     async fn dead_letter_page(&self, _: &DeadLetterQuery)
/// #     -> Result<DeadLetterPage, BackendError> {
/// #         Ok(DeadLetterPage::default())
/// #     }
/// #     async fn dead_letter(&self, _: &DeadLetterId)
/// #     -> Result<Option<DeadLetterEntry>, BackendError> {
/// #         Ok(None)
/// #     }
/// #     async fn replay_dead_letters(&self, _: &DeadLetterSelection)
/// #     -> Result<ReplayReport, BackendError> {
/// #         Ok(ReplayReport::default())
/// #     }
/// #     async fn purge_dead_letters(&self, _: &DeadLetterSelection)
/// #     -> Result<PurgeReport, BackendError> {
/// #         Ok(PurgeReport::default())
/// #     }
/// # }
/// # impl<T: Send + Sync + 'static> Health for Queue<T> {
/// #     async fn health(&self) -> HealthReport { HealthReport::healthy() }
/// # }
///
/// // With the shipped backends the arms are `BoxBackend::new(MemoryBackend::new())` and
/// // `BoxBackend::new(RedisBackend::builder(url).connect().await?)`.
/// fn pick(kind: &str) -> Result<BoxBackend, String> {
///     Ok(match kind {
///         "fast" => BoxBackend::new(Fast::default()),
///         "durable" => BoxBackend::new(Durable::default()),
///         other => return Err(format!("unknown backend {other:?}")),
///     })
/// }
///
/// # tokio_test_block_on(async {
/// let backend = pick("fast")?;
/// backend.send(Event::new("HELLO", json!({}))?).await?;
/// let batch = backend.pull(10, Duration::ZERO).await?;
/// assert_eq!(batch[0].event.event_type().as_str(), "HELLO");
/// backend.ack(vec![batch[0].token.clone()]).await?;
///
/// // A token is only meaningful to the backend that issued it: given to another, a typed
/// // error, never a panic.
/// let other = pick("durable")?;
/// let err = other.ack(vec![batch[0].token.clone()]).await.unwrap_err();
/// assert!(matches!(err, BackendError::UnknownToken(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct BoxBackend(Arc<dyn DynBackend>);

impl BoxBackend {
    /// Erases `backend`. A `BoxBackend` given here is returned as it is, not boxed again.
    #[must_use]
    pub fn new<B: Backend + DeadLetterQueue + Health>(backend: B) -> Self {
        if let Some(boxed) = (&backend as &dyn Any).downcast_ref::<Self>() {
            return boxed.clone();
        }
        Self(Arc::new(backend))
    }

    /// The name of the backend's type, e.g. for a startup log line (not a stable identifier).
    #[must_use]
    pub fn backend_type_name(&self) -> &'static str {
        self.0.backend_type_name()
    }
}

impl fmt::Debug for BoxBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BoxBackend")
            .field(&format_args!("{}", self.0.backend_type_name()))
            .finish()
    }
}

impl Backend for BoxBackend {
    type Token = BoxToken;

    fn enqueue(
        &self,
        batch: Vec<Envelope>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        self.0.enqueue_boxed(batch)
    }

    fn send(&self, event: Event) -> impl Future<Output = Result<(), BackendError>> + Send {
        self.0.send_boxed(event)
    }

    fn pull(
        &self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery<BoxToken>>, BackendError>> + Send {
        self.0.pull_boxed(max, wait)
    }

    /// Acks through the backend; a batch holding a token of another backend is refused whole.
    fn ack(&self, tokens: Vec<BoxToken>) -> impl Future<Output = Result<(), BackendError>> + Send {
        self.0.ack_boxed(tokens)
    }

    /// Nacks through the backend; a token of another backend is refused.
    fn nack(
        &self,
        delivery: Delivery<BoxToken>,
        reason: String,
    ) -> impl Future<Output = Result<NackOutcome, BackendError>> + Send {
        self.0.nack_boxed(delivery, reason)
    }

    /// The backend's own `release`; a batch holding a token of another backend is refused
    /// whole.
    fn release(
        &self,
        deliveries: Vec<Delivery<BoxToken>>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        self.0.release_boxed(deliveries)
    }

    /// The backend's own `commit`; a token of another backend among `acks` refuses the whole
    /// commit (nothing enqueued, nothing acked).
    fn commit(
        &self,
        emitted: Vec<Envelope>,
        acks: Vec<BoxToken>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        self.0.commit_boxed(emitted, acks)
    }

    /// The backend's own answer.
    fn atomic_commit(&self) -> bool {
        self.0.atomic_commit_boxed()
    }

    /// The backend's own `close`.
    fn close(&self) -> impl Future<Output = Result<(), BackendError>> + Send {
        self.0.close_boxed()
    }
}

impl DeadLetterStore for BoxBackend {
    fn store(&self, letter: DeadLetter) -> impl Future<Output = Result<(), BackendError>> + Send {
        self.0.store_boxed(letter)
    }
}

// The methods taking a reference are `async fn`s: the future they return must capture both
// `&self` and the argument, and a boxed future's one lifetime (the shorter of the two) is
// neither.
impl DeadLetterQueue for BoxBackend {
    fn dead_letter_count(&self) -> impl Future<Output = Result<u64, BackendError>> + Send {
        self.0.dead_letter_count_boxed()
    }

    async fn dead_letter_page(
        &self,
        query: &DeadLetterQuery,
    ) -> Result<DeadLetterPage, BackendError> {
        self.0.dead_letter_page_boxed(query).await
    }

    async fn dead_letter(
        &self,
        id: &DeadLetterId,
    ) -> Result<Option<DeadLetterEntry>, BackendError> {
        self.0.dead_letter_boxed(id).await
    }

    async fn replay_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<ReplayReport, BackendError> {
        self.0.replay_dead_letters_boxed(selection).await
    }

    async fn purge_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<PurgeReport, BackendError> {
        self.0.purge_dead_letters_boxed(selection).await
    }
}

impl Health for BoxBackend {
    fn health(&self) -> impl Future<Output = HealthReport> + Send {
        self.0.health_boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::envelope::Metadata;

    /// A backend that overrides every default and notes each call by name.
    #[derive(Debug, Default)]
    struct Recorder(Arc<Mutex<Vec<&'static str>>>);

    impl Recorder {
        fn note(&self, call: &'static str) {
            self.0.lock().unwrap().push(call);
        }
    }

    fn delivery<T>(token: T) -> Delivery<T> {
        Delivery {
            event: Event::new("T", serde_json::json!({})).unwrap(),
            meta: Metadata::default(),
            attempt: 1,
            token,
        }
    }

    impl Backend for Recorder {
        type Token = u8;
        async fn enqueue(&self, _: Vec<Envelope>) -> Result<(), BackendError> {
            self.note("enqueue");
            Ok(())
        }
        async fn send(&self, _: Event) -> Result<(), BackendError> {
            self.note("send");
            Ok(())
        }
        async fn pull(&self, _: usize, _: Duration) -> Result<Vec<Delivery<u8>>, BackendError> {
            self.note("pull");
            Ok(vec![delivery(7)])
        }
        async fn ack(&self, tokens: Vec<u8>) -> Result<(), BackendError> {
            assert_eq!(tokens, [7]);
            self.note("ack");
            Ok(())
        }
        async fn nack(&self, d: Delivery<u8>, _: String) -> Result<NackOutcome, BackendError> {
            assert_eq!(d.token, 7);
            self.note("nack");
            Ok(NackOutcome::Requeued { next_attempt: 2 })
        }
        async fn release(&self, _: Vec<Delivery<u8>>) -> Result<(), BackendError> {
            self.note("release");
            Ok(())
        }
        async fn commit(&self, _: Vec<Envelope>, _: Vec<u8>) -> Result<(), BackendError> {
            self.note("commit");
            Ok(())
        }
        fn atomic_commit(&self) -> bool {
            self.note("atomic_commit");
            true
        }
        async fn close(&self) -> Result<(), BackendError> {
            self.note("close");
            Ok(())
        }
    }

    impl DeadLetterStore for Recorder {
        async fn store(&self, _: DeadLetter) -> Result<(), BackendError> {
            self.note("store");
            Ok(())
        }
    }

    impl DeadLetterQueue for Recorder {
        async fn dead_letter_count(&self) -> Result<u64, BackendError> {
            self.note("dead_letter_count");
            Ok(3)
        }
        async fn dead_letter_page(
            &self,
            _: &DeadLetterQuery,
        ) -> Result<DeadLetterPage, BackendError> {
            self.note("dead_letter_page");
            Ok(DeadLetterPage::default())
        }
        async fn dead_letter(
            &self,
            _: &DeadLetterId,
        ) -> Result<Option<DeadLetterEntry>, BackendError> {
            self.note("dead_letter");
            Ok(None)
        }
        async fn replay_dead_letters(
            &self,
            _: &DeadLetterSelection,
        ) -> Result<ReplayReport, BackendError> {
            self.note("replay_dead_letters");
            Ok(ReplayReport::default())
        }
        async fn purge_dead_letters(
            &self,
            _: &DeadLetterSelection,
        ) -> Result<PurgeReport, BackendError> {
            self.note("purge_dead_letters");
            Ok(PurgeReport::default())
        }
    }

    impl Health for Recorder {
        async fn health(&self) -> HealthReport {
            self.note("health");
            HealthReport::healthy().detail("recorder", true)
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn every_call_reaches_the_backends_own_method() {
        let calls = Arc::default();
        let backend = BoxBackend::new(Recorder(Arc::clone(&calls)));
        block_on(async {
            let event = Event::new("T", serde_json::json!({})).unwrap();
            backend
                .enqueue(vec![Envelope::new(event.clone())])
                .await
                .unwrap();
            backend.send(event.clone()).await.unwrap();
            let batch = backend.pull(1, Duration::ZERO).await.unwrap();
            assert_eq!(batch[0].token.downcast_ref::<u8>(), Some(&7));
            backend.ack(vec![batch[0].token.clone()]).await.unwrap();
            let outcome = backend.nack(batch[0].clone(), "x".into()).await.unwrap();
            assert_eq!(outcome, NackOutcome::Requeued { next_attempt: 2 });
            backend.release(batch.clone()).await.unwrap();
            backend
                .commit(vec![Envelope::new(event)], vec![batch[0].token.clone()])
                .await
                .unwrap();
            assert!(backend.atomic_commit());
            backend.close().await.unwrap();
            let letter = DeadLetter::with_reason(
                batch[0].event.clone(),
                Metadata::default(),
                crate::DeadLetterKind::HandlerFailed,
                "x",
                1,
            );
            backend.store(letter).await.unwrap();
            assert_eq!(backend.dead_letter_count().await.unwrap(), 3);
            let query = DeadLetterQuery::new(1);
            backend.dead_letter_page(&query).await.unwrap();
            backend.dead_letter(&"1".into()).await.unwrap();
            let all = DeadLetterSelection::All;
            backend.replay_dead_letters(&all).await.unwrap();
            backend.purge_dead_letters(&all).await.unwrap();
            assert_eq!(backend.health().await.details["recorder"], true);
        });
        assert_eq!(
            *calls.lock().unwrap(),
            [
                "enqueue",
                "send",
                "pull",
                "ack",
                "nack",
                "release",
                "commit",
                "atomic_commit",
                "close",
                "store",
                "dead_letter_count",
                "dead_letter_page",
                "dead_letter",
                "replay_dead_letters",
                "purge_dead_letters",
                "health",
            ]
        );
    }

    #[test]
    fn a_foreign_token_is_refused_before_the_backend_sees_it() {
        let calls = Arc::default();
        let backend = BoxBackend::new(Recorder(Arc::clone(&calls)));
        let foreign = BoxToken::new(7_u64); // the right number, the wrong type
        block_on(async {
            let err = backend.ack(vec![foreign.clone()]).await.unwrap_err();
            let BackendError::UnknownToken(msg) = &err else {
                panic!("{err:?}");
            };
            assert!(msg.contains("BoxToken(7)") && msg.contains("u64"), "{msg}");
            assert!(msg.contains("hands out u8"), "{msg}");
            let mixed = vec![BoxToken::new(7_u8), foreign.clone()];
            assert!(matches!(
                backend.ack(mixed.clone()).await,
                Err(BackendError::UnknownToken(_))
            ));
            assert!(matches!(
                backend.nack(delivery(foreign.clone()), "x".into()).await,
                Err(BackendError::UnknownToken(_))
            ));
            let deliveries = vec![delivery(BoxToken::new(7_u8)), delivery(foreign.clone())];
            assert!(matches!(
                backend.release(deliveries).await,
                Err(BackendError::UnknownToken(_))
            ));
            assert!(matches!(
                backend.commit(Vec::new(), mixed).await,
                Err(BackendError::UnknownToken(_))
            ));
        });
        assert!(
            calls.lock().unwrap().is_empty(),
            "{:?}",
            calls.lock().unwrap()
        );
    }

    #[test]
    fn boxing_a_box_keeps_it_and_debug_names_the_backend() {
        let once = BoxBackend::new(Recorder::default());
        let twice = BoxBackend::new(once.clone());
        assert!(Arc::ptr_eq(&once.0, &twice.0));
        assert_eq!(twice.backend_type_name(), std::any::type_name::<Recorder>());
        assert_eq!(
            format!("{twice:?}"),
            format!("BoxBackend({})", std::any::type_name::<Recorder>())
        );
    }
}

//! Organs: the handlers. Async by default; sync handlers, typed handlers and closures adapt.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::emit::Emit;
use crate::event::Event;
use crate::headers::PassOn;
use crate::organ_error::OrganError;
use crate::payload::Payload;

/// A boxed, `Send` future: the erased edge between organs and the spine.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What handling one event produces.
pub type OrganResult = Result<Emit, OrganError>;

/// An async handler: listens to some event types and handles one event at a time.
///
/// Implementors write `async fn handle`. State that changes lives behind the organ's own
/// lock or channel; never hold a lock across `.await`.
///
/// ```
/// use necro_core::{Emit, Event, Organ, OrganError};
/// use serde_json::json;
///
/// struct Greeter;
///
/// impl Organ for Greeter {
///     fn listens_to(&self) -> &[&str] { &["HELLO"] }
///
///     async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
///         let name = event.get("name").and_then(|v| v.as_str()).unwrap_or("stranger");
///         Ok(Event::new("GREETED", json!({ "msg": format!("Hello, {name}!") }))?.into())
///     }
/// }
/// assert_eq!(Greeter.name(), "Greeter");
/// ```
pub trait Organ: Send + Sync + 'static {
    /// The organ's name in logs, metrics and dead letters. Defaults to the type's name.
    fn name(&self) -> &str {
        short_type_name::<Self>()
    }

    /// The event types this organ handles.
    fn listens_to(&self) -> &[&str];

    /// Which headers of the event being handled the events it emits inherit. Defaults to
    /// the W3C trace context ([`PassOn::TraceContext`]).
    fn passes_on(&self) -> PassOn {
        PassOn::TraceContext
    }

    /// Handles one event.
    fn handle(&self, event: &Event) -> impl Future<Output = OrganResult> + Send;
}

/// A synchronous handler. The spine runs it on tokio's blocking pool, so a handler that
/// blocks never stalls the runtime, and the handler timeout covers it too.
///
/// ```
/// use necro_core::{Emit, Event, OrganError, SyncOrgan};
/// struct Audit;
/// impl SyncOrgan for Audit {
///     fn listens_to(&self) -> &[&str] { &["ORDER_PLACED"] }
///     fn handle(&self, _event: &Event) -> Result<Emit, OrganError> { Ok(Emit::none()) }
/// }
/// ```
pub trait SyncOrgan: Send + Sync + 'static {
    /// The organ's name. Defaults to the type's name.
    fn name(&self) -> &str {
        short_type_name::<Self>()
    }

    /// The event types this organ handles.
    fn listens_to(&self) -> &[&str];

    /// Which headers of the event being handled the events it emits inherit. Defaults to
    /// the W3C trace context ([`PassOn::TraceContext`]).
    fn passes_on(&self) -> PassOn {
        PassOn::TraceContext
    }

    /// Handles one event, blocking if it must.
    fn handle(&self, event: &Event) -> OrganResult;
}

/// An async handler that receives its payload already decoded.
///
/// It listens to `Input::EVENT_TYPE`. A payload that does not decode is a permanent failure
/// (never retried) whose error names the event type and the field.
///
/// ```
/// use necro_core::{Emit, Event, OrganError, Payload, TypedOrgan};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Payload)]
/// #[payload(event_type = "HELLO")]
/// struct Hello { name: String }
///
/// struct Greeter;
/// impl TypedOrgan for Greeter {
///     type Input = Hello;
///     async fn handle(&self, hello: Hello, _event: &Event) -> Result<Emit, OrganError> {
///         println!("Hello, {}!", hello.name);
///         Ok(Emit::none())
///     }
/// }
/// ```
pub trait TypedOrgan: Send + Sync + 'static {
    /// The payload this organ handles; its `EVENT_TYPE` is what it listens to.
    type Input: Payload + Send;

    /// The organ's name. Defaults to the type's name.
    fn name(&self) -> &str {
        short_type_name::<Self>()
    }

    /// Which headers of the event being handled the events it emits inherit. Defaults to
    /// the W3C trace context ([`PassOn::TraceContext`]).
    fn passes_on(&self) -> PassOn {
        PassOn::TraceContext
    }

    /// Handles one decoded payload; the event is there for its id, timestamp and metadata.
    fn handle(&self, input: Self::Input, event: &Event)
    -> impl Future<Output = OrganResult> + Send;
}

/// The dyn-compatible twin of [`Organ`]'s `handle`, with a blanket impl.
pub trait DynOrgan: Send + Sync + 'static {
    /// Handles one event, boxing the future.
    fn handle_boxed<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, OrganResult>;
}

impl<O: Organ> DynOrgan for O {
    fn handle_boxed<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, OrganResult> {
        Box::pin(self.handle(event))
    }
}

/// The dyn-compatible twin of [`SyncOrgan`]'s `handle`.
pub trait DynSyncOrgan: Send + Sync + 'static {
    /// Handles one event synchronously.
    fn handle_sync(&self, event: &Event) -> OrganResult;
}

impl<O: SyncOrgan> DynSyncOrgan for O {
    fn handle_sync(&self, event: &Event) -> OrganResult {
        SyncOrgan::handle(self, event)
    }
}

/// How an erased organ runs.
#[derive(Clone)]
pub enum Handler {
    /// Polled on the runtime.
    Async(Arc<dyn DynOrgan>),
    /// Run on the blocking pool.
    Blocking(Arc<dyn DynSyncOrgan>),
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Handler::Async(_) => "Async",
            Handler::Blocking(_) => "Blocking",
        };
        f.debug_tuple(name).finish_non_exhaustive()
    }
}

/// An organ with its type erased, its name and event types captured: what the spine holds.
#[derive(Clone)]
pub struct BoxedOrgan {
    name: Arc<str>,
    listens_to: Vec<String>,
    handler: Handler,
    pass_on: PassOn,
}

impl BoxedOrgan {
    /// Assembles an erased organ from its parts.
    pub fn new(
        name: impl Into<String>,
        listens_to: impl IntoIterator<Item = impl Into<String>>,
        handler: Handler,
    ) -> Self {
        Self {
            name: Arc::from(name.into()),
            listens_to: listens_to.into_iter().map(Into::into).collect(),
            handler,
            pass_on: PassOn::TraceContext,
        }
    }

    /// The organ's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The organ's name, shared.
    #[must_use]
    pub fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The event types it listens to, as declared (not yet validated).
    #[must_use]
    pub fn listens_to(&self) -> &[String] {
        &self.listens_to
    }

    /// How it runs.
    #[must_use]
    pub fn handler(&self) -> &Handler {
        &self.handler
    }

    /// Which headers the events it emits inherit.
    #[must_use]
    pub fn pass_on(&self) -> &PassOn {
        &self.pass_on
    }

    /// Sets which headers the events it emits inherit, over what the organ declared.
    #[must_use]
    pub fn passing_on(mut self, pass_on: PassOn) -> Self {
        self.pass_on = pass_on;
        self
    }

    /// Renames the organ (e.g. two instances of one type).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Arc::from(name.into());
        self
    }
}

impl std::fmt::Debug for BoxedOrgan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxedOrgan")
            .field("name", &self.name)
            .field("listens_to", &self.listens_to)
            .field("pass_on", &self.pass_on)
            .field(
                "kind",
                &match self.handler {
                    Handler::Async(_) => "async",
                    Handler::Blocking(_) => "blocking",
                },
            )
            .finish()
    }
}

/// Marker types that let one `organ(..)` method take every kind of organ.
pub mod marker {
    /// An [`Organ`](crate::Organ).
    #[derive(Debug)]
    pub enum Async {}
    /// A [`SyncOrgan`](crate::SyncOrgan).
    #[derive(Debug)]
    pub enum Sync {}
    /// A [`TypedOrgan`](crate::TypedOrgan).
    #[derive(Debug)]
    pub enum Typed {}
    /// An already erased [`BoxedOrgan`](crate::BoxedOrgan).
    #[derive(Debug)]
    pub enum Boxed {}
}

/// Anything that can be registered as an organ. The marker `M` only tells the impls apart.
pub trait IntoOrgan<M> {
    /// Erases the organ.
    fn into_organ(self) -> BoxedOrgan;
}

impl<O: Organ> IntoOrgan<marker::Async> for O {
    fn into_organ(self) -> BoxedOrgan {
        let name = Organ::name(&self).to_owned();
        let listens: Vec<String> = Organ::listens_to(&self)
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let pass_on = Organ::passes_on(&self);
        BoxedOrgan::new(name, listens, Handler::Async(Arc::new(self))).passing_on(pass_on)
    }
}

impl<O: SyncOrgan> IntoOrgan<marker::Sync> for O {
    fn into_organ(self) -> BoxedOrgan {
        let name = SyncOrgan::name(&self).to_owned();
        let listens: Vec<String> = SyncOrgan::listens_to(&self)
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let pass_on = SyncOrgan::passes_on(&self);
        BoxedOrgan::new(name, listens, Handler::Blocking(Arc::new(self))).passing_on(pass_on)
    }
}

struct TypedAdapter<O>(O);

impl<O: TypedOrgan> DynOrgan for TypedAdapter<O> {
    fn handle_boxed<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, OrganResult> {
        Box::pin(async move {
            let input = event.decode::<O::Input>().map_err(OrganError::permanent)?;
            self.0.handle(input, event).await
        })
    }
}

impl<O: TypedOrgan> IntoOrgan<marker::Typed> for O {
    fn into_organ(self) -> BoxedOrgan {
        let name = TypedOrgan::name(&self).to_owned();
        let pass_on = TypedOrgan::passes_on(&self);
        BoxedOrgan::new(
            name,
            [<O::Input as Payload>::EVENT_TYPE],
            Handler::Async(Arc::new(TypedAdapter(self))),
        )
        .passing_on(pass_on)
    }
}

impl IntoOrgan<marker::Boxed> for BoxedOrgan {
    fn into_organ(self) -> BoxedOrgan {
        self
    }
}

struct FnAdapter<F>(F);

impl<F, Fut> DynOrgan for FnAdapter<F>
where
    F: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = OrganResult> + Send + 'static,
{
    fn handle_boxed<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, OrganResult> {
        Box::pin((self.0)(event.clone()))
    }
}

struct SyncFnAdapter<F>(F);

impl<F> DynSyncOrgan for SyncFnAdapter<F>
where
    F: Fn(&Event) -> OrganResult + Send + Sync + 'static,
{
    fn handle_sync(&self, event: &Event) -> OrganResult {
        (self.0)(event)
    }
}

/// An async organ from a closure.
///
/// ```
/// use necro_core::{organ_fn, Emit, Event};
/// let echo = organ_fn("Echo", ["PING"], |event: Event| async move {
///     Ok(Event::new("PONG", event.payload().clone().into())?.into())
/// });
/// assert_eq!(echo.name(), "Echo");
/// ```
pub fn organ_fn<F, Fut>(
    name: impl Into<String>,
    listens_to: impl IntoIterator<Item = impl Into<String>>,
    f: F,
) -> BoxedOrgan
where
    F: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = OrganResult> + Send + 'static,
{
    BoxedOrgan::new(name, listens_to, Handler::Async(Arc::new(FnAdapter(f))))
}

/// A synchronous organ from a closure; it runs on the blocking pool.
///
/// ```
/// use necro_core::{sync_organ_fn, Emit};
/// let sink = sync_organ_fn("Sink", ["DONE"], |_event| Ok(Emit::none()));
/// assert_eq!(sink.listens_to(), ["DONE"]);
/// ```
pub fn sync_organ_fn<F>(
    name: impl Into<String>,
    listens_to: impl IntoIterator<Item = impl Into<String>>,
    f: F,
) -> BoxedOrgan
where
    F: Fn(&Event) -> OrganResult + Send + Sync + 'static,
{
    BoxedOrgan::new(
        name,
        listens_to,
        Handler::Blocking(Arc::new(SyncFnAdapter(f))),
    )
}

/// The last path segment of a type's name, generics stripped: `my::mod::Greeter<T>` → `Greeter`.
#[must_use]
pub fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

//! The harness's test assertions: each panics, with what was expected and a listing of every
//! recorded event and dead letter, when its expectation does not hold.

use necro_core::{Event, Payload, error_chain};

use super::Harness;

impl Harness {
    /// Asserts that organs emitted exactly `count` `P` events, and returns them decoded, in
    /// order. `assert_emitted::<P>(0)` asserts that none was.
    ///
    /// # Panics
    /// When the count differs or one does not decode, with a listing of what flowed.
    #[track_caller]
    pub fn assert_emitted<P: Payload>(&self, count: usize) -> Vec<P> {
        let decoded = self.decoded_or_panic::<P>();
        if decoded.len() != count {
            self.fail(&format!(
                "expected {count} {} event(s) emitted, found {}",
                P::EVENT_TYPE,
                decoded.len()
            ));
        }
        decoded
    }

    /// Asserts that organs emitted at least one `P` event matching `predicate`, and returns
    /// the first.
    ///
    /// # Panics
    /// When none matches or one does not decode, with a listing of what flowed.
    #[track_caller]
    pub fn assert_emitted_where<P: Payload>(&self, predicate: impl Fn(&P) -> bool) -> P {
        let decoded = self.decoded_or_panic::<P>();
        let found = decoded.len();
        match decoded.into_iter().find(|p| predicate(p)) {
            Some(p) => p,
            None => self.fail(&format!(
                "no emitted {} event matches the predicate ({found} emitted)",
                P::EVENT_TYPE
            )),
        }
    }

    /// Asserts that organs emitted exactly `count` events of `event_type`, and returns them.
    ///
    /// # Panics
    /// When the count differs, with a listing of what flowed.
    #[track_caller]
    pub fn assert_emitted_of_type(&self, event_type: &str, count: usize) -> Vec<Event> {
        let events = self.emitted_of_type(event_type);
        if events.len() != count {
            self.fail(&format!(
                "expected {count} {event_type} event(s) emitted, found {}",
                events.len()
            ));
        }
        events
    }

    /// Asserts that the recorded event types, roots included, are exactly `expected`, in
    /// order.
    ///
    /// # Panics
    /// When they differ, with a listing of what flowed.
    #[track_caller]
    pub fn assert_event_types(&self, expected: &[&str]) {
        let types = self.event_types();
        if types != expected {
            self.fail(&format!(
                "expected the event types {expected:?}, found {types:?}"
            ));
        }
    }

    /// Asserts that the memory backend holds no dead letter.
    ///
    /// # Panics
    /// When it holds some, with a listing of them and of what flowed.
    #[track_caller]
    pub fn assert_no_dead_letters(&self) {
        let n = self.dead_letters().len();
        if n > 0 {
            self.fail(&format!("expected no dead letters, found {n}"));
        }
    }

    /// Asserts that no organ failed (after its retries) in any send so far.
    ///
    /// # Panics
    /// When one did, naming the organs, with a listing of what flowed.
    #[track_caller]
    pub fn assert_no_handler_errors(&self) {
        let errors = self.handler_errors();
        if !errors.is_empty() {
            self.fail(&format!("expected no handler errors, found {errors:?}"));
        }
    }

    #[track_caller]
    fn decoded_or_panic<P: Payload>(&self) -> Vec<P> {
        match self.emitted::<P>() {
            Ok(decoded) => decoded,
            Err(e) => self.fail(&format!(
                "an emitted {} event does not decode into {}: {}",
                P::EVENT_TYPE,
                std::any::type_name::<P>(),
                error_chain(&e)
            )),
        }
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n{}", self.report())
    }
}

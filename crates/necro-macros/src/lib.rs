//! # necro-macros
//!
//! `#[derive(Payload)]`: binds a serde type to its NecroStack event type in one line. Use it
//! through `necro-core`, which re-exports it behind its default `derive` feature; the derive
//! and the `necro_core::Payload` trait share the name, as serde's do.
//!
//! ```
//! use necro_core::{Event, Payload};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize, Payload)]
//! #[payload(event_type = "ORDER_PLACED")]
//! struct OrderPlaced {
//!     order_id: u64,
//!     quantity: u32,
//! }
//!
//! assert_eq!(OrderPlaced::EVENT_TYPE, "ORDER_PLACED");
//! let order = OrderPlaced { order_id: 7, quantity: 3 };
//! let event = Event::from_payload(&order).unwrap();
//! assert_eq!(event.event_type(), "ORDER_PLACED");
//! assert_eq!(event.decode::<OrderPlaced>().unwrap(), order);
//! ```
//!
//! The derive writes `impl ::necro_core::Payload for OrderPlaced { const EVENT_TYPE: &'static
//! str = "ORDER_PLACED"; }`; serde's derives still provide the `Serialize` and `Deserialize`
//! the trait requires. It refuses at compile time, pointing at the offending token:
//! - a missing `#[payload(event_type = "...")]`, a repeated one or an unknown key in it;
//! - an `event_type` that is not a string literal, is empty, or starts or ends with whitespace
//!   (an event type is trimmed and non-empty, see `necro_core::EventType`);
//! - a union, a unit struct or a tuple struct of other than one field: serde serializes these
//!   to no JSON object (`null`, an array), and an event's payload is always an object.
//!
//! Enums are accepted: whether one serializes to an object depends on its serde
//! representation (an internally tagged enum, `#[serde(tag = "...")]`, always does); one that
//! does not is refused by `Event::from_payload` at run time. A generic type gets the impl
//! wherever it is `Serialize + DeserializeOwned`: `struct Wrapped<T> { inner: T }` needs no
//! bounds written.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Data, DeriveInput, Error, Expr, ExprLit, Fields, Lit, LitStr};

/// Implements `necro_core::Payload` with the event type given in
/// `#[payload(event_type = "...")]`. See the [crate documentation](crate).
#[proc_macro_derive(Payload, attributes(payload))]
pub fn derive_payload(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand(input.into())
        .unwrap_or_else(|err| err.to_compile_error())
        .into()
}

/// The derive's whole logic, over `proc_macro2` tokens so that unit tests can call it.
fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    check_shape(&input)?;
    let event_type = event_type(&input)?;
    let name = &input.ident;
    let mut generics = input.generics.clone();
    if generics.type_params().next().is_some() {
        // Serde's derives bound each parameter by its own trait; the impl asks for the
        // supertraits themselves, so `struct Wrapped<T> { inner: T }` needs no bounds written.
        generics
            .make_where_clause()
            .predicates
            .push(syn::parse_quote! {
                Self: ::necro_core::__private::Serialize + ::necro_core::__private::DeserializeOwned
            });
    }
    let (impl_generics, type_generics, where_clause) = generics.split_for_impl();
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::necro_core::Payload for #name #type_generics #where_clause {
            const EVENT_TYPE: &'static str = #event_type;
        }
    })
}

/// Refuses the kinds of type serde never serializes to a JSON object.
fn check_shape(input: &DeriveInput) -> syn::Result<()> {
    match &input.data {
        Data::Union(data) => Err(Error::new(
            data.union_token.span,
            "#[derive(Payload)] does not support unions: a payload must serialize to a JSON \
             object; use a struct with named fields",
        )),
        Data::Struct(data) => match &data.fields {
            Fields::Named(_) => Ok(()),
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => Ok(()),
            Fields::Unnamed(fields) => Err(Error::new_spanned(
                fields,
                "#[derive(Payload)] needs named fields: serde serializes a tuple struct to a \
                 JSON array, and a payload must be a JSON object",
            )),
            Fields::Unit => Err(Error::new_spanned(
                &input.ident,
                format!(
                    "#[derive(Payload)] needs braces: serde serializes a unit struct to `null`, \
                     and a payload must be a JSON object; write `struct {} {{}}`",
                    input.ident
                ),
            )),
        },
        Data::Enum(_) => Ok(()),
    }
}

/// The checked `event_type` string of the one `#[payload(...)]` attribute.
fn event_type(input: &DeriveInput) -> syn::Result<LitStr> {
    let mut found: Option<LitStr> = None;
    let mut seen_attr = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("payload")) {
        if seen_attr {
            return Err(Error::new_spanned(
                attr,
                "duplicate #[payload(...)] attribute: give it once",
            ));
        }
        seen_attr = true;
        attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("event_type") {
                return Err(meta.error("unknown `payload` key: the only key is `event_type`"));
            }
            if found.is_some() {
                return Err(meta.error("duplicate `event_type`: give it once"));
            }
            let value: Expr = meta.value()?.parse()?;
            let Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) = value
            else {
                return Err(Error::new_spanned(
                    value,
                    "`event_type` must be a string literal, e.g. `event_type = \"ORDER_PLACED\"`",
                ));
            };
            found = Some(checked(lit)?);
            Ok(())
        })?;
    }
    found.ok_or_else(|| {
        let span = if seen_attr {
            Span::call_site()
        } else {
            input.ident.span()
        };
        Error::new(
            span,
            format!(
                "#[derive(Payload)] needs the event type: add `#[payload(event_type = \"...\")]` \
                 to `{}`",
                input.ident
            ),
        )
    })
}

/// An event type is trimmed and non-empty (as `necro_core::EventType` requires).
fn checked(lit: LitStr) -> syn::Result<LitStr> {
    let value = lit.value();
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Error::new(
            lit.span(),
            "`event_type` must not be empty or only whitespace",
        ));
    }
    if trimmed != value {
        return Err(Error::new(
            lit.span(),
            format!(
                "`event_type` must not start or end with whitespace: write `event_type = {trimmed:?}`"
            ),
        ));
    }
    Ok(lit)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // A panic fails the test.
    use super::expand;
    use quote::quote;

    fn error(input: proc_macro2::TokenStream) -> String {
        expand(input).unwrap_err().to_string()
    }

    #[test]
    fn a_struct_gets_an_impl_by_absolute_path() {
        let out = expand(quote! {
            #[payload(event_type = "HELLO")]
            struct Hello { name: String }
        })
        .unwrap();
        let expected = quote! {
            #[automatically_derived]
            impl ::necro_core::Payload for Hello {
                const EVENT_TYPE: &'static str = "HELLO";
            }
        };
        assert_eq!(out.to_string(), expected.to_string());
    }

    #[test]
    fn generics_and_their_bounds_carry_over() {
        let out = expand(quote! {
            #[payload(event_type = "WRAPPED")]
            struct Wrapped<T: Clone> where T: Send { inner: T }
        })
        .unwrap();
        let expected = quote! {
            #[automatically_derived]
            impl<T: Clone> ::necro_core::Payload for Wrapped<T>
            where
                T: Send,
                Self: ::necro_core::__private::Serialize + ::necro_core::__private::DeserializeOwned
            {
                const EVENT_TYPE: &'static str = "WRAPPED";
            }
        };
        assert_eq!(out.to_string(), expected.to_string());
    }

    #[test]
    fn enums_and_newtypes_are_accepted() {
        expand(quote! {
            #[payload(event_type = "E")]
            enum E { A { x: u32 } }
        })
        .unwrap();
        expand(quote! {
            #[payload(event_type = "N")]
            struct N(Inner);
        })
        .unwrap();
    }

    #[test]
    fn each_mistake_gets_its_own_message() {
        let cases = [
            (quote! { struct S { a: u32 } }, "needs the event type"),
            (
                quote! { #[payload] struct S { a: u32 } },
                "expected attribute arguments in parentheses",
            ),
            (
                quote! { #[payload()] struct S { a: u32 } },
                "needs the event type",
            ),
            (
                quote! { #[payload(event_type = HELLO)] struct S { a: u32 } },
                "must be a string literal",
            ),
            (
                quote! { #[payload(event_type = 5)] struct S { a: u32 } },
                "must be a string literal",
            ),
            (
                quote! { #[payload(event_type = "")] struct S { a: u32 } },
                "must not be empty",
            ),
            (
                quote! { #[payload(event_type = "  ")] struct S { a: u32 } },
                "must not be empty",
            ),
            (
                quote! { #[payload(event_type = " HELLO")] struct S { a: u32 } },
                "write `event_type = \"HELLO\"`",
            ),
            (
                quote! { #[payload(type = "HELLO")] struct S { a: u32 } },
                "unknown `payload` key",
            ),
            (
                quote! { #[payload(event_type = "A", event_type = "B")] struct S { a: u32 } },
                "duplicate `event_type`",
            ),
            (
                quote! { #[payload(event_type = "A")] #[payload(event_type = "B")] struct S { a: u32 } },
                "duplicate #[payload(...)]",
            ),
            (
                quote! { #[payload(event_type = "U")] union U { a: u32 } },
                "does not support unions",
            ),
            (
                quote! { #[payload(event_type = "U")] struct U; },
                "write `struct U {}`",
            ),
            (
                quote! { #[payload(event_type = "T")] struct T(u32, u32); },
                "needs named fields",
            ),
        ];
        for (input, expected) in cases {
            let text = input.to_string();
            let message = error(input);
            assert!(message.contains(expected), "{text}: {message}");
        }
    }
}
